"""The corpus: broken and hostile inputs, and what Rapport must say about each.

Each :class:`Case` builds its input into a folder (small ones from the bytes
written here, big or dangerous ones through :mod:`tests.corpus.make`) and
states the outcome:

- ``refused``: the import stores nothing and raises an ImportProblem with a
  problem naming the file (and the row and column where they apply), what is
  wrong and what to do;
- ``rows``: some rows are invalid: without ``--skip-invalid`` the import is
  refused as above; with it, the other rows are stored and the problems are
  kept with the import's record;
- ``stored``: the input is odd but legitimate (a Windows-1252 file, a formula
  in a subject): it is stored, and ``check`` says what must be true after.

``tests/test_corpus.py`` runs every case against a database that already
holds data, and checks that a refused import left every table unchanged.
"""

from __future__ import annotations

import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tests.corpus import make
from tests.corpus.make import DATE, MB, deflated, mbox, message, raw_zip, stored

ACTIVITY_COLUMNS = ("activity_id,type,subject,start_at,end_at,duration_minutes,state,"
                    "direction,initiator_id,regarding_type,regarding_id,message_id,"
                    "in_reply_to,refs,conversation_id,followed,opens,clicks,replies,"
                    "attachment_opens")
EMAIL_HEADER = "activityid,subject,directioncode,statuscode,senton,messageid,opencount"
ACCOUNT_HEADER = "accountid,name,websiteurl,numberofemployees,revenue"


@dataclass
class Case:
    id: str
    what: str
    build: Callable[[Path], Path | list[Path]]
    outcome: str  # refused | rows | stored
    reason: str = ""  # regular expression the problem's reason must contain
    fix: str = ""  # regular expression the problem's "what to do" must contain
    file: str | None = None  # text the problem's file must contain
    row: int | str | None = None
    column: str | None = None
    check: Callable | None = None  # stored cases: check(con, results, folder)
    options: dict = field(default_factory=dict)
    slow: bool = False
    # Bytes of Python memory the import may allocate at its peak (tracemalloc);
    # for a case run through the command line, its peak resident memory.
    max_memory: int | None = None
    # Run as `python -m rapport import` in a process of its own.
    cli: bool = False
    seconds: float = 30  # the longest the import may take


def write(name: str, data: bytes | str, encoding: str = "utf-8"):
    def build(folder: Path) -> Path:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
        return path
    return build


def activity_row(activity_id: str, subject: str, start: str = "2024-05-02T10:00:00Z",
                 **extra) -> str:
    values = {"activity_id": activity_id, "type": "email", "subject": subject,
              "start_at": start, "state": "completed", "direction": "outgoing"}
    values.update(extra)
    cells = []
    for column in ACTIVITY_COLUMNS.split(","):
        text = str(values.get(column, ""))
        if any(ch in text for ch in ',"\r\n'):
            text = '"' + text.replace('"', '""') + '"'
        cells.append(text)
    return ",".join(cells)


def activities_csv(name: str, *rows: str, encoding: str = "utf-8"):
    return write(name, ACTIVITY_COLUMNS + "\r\n" + "".join(r + "\r\n" for r in rows),
                 encoding)


def email_csv(name: str, *rows: str):
    return write(name, EMAIL_HEADER + "\r\n" + "".join(r + "\r\n" for r in rows))


GUID = "eeeeeeee-0000-0000-0000-0000000000{:02d}"


def email_row(n: int, senton: str = "2024-04-01T09:00:00Z", subject: str = "Hello",
              opencount: str = "") -> str:
    return f"{GUID.format(n)},{subject},1,3,{senton},<c{n}@ourco.example>,{opencount}"


def zipped(name: str, members: dict[str, bytes]):
    def build(folder: Path) -> Path:
        return make.zip_of(folder / name, members)
    return build


def raw(name: str, *members):
    def build(folder: Path) -> Path:
        return raw_zip(folder / name, list(members))
    return build


def _truncated_zip(folder: Path) -> Path:
    whole = make.zip_of(folder / "whole.zip", {f"m{i}.eml": message(i) for i in range(20)})
    data = whole.read_bytes()
    whole.unlink()
    path = folder / "truncated-mail.zip"
    path.write_bytes(data[: len(data) * 6 // 10])
    return path


def _truncated_xlsx(folder: Path) -> Path:
    data = make.xlsx_bytes([["systemuserid", "fullname"]] + [[str(i), f"U{i}"]
                                                            for i in range(200)])
    path = folder / "truncated.xlsx"
    path.write_bytes(data[: len(data) // 2])
    return path


CMT = ('<?xml version="1.0" encoding="utf-8"?>\n<entities>\n'
       '<entity name="account" displayname="Account"><records>\n'
       '<record id="bbbbbbbb-0000-0000-0000-000000000009">'
       '<field name="name" value="Northwind" /></record>\n'
       '<record id="bbbbbbbb-0000-0000-0000-000000000010">'
       '<field name="name" value="Tailspin" /></record>\n'
       '</records></entity>\n</entities>\n')


def _cmt_truncated(folder: Path) -> Path:
    path = folder / "data.xml"
    path.write_text(CMT[: CMT.index("Tailspin")])
    return path


def _cmt_declared(entity: str):
    def build(folder: Path) -> Path:
        body = CMT.split("\n", 1)[1].replace("Northwind", entity)
        path = folder / "data.xml"
        if entity == "&lol9;":
            doctype = make.LAUGHS.decode().split("\n", 1)[1]
        else:
            doctype = '<!DOCTYPE entities [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'
        path.write_text('<?xml version="1.0" encoding="utf-8"?>\n' + doctype + body)
        return path
    return build


def _random_bytes(folder: Path) -> Path:
    path = folder / "accounts.csv"
    path.write_bytes(random.Random(7).randbytes(6000))
    return path


def _xlsx_dates(folder: Path) -> Path:
    import datetime as dt

    rows = [["activityid", "subject", "directioncode", "statuscode", "senton"],
            [GUID.format(1), "fine", 1, 3, dt.datetime(2024, 4, 1, 9, 0)],
            [GUID.format(2), "year 9999 as a serial", 1, 3, 2958465],
            [GUID.format(3), "year 1800", 1, 3, dt.datetime(1800, 1, 1, 12, 0)]]
    path = folder / "emails-dates.xlsx"
    path.write_bytes(make.xlsx_bytes(rows))
    return path


def _encrypted_zip(folder: Path) -> Path:
    # A member flagged as encrypted (general purpose bit 0); the data is junk.
    name, data, crc, size, _ = deflated("secret.eml", message(1))
    path = raw_zip(folder / "encrypted.zip", [stored("plain.eml", message(2)),
                                              (name, data, crc, size, 8)])
    blob = bytearray(path.read_bytes())
    # Set bit 0 of the flags in the local header and the central record of member 2.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = blob.index(signature, blob.index(signature) + 1)
        blob[at + offset] |= 1
    path.write_bytes(bytes(blob))
    return path


def _zip_method(folder: Path) -> Path:
    name, data, crc, size, _ = stored("odd.eml", message(3))
    return raw_zip(folder / "method-99.zip", [stored("plain.eml", message(2)),
                                              (name, data, crc, size, 99)])


def _nested_zip(folder: Path) -> Path:
    inner = make.zip_of(folder / "inner.zip", {"m.eml": message(1)}).read_bytes()
    (folder / "inner.zip").unlink()
    return make.zip_of(folder / "outer.zip", {"inner.zip": inner})


def _tables_zip_slip(folder: Path) -> Path:
    return make.zip_of(folder / "tables-slip.zip", {
        "account.csv": b"accountid,name\r\n1,Contoso\r\n",
        "../../systemuser.csv": b"systemuserid,fullname\r\nu1,Sam\r\n",
    })


def _million(folder: Path) -> Path:
    return make.mbox_of_tiny_messages(folder, 1_000_000)


# --- checks of the stored cases -----------------------------------------

def _value(con, sql, params=()):
    rows = con.execute(sql, list(params)).fetchall()
    return rows[0][0] if rows else None


def check_cp1252(con, results, folder):
    assert _value(con, "SELECT name FROM accounts WHERE account_id = 'cp-1'") == \
        "Müller & Söhne – Café"


def check_double_bom(con, results, folder):
    assert _value(con, "SELECT name FROM accounts WHERE account_id = 'bom-1'") == "Contoso"


def check_unknown_charset(con, results, folder):
    assert _value(con, "SELECT subject FROM activities WHERE activity_id = "
                       "'msg:corpus-1@buyer.example'") == "Café crème"
    assert _value(con, "SELECT name FROM people WHERE person_id = "
                       "'mailto:ann@buyer.example'") == "Zoë Ärger"


def check_sql_values(con, results, folder):
    assert _value(con, "SELECT count(*) FROM activities WHERE activity_id = "
                       "'x''); DROP TABLE activities;--'") == 1
    assert _value(con, "SELECT subject FROM activities WHERE activity_id = "
                       "'x''); DROP TABLE activities;--'") == "'; DELETE FROM people; --"
    assert _value(con, "SELECT count(*) FROM people") > 0


def check_sql_message_id(con, results, folder):
    assert _value(con, "SELECT count(*) FROM activities WHERE message_id = "
                       "'x'');DROP/**/TABLE/**/activities;--@evil.example'") == 1


def check_formulas_neutralised(con, results, folder):
    out = _neutralised_exports(con, folder)
    plain = (out / "plain" / "activities.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK(\"http://evil.example\",\"x\")" in plain.replace('""', '"')
    assert "'@SUM(A1:A9)" in plain
    # The export imports back unchanged: the apostrophes come off again.
    from ingest import run_import
    from rapport import store

    again = store.connect(folder / "again.duckdb")
    try:
        run_import(again, [out / "plain"])
        subjects = dict(again.execute("SELECT activity_id, subject FROM activities "
                                      "WHERE activity_id LIKE 'f_'").fetchall())
    finally:
        again.close()
    assert subjects == dict(con.execute("SELECT activity_id, subject FROM activities "
                                        "WHERE activity_id LIKE 'f_'").fetchall())


def check_formula_mail(con, results, folder):
    out = _neutralised_exports(con, folder)
    plain = (out / "plain" / "activities.csv").read_text(encoding="utf-8-sig")
    assert "'=1+1" in plain
    people = (out / "plain" / "people.csv").read_text(encoding="utf-8-sig")
    assert "'@SUM(1)" in people


def _neutralised_exports(con, folder):
    """Export plainly and pseudonymised; no cell of either starts a formula."""
    import csv

    from ingest import canonical

    out = folder / "export"
    for pseudonymize in (False, True):
        target = out / ("pseudonymised" if pseudonymize else "plain")
        for path in canonical.export(con, target, pseudonymize=pseudonymize):
            with open(path, encoding="utf-8-sig", newline="") as handle:
                for row in csv.reader(handle):
                    for cell in row:
                        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), \
                            (path.name, cell)
    return out


def check_long_line_mbox(con, results, folder):
    subject = _value(con, "SELECT subject FROM activities WHERE activity_id = "
                          "'msg:corpus-1@buyer.example'")
    assert subject is None or len(subject) < 2 * MB
    assert _value(con, "SELECT count(*) FROM activities WHERE activity_id = "
                       "'msg:corpus-2@buyer.example'") == 1


def check_long_line_csv(con, results, folder):
    assert _value(con, "SELECT count(*) FROM activities WHERE activity_id IN "
                       "('msg:l1@ourco.example', 'msg:l2@ourco.example')") == 2
    con.execute("CHECKPOINT")
    for path in folder.glob("*.duckdb*"):
        assert b"BODY-MARKER-8MB" not in path.read_bytes()


def check_header_only(con, results, folder):
    assert [r.rows_read for r in results] == [0]


def check_nul_header(con, results, folder):
    subject = _value(con, "SELECT subject FROM activities WHERE activity_id = "
                          "'msg:corpus-1@buyer.example'")
    assert subject is not None and "\x00" not in subject


# --- the table -------------------------------------------------------------

def _cases() -> list[Case]:
    c: list[Case] = []
    add = c.append

    # Encodings
    add(Case("utf16-without-bom", "a UTF-16 table without byte-order mark (NUL bytes)",
             write("account.csv", ACCOUNT_HEADER + "\r\n1,Contoso,,5,\r\n", "utf-16-le"),
             "refused", r"NUL bytes", r"CSV \(UTF-8\)", file="account.csv"))
    add(Case("utf16-broken", "a UTF-16 byte-order mark followed by an odd byte count",
             write("account.csv", b"\xff\xfea\x00b\x00c"), "refused",
             r"not valid UTF-16", r"export it again", file="account.csv"))
    add(Case("cp1252-text", "a Windows-1252 account table (stored, decoded right)",
             write("account.csv", ACCOUNT_HEADER + "\r\ncp-1,Müller & Söhne – Café,,5,\r\n",
                   "cp1252"), "stored", check=check_cp1252))
    add(Case("double-bom", "two UTF-8 byte-order marks before the header",
             write("account.csv", b"\xef\xbb\xbf\xef\xbb\xbf" + ACCOUNT_HEADER.encode()
                   + b"\r\nbom-1,Contoso,,5,\r\n"), "stored", check=check_double_bom))
    add(Case("unknown-charset", "an e-mail with an unknown charset and raw 8-bit header bytes",
             write("charset.eml", message(1, subject="=?x-unknown?q?Caf=E9_cr=E8me?=",
                                          sender="Zo\u00eb \u00c4rger <ann@buyer.example>")
                   .replace("Zoë Ärger".encode(), "Zoë Ärger".encode("cp1252"))),
             "stored", check=check_unknown_charset))

    # Truncated files
    add(Case("csv-unclosed-quote", "a table cut off inside a quoted cell",
             email_csv("email.csv", email_row(1), email_row(2),
                       f'{GUID.format(3)},"Proposal, part'), "refused",
             r"quoted cell that starts in row 4 is never closed", r"quote",
             file="email.csv", row=4))
    add(Case("csv-cut-row", "a table whose last row is cut after two cells",
             email_csv("email.csv", email_row(1), f"{GUID.format(2)},Hel"), "rows",
             r"no time is given", r"fill in the time", file="email.csv", row=3,
             column="senton"))
    add(Case("mbox-cut-headers", "an mbox cut off inside the headers of its last message",
             write("cut.mbox", mbox(message(1)) + b"From x Mon May 14 09:00:00 2001\n"
                   b"Message-ID: <cut@x>\nFrom: a@buyer.example\nTo: b@ourc"),
             "rows", r"no Date header", r"Date header", file="cut.mbox", row=2,
             column="Date"))
    add(Case("zip-truncated", "a zip of messages cut off at 60 %", _truncated_zip,
             "refused", r"zip archive cannot be read", r"export the archive again",
             file="truncated-mail.zip"))
    add(Case("xlsx-truncated", "a workbook cut off halfway", _truncated_xlsx, "refused",
             r"cannot be (opened|read)", r"again", file="truncated.xlsx"))
    add(Case("cmt-truncated", "a Configuration Migration Tool data.xml cut off",
             _cmt_truncated, "refused", r"XML cannot be read", r"truncated",
             file="data.xml"))
    add(Case("eml-cut", "a single message cut off inside its headers",
             write("cut.eml", b"Message-ID: <c@x>\r\nFrom: a@buyer.example\r\nDa"),
             "rows", r"no Date header", r"Date header", file="cut.eml", row=1,
             column="Date"))

    # Binary junk
    add(Case("random-bytes", "random bytes named accounts.csv", _random_bytes, "refused",
             r"not (a )?CSV text|binary|matches none", r"export|CSV", file="accounts.csv"))
    add(Case("pdf-as-csv", "a PDF document named email.csv",
             write("email.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"),
             "refused", r"PDF", r"export", file="email.csv"))
    add(Case("png-as-csv", "a PNG image named account.csv",
             write("account.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)),
             "refused", r"not (a )?CSV|binary|NUL|image|matches none", r"export|CSV",
             file="account.csv"))
    add(Case("gzip-as-mbox", "a gzip archive named mail.mbox",
             write("mail.mbox", b"\x1f\x8b\x08\x00" + bytes(40)), "refused",
             r"gzip archive", r"unpack", file="mail.mbox"))
    add(Case("empty-file", "an empty file", write("email.csv", b""), "refused",
             r"file is empty", r"export it again", file="email.csv"))
    add(Case("bom-only", "a file holding only a byte-order mark and blank lines",
             write("email.csv", b"\xef\xbb\xbf\r\n\r\n\r\n"), "refused",
             r"empty|no rows|matches none", r"export", file="email.csv"))
    add(Case("html-as-csv", "an HTML page saved as contacts.csv",
             write("contacts.csv", "<html><body><table><tr><td>Ann</td></tr></table>"
                   "</body></html>\n"), "refused", r"matches none of the layouts",
             r"Rapport reads", file="contacts.csv"))

    # Zip archives
    add(Case("mail-zip-bomb", "a zip of messages whose member inflates to 1 GiB",
             make.mail_zip_bomb, "refused", r"bomb|compressed \d+ times|too large",
             r"unpack|export", file="mail-bomb.zip", max_memory=64 * MB, seconds=5))
    add(Case("tables-zip-bomb", "a zip of Dataverse tables whose member inflates to 1 GiB",
             make.csv_zip_bomb, "refused", r"bomb|compressed \d+ times|too large",
             r"unpack|export", file="tables-bomb.zip", max_memory=64 * MB, seconds=5))
    add(Case("cmt-zip-bomb", "a Configuration Migration Tool zip whose data.xml inflates "
             "to 1 GiB", make.xml_zip_bomb, "refused",
             r"bomb|compressed \d+ times|too large", r"unpack|export",
             file="cmt-bomb.zip", max_memory=64 * MB, seconds=5))
    add(Case("zip-slip-mail", "a zip of messages with a member named ../../x.eml",
             zipped("slip.zip", {"ok.eml": message(1), "../../x.eml": message(2)}),
             "refused", r"'\.\./\.\./x\.eml'.*'\.\.'", r"relative", file="slip.zip"))
    add(Case("zip-absolute-mail", "a zip of messages with a member named /tmp/x.eml",
             zipped("absolute.zip", {"ok.eml": message(1), "/tmp/x.eml": message(2)}),
             "refused", r"absolute path", r"relative", file="absolute.zip"))
    add(Case("zip-slip-tables", "a zip of Dataverse tables with a member ../../systemuser.csv",
             _tables_zip_slip, "refused", r"\.\./\.\./systemuser\.csv", r"relative",
             file="tables-slip.zip"))
    add(Case("zip-encrypted", "a zip of messages with an encrypted member", _encrypted_zip,
             "refused", r"encrypted", r"without a password|decrypt|unencrypted",
             file="encrypted.zip"))
    add(Case("zip-unknown-method", "a zip member compressed with an unknown method",
             _zip_method, "refused", r"compressed with a method", r"re-create|unpack",
             file="method-99.zip"))
    add(Case("zip-nested", "a zip whose only member is another zip", _nested_zip,
             "refused", r"no e-mail messages|matches none", r"choose|Rapport reads|unpack",
             file="outer.zip"))
    add(Case("zip-empty", "an empty zip archive", raw("empty.zip"), "refused",
             r"matches none|empty|no e-mail", r"Rapport reads|export|choose",
             file="empty.zip"))

    # XML: entities and sizes
    add(Case("xlsx-laughs-strings", "billion laughs in a workbook's shared strings",
             make.xlsx_laughs, "refused", r"XML entities", r"save it again",
             file="laughs-sharedStrings.xlsx", max_memory=64 * MB))
    add(Case("xlsx-laughs-padded", "billion laughs after 8 KB of XML comment",
             lambda folder: make.xlsx_laughs(folder, pad=8192), "refused",
             r"declares XML entities", r"save it again",
             file="laughs-sharedStrings-padded.xlsx", max_memory=64 * MB))
    add(Case("xlsx-laughs-workbook", "billion laughs in xl/workbook.xml",
             lambda folder: make.xlsx_laughs(folder, "xl/workbook.xml"), "refused",
             r"XML entities", r"save it again", file="laughs-workbook.xlsx",
             max_memory=64 * MB))
    add(Case("xlsx-huge-strings", "a workbook whose shared-strings table inflates to 80 MB",
             make.xlsx_huge_shared_strings, "refused", r"sharedStrings\.xml.*expand",
             r"save it again|CSV", file="huge-shared-strings.xlsx", max_memory=64 * MB))
    add(Case("cmt-laughs", "billion laughs in a Dataverse data.xml", _cmt_declared("&lol9;"),
             "refused", r"document type or entities", r"export the data again",
             file="data.xml", max_memory=64 * MB))
    add(Case("cmt-xxe", "an external entity (file:///etc/passwd) in a Dataverse data.xml",
             _cmt_declared("&xxe;"), "refused", r"document type or entities",
             r"export the data again", file="data.xml"))

    # SQL and formulas
    add(Case("sql-header", "a header cell written as SQL",
             write("account.csv", "accountid,name,x'); DROP TABLE activities;--\r\n"
                   "1,Contoso,a\r\n"), "refused", r"matches none of the layouts",
             r"Rapport reads", file="account.csv"))
    add(Case("sql-values", "ids and subjects written as SQL (stored verbatim)",
             activities_csv("activities.csv",
                            activity_row("x'); DROP TABLE activities;--",
                                         "'; DELETE FROM people; --")),
             "stored", check=check_sql_values))
    add(Case("sql-message-id", "a Message-ID written as SQL",
             write("sql.eml", message(1, extra="").replace(
                 b"<corpus-1@buyer.example>", b"<x');DROP/**/TABLE/**/activities;--@evil.example>")),
             "stored", check=check_sql_message_id))
    add(Case("formula-cells", "cells that begin with = + - @ tab (neutralised on export)",
             activities_csv("activities.csv",
                            activity_row("f1", '=HYPERLINK("http://evil.example","x")'),
                            activity_row("f2", "+cmd|' /C calc'!A0"),
                            activity_row("f3", "-2+3"),
                            activity_row("f4", "@SUM(A1:A9)"),
                            activity_row("f5", "\t=1+1", initiator_id="=evil")),
             "stored", check=check_formulas_neutralised))
    add(Case("formula-mail", "a message whose subject and sender name are formulas",
             write("formula.eml", message(1, subject="=1+1",
                                          sender='"@SUM(1)" <ann@buyer.example>')),
             "stored", check=check_formula_mail))

    # Long lines
    add(Case("long-line-csv", "an e-mail whose description (body) is 8 MB on one line",
             make.long_line_csv, "stored", check=check_long_line_csv))
    add(Case("long-lines-mbox", "an 8 MB body line and a 4 MB subject", make.long_line_mbox,
             "stored", check=check_long_line_mbox))
    add(Case("long-header-row", "a header row of 200,000 columns",
             write("wide.csv", ",".join(f"c{i}" for i in range(200_000)) + "\r\n1\r\n"),
             "refused", r"matches none|columns", r"Rapport reads|export", file="wide.csv"))

    # NUL bytes
    add(Case("nul-in-csv", "a NUL byte inside a table", write(
        "email.csv", EMAIL_HEADER + "\r\n" + email_row(1) + "\r\n" + email_row(2, subject="a\0b")
        + "\r\n"), "refused", r"NUL bytes .*on line 3", r"export the table again", file="email.csv",
        row=3))
    add(Case("nul-in-header-field", "a NUL byte inside a message's Subject",
             write("nul.eml", message(1, subject="Quote\0 now")), "stored",
             check=check_nul_header))

    # Dates
    add(Case("year-9999-csv", "an activity in the year 9999",
             activities_csv("activities.csv", activity_row("d1", "ok"),
                            activity_row("d2", "late", "9999-12-31T23:59:59Z")),
             "rows", r"outside the years", r"ISO-8601", file="activities.csv", row=3,
             column="start_at"))
    add(Case("year-1899-csv", "an activity on 31 December 1899",
             activities_csv("activities.csv", activity_row("d1", "ok"),
                            activity_row("d3", "early", "1899-12-31T00:00:00Z")),
             "rows", r"outside the years", r"ISO-8601", file="activities.csv", row=3,
             column="start_at"))
    add(Case("year-0-csv", "the placeholder date 0000-00-00",
             email_csv("email.csv", email_row(1), email_row(2, senton="0000-00-00 00:00:00")),
             "rows", r"not a valid date", r"ISO-8601", file="email.csv", row=3,
             column="senton"))
    add(Case("year-9999-mbox", "a message dated 31 Dec 9999",
             write("late.mbox", mbox(message(1), message(2, date="Fri, 31 Dec 9999 23:59:59 "
                                                            "+0000"))),
             "rows", r"after the import", r"Date header", file="late.mbox", row=2,
             column="Date"))
    add(Case("year-1850-mbox", "a message dated 1850",
             write("early.mbox", mbox(message(1), message(2, date="Tue, 1 Jan 1850 00:00:00 "
                                                             "+0000"))),
             "rows", r"before 1990", r"Date header", file="early.mbox", row=2, column="Date"))
    add(Case("year-10000-mbox", "a message dated in the year 10000",
             write("y10k.mbox", mbox(message(1), message(2, date="Sat, 1 Jan 10000 00:00:00 "
                                                           "+0000"))),
             "rows", r"not a date|after the import", r"Date header", file="y10k.mbox",
             row=2, column="Date"))
    add(Case("xlsx-dates", "an Excel serial date of 9999 and a cell dated 1800",
             _xlsx_dates, "rows", r"not a date|outside the years", r"ISO-8601",
             file="emails-dates.xlsx", row=3, column="senton"))
    add(Case("leap-second", "a time at 23:59:60",
             email_csv("email.csv", email_row(1), email_row(2, senton="2016-12-31T23:59:60Z")),
             "rows", r"not a valid date", r"ISO-8601", file="email.csv", row=3,
             column="senton"))

    # Numbers out of range
    add(Case("number-overflow", "numberofemployees of 1e400 (infinite)",
             write("account.csv", ACCOUNT_HEADER + "\r\nn-1,Contoso,,12,\r\n"
                   "n-2,Fabrikam,,1e400,\r\n"), "rows", r"1e400", r"number",
             file="account.csv", row=3, column="numberofemployees"))
    add(Case("bigint-overflow", "numberofemployees beyond a 64-bit integer",
             write("account.csv", ACCOUNT_HEADER + "\r\nn-1,Contoso,,12,\r\n"
                   "n-2,Fabrikam,,99999999999999999999999,\r\n"), "rows",
             r"99999999999999999999999", r"number", file="account.csv", row=3,
             column="numberofemployees"))
    add(Case("integer-overflow", "an e-mail opened 3,000,000,000 times",
             email_csv("email.csv", email_row(1, opencount="2"),
                       email_row(2, opencount="3000000000")),
             "rows", r"3000000000", r"number", file="email.csv", row=3, column="opencount"))

    # Shapes
    add(Case("duplicate-header", "a header naming the same column twice",
             write("account.csv", "accountid,name,Name\r\n1,a,b\r\n"), "refused",
             r"appears twice", r"rename or remove", file="account.csv", row=1,
             column="name"))
    add(Case("header-only", "a table with a header and no rows",
             email_csv("email.csv"), "stored", check=check_header_only))
    add(Case("extra-cells", "a row with more cells than the header",
             email_csv("email.csv", email_row(1), email_row(2) + ",surplus,cells"), "rows",
             r"cells but the header names", r"quote", file="email.csv", row=3))

    # Size
    add(Case("million-messages", "an mbox of one million tiny messages", _million,
             "refused", r"more than [\d,]+ messages", r"split",
             file="tiny-1000000.mbox", slow=True, max_memory=1200 * MB, cli=True,
             seconds=180))
    return c


CASES = _cases()

"""Builders of the hostile inputs that are too big, too binary or too dangerous
to keep in the repository: zip bombs, workbooks with entity declarations,
mailboxes of a million messages, lines of several megabytes.

Every builder writes into a folder it is given (a test's tmp_path) and returns
the path to import. ``python -m tests.corpus.make FOLDER`` writes them all, to
look at by hand.
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path

MB = 1024 * 1024

# ---------------------------------------------------------------------------
# Zip archives written byte by byte, so that a bomb of a gigabyte takes a
# second to make: the deflate stream of one block of repeated bytes is made
# once and repeated (each copy ends with a full flush, so none refers back).


def _deflate_repeated(byte: bytes, total: int, block: int = 16 * MB,
                      prefix: bytes = b"") -> tuple[bytes, int, int]:
    """(raw deflate data, crc32, uncompressed size) of *prefix* + *byte* x *total*."""
    assert total % block == 0
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = first.compress(prefix) + first.flush(zlib.Z_FULL_FLUSH)
    chunk = byte * block
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = body.compress(chunk) + body.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    for _ in range(total // block):
        crc = zlib.crc32(chunk, crc)
    data = head + one * (total // block) + tail
    return data, crc & 0xFFFFFFFF, len(prefix) + total


def raw_zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A zip of (name, stored data, crc, uncompressed size, method) members.

    Method 8 is deflate (data is a raw deflate stream), 0 is stored. Sizes
    must stay below 4 GiB (no zip64).
    """
    out = io.BytesIO()
    central = []
    for name, data, crc, size, method in members:
        encoded = name.encode("utf-8")
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0x0800, method, 0, 0x21,
                              crc, len(data), size, len(encoded), 0))
        out.write(encoded)
        out.write(data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0x0800, method,
                                   0, 0x21, crc, len(data), size, len(encoded), 0, 0, 0, 0,
                                   0, offset) + encoded)
    start = out.tell()
    for record in central:
        out.write(record)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central),
                          out.tell() - start, start, 0))
    path.write_bytes(out.getvalue())
    return path


def stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    return name, data, zlib.crc32(data) & 0xFFFFFFFF, len(data), 0


def deflated(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = c.compress(data) + c.flush()
    return name, raw, zlib.crc32(data) & 0xFFFFFFFF, len(data), 8


def zip_of(path: Path, files: dict[str, bytes]) -> Path:
    return raw_zip(path, [deflated(name, data) for name, data in files.items()])


# ---------------------------------------------------------------------------
# Messages

DATE = "Mon, 14 May 2001 09:00:00 +0000"


def message(n: int, *, sender: str = "ann@buyer.example", to: str = "sam@ourco.example",
            date: str = DATE, subject: str = "Quote", extra: str = "",
            body: str = "Hello") -> bytes:
    return (f"Message-ID: <corpus-{n}@buyer.example>\r\nDate: {date}\r\nFrom: {sender}\r\n"
            f"To: {to}\r\nSubject: {subject}\r\n{extra}\r\n{body}\r\n").encode("utf-8")


def mbox(*messages: bytes) -> bytes:
    parts = []
    for m in messages:
        parts.append(b"From corpus@example Mon May 14 09:00:00 2001\n" + m.replace(b"\r\n", b"\n")
                     + b"\n")
    return b"".join(parts)


# ---------------------------------------------------------------------------
# The big and dangerous ones


def mail_zip_bomb(folder: Path, size: int = 1024 * MB) -> Path:
    """A zip of one message whose Subject header inflates to *size* bytes."""
    prefix = (b"Message-ID: <bomb@x.example>\r\nDate: " + DATE.encode() +
              b"\r\nFrom: a@x.example\r\nSubject: ")
    data, crc, total = _deflate_repeated(b"A", size, prefix=prefix)
    return raw_zip(folder / "mail-bomb.zip",
                   [stored("ok.eml", message(1)), ("bomb.eml", data, crc, total, 8)])


def csv_zip_bomb(folder: Path, size: int = 1024 * MB) -> Path:
    """A zip of Dataverse tables; one member inflates to *size* bytes of blank lines."""
    header = b"systemuserid,fullname,internalemailaddress\r\n"
    data, crc, total = _deflate_repeated(b"\n", size, prefix=header)
    return raw_zip(folder / "tables-bomb.zip", [
        deflated("account.csv", b"accountid,name\r\n1,Contoso\r\n"),
        ("systemuser.csv", data, crc, total, 8),
    ])


def xml_zip_bomb(folder: Path, size: int = 1024 * MB) -> Path:
    """A Configuration Migration Tool zip whose data.xml inflates to *size* bytes."""
    prefix = b'<?xml version="1.0"?><entities><entity name="account"><records>'
    data, crc, total = _deflate_repeated(b" ", size, prefix=prefix)
    return raw_zip(folder / "cmt-bomb.zip", [("data.xml", data, crc, total, 8)])


def xlsx_bytes(rows: list[list]) -> bytes:
    """A valid workbook with *rows* on its first sheet (openpyxl writes it)."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
          + b"".join(b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1
                                                        else b"&lol;") * 10)
                     for i in range(1, 10))
          + b"]>\n")

_MAIN = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = b"http://schemas.openxmlformats.org/package/2006/relationships"
_DOC = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPES = b"application/vnd.openxmlformats-officedocument.spreadsheetml."


def shared_strings(strings: list[bytes]) -> bytes:
    items = b"".join(b"<si><t>" + s + b"</t></si>" for s in strings)
    return (b'<sst xmlns="' + _MAIN + b'" count="%d" uniqueCount="%d">' % (len(strings),
                                                                         len(strings))
            + items + b"</sst>")


def xlsx_by_hand(rows: list[list[int]], sst: bytes) -> dict[str, bytes]:
    """The parts of a minimal workbook whose cells are shared-string indexes.

    Written without openpyxl (which writes inline strings) so that the shared
    strings part is really read.
    """
    def cells(r, row):
        return b"".join(b'<c r="%s%d" t="s"><v>%d</v></c>' % (b"ABCDEFGH"[i:i + 1], r, v)
                        for i, v in enumerate(row))
    sheet = (b'<worksheet xmlns="' + _MAIN + b'"><sheetData>'
             + b"".join(b'<row r="%d">' % r + cells(r, row) + b"</row>"
                        for r, row in enumerate(rows, start=1))
             + b"</sheetData></worksheet>")
    return {
        "[Content_Types].xml":
            b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxml'
            b'formats.org/package/2006/content-types"><Default Extension="rels" ContentType='
            b'"application/vnd.openxmlformats-package.relationships+xml"/><Default Extension='
            b'"xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
            b'ContentType="' + _TYPES + b'sheet.main+xml"/><Override PartName="/xl/worksheets'
            b'/sheet1.xml" ContentType="' + _TYPES + b'worksheet+xml"/><Override PartName='
            b'"/xl/sharedStrings.xml" ContentType="' + _TYPES + b'sharedStrings+xml"/></Types>',
        "_rels/.rels":
            b'<Relationships xmlns="' + _RELS + b'"><Relationship Id="rId1" Type="' + _DOC
            + b'/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml":
            b'<workbook xmlns="' + _MAIN + b'" xmlns:r="' + _DOC + b'"><sheets><sheet '
            b'name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels":
            b'<Relationships xmlns="' + _RELS + b'"><Relationship Id="rId1" Type="' + _DOC
            + b'/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="'
            + _DOC + b'/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": sheet,
        "xl/sharedStrings.xml": sst,
    }


def xlsx_laughs(folder: Path, part: str = "xl/sharedStrings.xml", pad: int = 0) -> Path:
    """A workbook whose *part* declares the billion laughs (after *pad* bytes of comment).

    The sheet's second row names the shared string that uses the entity.
    """
    parts = xlsx_by_hand([[0, 1], [2, 3]],
                         shared_strings([b"systemuserid", b"fullname", b"u1", b"&lol9;"]))
    comment = b"<!--" + b"x" * pad + b"-->\n" if pad else b""
    declared = LAUGHS.replace(b'<?xml version="1.0"?>\n', b'<?xml version="1.0"?>\n' + comment)
    if part != "xl/sharedStrings.xml":
        parts["xl/sharedStrings.xml"] = parts["xl/sharedStrings.xml"].replace(b"&lol9;", b"Sam")
    parts[part] = declared + parts[part]
    name = "laughs-" + part.rsplit("/", 1)[-1].replace(".xml", "") + \
        ("-padded" if pad else "") + ".xlsx"
    return zip_of(folder / name, parts)


def xlsx_huge_shared_strings(folder: Path, size: int = 80 * MB) -> Path:
    """A workbook whose shared-strings table inflates beyond what Rapport reads.

    The strings are distinct (a counter), so the part compresses only about
    tenfold: the size limit, not the ratio limit, must catch it.
    """
    strings = [b"systemuserid", b"fullname"]
    total = 0
    i = 0
    while total < size:
        item = b"%08x-%d" % (i * 2654435761 % (1 << 32), i)
        strings.append(item)
        total += len(item) + 17
        i += 1
    parts = xlsx_by_hand([[0, 1], [2, 3]], shared_strings(strings))
    return zip_of(folder / "huge-shared-strings.xlsx", parts)


def mbox_of_tiny_messages(folder: Path, count: int = 1_000_000) -> Path:
    """An mbox of *count* messages of a few lines each (about 150 bytes apiece)."""
    path = folder / f"tiny-{count}.mbox"
    with open(path, "wb") as out:
        block = []
        for i in range(count):
            block.append(b"From a@x Mon May 14 09:00:00 2001\nMessage-ID: <t%d@x.example>\n"
                         b"Date: Mon, 14 May 2001 09:00:00 +0000\nFrom: a%d@x.example\n"
                         b"To: b@ourco.example\nSubject: s\n\nb\n\n" % (i, i % 1000))
            if len(block) == 10_000:
                out.write(b"".join(block))
                block = []
        out.write(b"".join(block))
    return path


def long_line_csv(folder: Path, size: int = 8 * MB) -> Path:
    """A Dataverse e-mail table whose second e-mail has a description (the
    body) of *size* bytes on one line, beginning with BODY-MARKER-8MB."""
    path = folder / "long-line-email.csv"
    head = b"activityid,subject,description,directioncode,statuscode,senton,messageid\r\n"
    first = (b"eeeeeeee-0000-0000-0000-000000000001,Short,Hi,1,3,2024-04-01T09:00:00Z,"
             b"<l1@ourco.example>\r\n")
    second = (b"eeeeeeee-0000-0000-0000-000000000002,Long,BODY-MARKER-8MB " + b"x" * size +
              b",1,3,2024-04-02T09:00:00Z,<l2@ourco.example>\r\n")
    path.write_bytes(head + first + second)
    return path


def long_line_mbox(folder: Path, size: int = 8 * MB) -> Path:
    """An mbox whose first message has an 8 MB body line and a 4 MB folded Subject."""
    first = message(1, subject="Big " + "x" * (4 * MB), body="y" * size)
    path = folder / "long-lines.mbox"
    path.write_bytes(mbox(first, message(2)))
    return path


BUILDERS = {
    "mail_zip_bomb": mail_zip_bomb, "csv_zip_bomb": csv_zip_bomb,
    "xml_zip_bomb": xml_zip_bomb, "xlsx_laughs": xlsx_laughs,
    "xlsx_huge_shared_strings": xlsx_huge_shared_strings,
    "long_line_csv": long_line_csv, "long_line_mbox": long_line_mbox,
}


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus-out")
    target.mkdir(parents=True, exist_ok=True)
    for name, build in BUILDERS.items():
        print(build(target))

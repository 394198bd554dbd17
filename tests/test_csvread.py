"""Reading real CSV exports: encodings, delimiters, quotes, row numbers, junk."""

import datetime as dt

import pytest

from ingest.base import ImportProblem, Problem
from ingest.csvread import (Cells, Row, looks_like_header, parse_time, read_header,
                            read_table, time_or_problem)


def test_utf8_with_bom_crlf_and_multiline_cells():
    data = ("\ufeffContactID,FullName,Notes\r\n"
            "00123,Zoë Müller,\"line one\r\nline two\"\r\n"
            "00124,\"Smith, Ann\",plain\r\n").encode("utf-8")
    table = read_table(data, "c.csv")
    assert table.encoding == "utf-8-sig"
    assert table.delimiter == ","
    assert table.columns == ["contactid", "fullname", "notes"]
    assert [r.number for r in table.rows] == [2, 3]
    first, second = table.rows
    assert first.values == {"contactid": "00123", "fullname": "Zoë Müller",
                            "notes": "line one\r\nline two"}
    assert second.get("fullname") == "Smith, Ann"
    assert second.get("contactid") == "00124"  # ids stay text


def test_windows_1252_semicolons_are_detected():
    data = "name;city\r\nCafé Noël;Köln\r\n".encode("cp1252")
    table = read_table(data, "w.csv")
    assert table.encoding == "cp1252"
    assert table.delimiter == ";"
    assert table.rows[0].values == {"name": "Café Noël", "city": "Köln"}
    assert table.described == "Windows-1252, semicolon-separated"


def test_tab_delimiter_and_excel_sep_directive():
    tabbed = read_table(b"a\tb\n1\t2\n", "t.tsv")
    assert tabbed.delimiter == "\t" and tabbed.rows[0].values == {"a": "1", "b": "2"}
    directed = read_table(b"sep=;\r\nA;B\r\nx,y;z\r\n", "s.csv")
    assert directed.delimiter == ";"
    assert directed.rows[0].values == {"a": "x,y", "b": "z"}
    assert directed.rows[0].number == 2


def test_utf16_unicode_text_from_excel():
    data = "name\tmail\r\nÅsa\tasa@x.se\r\n".encode("utf-16")
    table = read_table(data, "u.txt")
    assert table.encoding == "utf-16"
    assert table.rows[0].values == {"name": "Åsa", "mail": "asa@x.se"}


def test_row_numbers_skip_blank_lines_but_count_them():
    table = read_table(b"id,v\n1,a\n\n3,c\n", "b.csv")
    assert [(r.number, r.get("id")) for r in table.rows] == [(2, "1"), (4, "3")]


def test_too_many_cells_is_a_row_problem():
    table = read_table(b"id,v\n1,a\n2,b,extra\n3,c,\n", "x.csv")
    assert [r.number for r in table.rows] == [2, 4]
    assert len(table.problems) == 1
    assert table.problems[0].row == 3
    assert "3 cells" in table.problems[0].reason


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"id,name\n1,\x00\x00\x00\n", "NUL"),
        (b"PK\x03\x04rest-of-a-zip", "zip"),
        (b"%PDF-1.7 ...", "PDF"),
        (b"00123,Ann,ann@x.com\n00124,Bob,bob@x.com\n", "header"),
        (b"id,name\n1,\"never closed\n2,b\n", "never closed"),
        (b"id,ID\n1,2\n", "twice"),
        (b"\n\n", "no rows"),
    ],
)
def test_files_that_cannot_be_read_are_refused_whole(data, words):
    with pytest.raises(ImportProblem) as caught:
        read_table(data, "bad.csv")
    problem = caught.value.problems[0]
    assert problem.file == "bad.csv"
    assert words in problem.reason
    assert problem.fix


def test_read_header_never_raises():
    assert read_header(b"\xef\xbb\xbfActivityId;Subject\r\n1;x") == ["activityid", "subject"]
    assert read_header(b"\x00\x01\x02binary") is None
    assert read_header(b"1,2,3\n") is None
    assert read_header(b"") is None


def test_header_detection():
    assert looks_like_header(["activityid", "Sent On", "_regardingobjectid_value"])
    assert not looks_like_header(["3f2504e0-4f89-11d3-9a0c-0305e82c3301", "name"])
    assert not looks_like_header(["ann@contoso.com", "Ann"])
    assert not looks_like_header(["2024-01-05", "x"])
    assert not looks_like_header(["", ""])


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2024-03-05T14:30:00Z", "UTC", dt.datetime(2024, 3, 5, 14, 30)),
        ("2022-12-02T21:00:00.0000000Z", "UTC", dt.datetime(2022, 12, 2, 21, 0)),
        ("2024-03-05 14:30:00+02:00", "UTC", dt.datetime(2024, 3, 5, 12, 30)),
        ("2024-03-05T14:30-0500", "UTC", dt.datetime(2024, 3, 5, 19, 30)),
        # Zone-less times are read in the import's zone: Berlin is UTC+1 in March,
        # UTC+2 in July.
        ("2024-03-05T14:30:00", "Europe/Berlin", dt.datetime(2024, 3, 5, 13, 30)),
        ("2024-07-05 14:30", "Europe/Berlin", dt.datetime(2024, 7, 5, 12, 30)),
        ("2024-03-05", "UTC", dt.datetime(2024, 3, 5)),
        ("2024-03-05T14:30:00.25Z", "UTC", dt.datetime(2024, 3, 5, 14, 30, 0, 250000)),
        ("", "UTC", None),
    ],
)
def test_parse_time(text, zone, expected):
    assert parse_time(text, zone) == expected


@pytest.mark.parametrize("text", ["05/03/2024", "yesterday", "2024-13-01", "0001-01-01T00:00:00Z"])
def test_bad_times_become_problems(text):
    result = time_or_problem(text, "UTC", "e.csv", 4, "senton")
    assert isinstance(result, Problem)
    assert (result.file, result.row, result.column) == ("e.csv", 4, "senton")
    assert "ISO-8601" in result.fix


def test_cells_typed_values_and_problems():
    problems: list[Problem] = []
    row = Row(7, {"amount": "1.234,50", "n": "12", "flag": "True", "code": "2",
                  "when": "junk", "label": "Completed", "bad": "abc"})
    cells = Cells("f.csv", row, "UTC", problems)
    assert cells.number("amount") == 1234.5
    assert cells.integer("n") == 12
    assert cells.boolean("flag") is True
    assert cells.code("code") == 2
    assert cells.code("label", {"completed": 1}) == 1
    assert cells.text("missing", "n") == "12"
    assert cells.ok
    assert cells.time("when") is None
    assert cells.number("bad") is None
    assert not cells.ok
    assert [(p.row, p.column) for p in problems] == [(7, "when"), (7, "bad")]

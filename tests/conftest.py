"""Fixtures shared by the test modules."""

from pathlib import Path

import pytest

from rapport import store

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
ROOT = TESTS.parent


@pytest.fixture
def db_file(tmp_path):
    """Path of a fresh Rapport database file in the test's own folder."""
    return tmp_path / "rapport.duckdb"


@pytest.fixture
def con(db_file):
    """A connection to a fresh Rapport database file (real DuckDB, on disk)."""
    connection = store.connect(db_file)
    yield connection
    connection.close()


@pytest.fixture
def mail_data():
    """The folder of mail fixtures (tests/data/mail)."""
    return DATA / "mail"

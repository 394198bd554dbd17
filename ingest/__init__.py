"""Turning exports and mailboxes into Rapport's canonical tables."""

from ingest.base import Batch, ImportProblem, ImportResult, Problem
from ingest.layouts import ReadOptions, detect, read_all, run_import

__all__ = ["Batch", "ImportProblem", "ImportResult", "Problem", "ReadOptions",
           "detect", "read_all", "run_import"]

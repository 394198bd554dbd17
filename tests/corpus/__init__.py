"""Hostile and broken inputs, and what Rapport must say about each (see cases.py)."""

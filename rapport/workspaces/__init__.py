"""Ready-made workspaces: Rapport databases built from public sample data.

Each module here builds one database with ``build(path, seed=..., progress=...)``
and can be run as ``python -m rapport.workspaces.<name> PATH``.

- :mod:`rapport.workspaces.pipeline`: the public CRM sales pipeline (accounts,
  sellers, 8,800 opportunities) with generated e-mails, meetings and calls.
"""

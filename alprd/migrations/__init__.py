"""Alembic migration scripts, shipped inside the package so `alprd db upgrade` works when installed.

Driven programmatically by alprd.sinks.schema (script_location = this directory, no alembic.ini).
To add a revision, copy script.py.mako into versions/NNNN_<what>.py by hand, set ``down_revision``
to the current head, mirror the change in alprd/sinks/schema.py, and extend tests/sinks.
"""

"""Persistence: tables, the engine, encrypted secrets, migrations and repositories.

Repositories take a connection and never commit: the transaction belongs to the caller.
"""

from __future__ import annotations

import pytest

from pgpeer import PostgresPeer


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server for the session; each test gets a database of its own (pg_db)."""
    peer = PostgresPeer()
    yield peer
    peer.close()


@pytest.fixture
def pg_db(postgres, request):
    """A fresh database on the session's server: its URL."""
    import psycopg

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres.url.replace("/postgres?", f"/{name}?")

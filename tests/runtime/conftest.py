"""Fixtures for the live tests: the test campus scenario, PostgreSQL DSNs."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from live_helpers import CAMPUS


@pytest.fixture
def campus() -> dict[str, Any]:
    return copy.deepcopy(CAMPUS)


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A DSN on the real PostgreSQL server of BALLAST_TEST_PG_DSN, in a fresh schema that is
    dropped afterwards. Skips when the variable is unset (fails instead under CI, where
    .ci/run starts the server and sets BALLAST_REQUIRE_PG=1)."""
    dsn = os.environ.get("BALLAST_TEST_PG_DSN")
    if not dsn:
        if os.environ.get("BALLAST_REQUIRE_PG"):
            pytest.fail("BALLAST_TEST_PG_DSN is unset but BALLAST_REQUIRE_PG is set")
        pytest.skip("no PostgreSQL: set BALLAST_TEST_PG_DSN (.ci/run starts a server and sets it)")
    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield make_conninfo(dsn, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

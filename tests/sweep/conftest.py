"""One real two-worker LocalCluster (worker processes) shared by the sweep tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def client():
    from ballast.sweep.engine import open_client

    with open_client(workers=2) as c:
        yield c

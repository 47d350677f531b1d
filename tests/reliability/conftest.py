"""The fault and load suite: real processes on PostgreSQL; a short variant by default, `--reliability-long` the full one."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.reliability.fleet import TABLE_HEADER

_outcomes: list = []


def pytest_collection_modifyitems(items):
    for item in items:
        if "/reliability/" in str(item.fspath):
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(autouse=True)
def _no_network():
    """Real processes on loopback: the unit tests' socket guard stays off here."""
    yield


@pytest.fixture(scope="session")
def long_variant(request) -> bool:
    return request.config.getoption("--reliability-long")


@pytest.fixture
def fleet_database(postgres_server_url):
    """An empty PostgreSQL database for one scenario's fleet (the migrations create the schema)."""
    from tests.postgres_cluster import create_database, drop_database

    name = f"bx_fleet_{os.getpid()}_{len(_outcomes)}"
    url = create_database(postgres_server_url, name)
    yield url
    drop_database(postgres_server_url, name)


@pytest.fixture
def postgres_cluster_handle(postgres_server_url):
    """The throw-away cluster behind postgres_server_url, to restart it (scripts/test's or this session's)."""
    from tests import conftest
    from tests.postgres_cluster import PostgresCluster

    workdir = os.environ.get("TEST_POSTGRES_DIR")
    if workdir:
        port = int(postgres_server_url.rsplit(":", 1)[1].split("/", 1)[0])
        return PostgresCluster(workdir=Path(workdir), port=port)
    if conftest.started_postgres_cluster is None:
        pytest.skip("PostgreSQL is the server of TEST_POSTGRES_URL: the suite restarts only a cluster of its own")
    return conftest.started_postgres_cluster


@pytest.fixture
def outcomes():
    return _outcomes


@pytest.fixture
def make_fleet(tmp_path, fleet_database):
    from tests.reliability.fleet import Fleet

    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed: run ./scripts/test")
    fleets = []

    def build(**extra_env) -> Fleet:
        fleet = Fleet(workdir=tmp_path / f"fleet{len(fleets)}", database_url=fleet_database,
                      extra_env={k: str(v) for k, v in extra_env.items()})
        fleet.workdir.mkdir()
        fleets.append(fleet)
        return fleet

    yield build
    for fleet in fleets:
        fleet.stop()


def pytest_terminal_summary(terminalreporter):
    if not _outcomes:
        return
    terminalreporter.write_sep("=", "reliability (PostgreSQL, real processes)")
    terminalreporter.write_line(TABLE_HEADER)
    for outcome in _outcomes:
        terminalreporter.write_line(outcome.row())

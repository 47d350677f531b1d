"""Shared fixtures: the app on a throw-away database (SQLite or PostgreSQL), a real Redis, a network guard."""
from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

# The tests' configuration and ports, shared with the benchmarks.
from bx_app.devkit.config import TEST_CONFIG, free_port

FIXTURES = Path(__file__).resolve().parent / "fixtures"  # copied from the API reference, see its README


def pytest_addoption(parser):
    parser.addoption(
        "--db", choices=("sqlite", "postgresql"), default=os.environ.get("TEST_DATABASE", "sqlite"),
        help="database of the app fixture (default: $TEST_DATABASE or sqlite). PostgreSQL: the server of "
             "$TEST_POSTGRES_URL, else a throw-away cluster started for the session.")
    parser.addoption("--reliability-long", action="store_true", default=bool(os.environ.get("RELIABILITY_LONG")),
                     help="tests/reliability: the full fault suite, 500 events per scenario (default: a short one)")


def reference_fixture(name: str) -> dict:
    """A JSON payload from tests/fixtures (the reference's examples), minus _source/_note."""
    path = FIXTURES / name
    return _strip_meta(json.loads(path.read_text(encoding="utf-8")))


def _strip_meta(value):
    if isinstance(value, dict):
        return {k: _strip_meta(v) for k, v in value.items() if k not in ("_source", "_note")}
    if isinstance(value, list):
        return [_strip_meta(v) for v in value]
    return value


# --- network guard: tests may talk to loopback only ---------------------------------------------
_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1") or host.startswith("/")):
        return _real_connect(self, address)
    if self.family == socket.AF_UNIX:
        return _real_connect(self, address)
    raise RuntimeError(f"test tried to reach the network: {address!r}")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield


# --- a real Redis server for the whole session ---------------------------------------------------
@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    exe = shutil.which("redis-server")
    if not exe:
        pytest.fail("redis-server is not installed: run the README's test command, which installs it")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    from redis import Redis

    client = Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except Exception:  # noqa: BLE001
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    yield {"url": url, "port": port, "process": proc}
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server):
    from redis import Redis

    Redis.from_url(redis_server["url"]).flushall()
    return redis_server["url"]




# --- PostgreSQL: one server per session, a fresh database per test ------------------------------
started_postgres_cluster = None  # the cluster this session started (the fault suite restarts it)

@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory):
    """A PostgreSQL server the tests may create databases on: $TEST_POSTGRES_URL or a throw-away one."""
    given = os.environ.get("TEST_POSTGRES_URL")
    if given:
        from bx_app.config import sqlalchemy_url

        yield sqlalchemy_url(given)
        return
    from tests.postgres_cluster import PostgresCluster

    global started_postgres_cluster
    cluster = started_postgres_cluster = PostgresCluster().init().start()
    try:
        yield cluster.url()
    finally:
        started_postgres_cluster = None
        cluster.destroy()


_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_template(postgres_server_url):
    """A database with the models' schema, copied (CREATE DATABASE … TEMPLATE) for every test."""
    from bx_app import create_app
    from bx_app.extensions import db
    from tests.postgres_cluster import create_database, drop_database

    name = f"bx_template_{os.getpid()}"
    url = create_database(postgres_server_url, name)
    template_app = create_app(dict(TEST_CONFIG, SQLALCHEMY_DATABASE_URI=url, REDIS_URL="redis://127.0.0.1:1/0"))
    with template_app.app_context():
        db.create_all()
        db.session.remove()
        db.engine.dispose()
    yield name
    drop_database(postgres_server_url, name)


@pytest.fixture
def database_url(request, tmp_path):
    """A fresh, empty-of-rows database with the models' schema, on the database the run selected."""
    if request.config.getoption("--db") != "postgresql":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    from tests.postgres_cluster import create_database, drop_database

    server = request.getfixturevalue("postgres_server_url")
    template = request.getfixturevalue("postgres_template")
    name = f"bx_test_{os.getpid()}_{next(_database_numbers)}"
    yield create_database(server, name, template=template)
    drop_database(server, name)


@pytest.fixture
def empty_database_url(request, tmp_path):
    """A database with no tables at all (for migrations), on the database the run selected."""
    if request.config.getoption("--db") != "postgresql":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    from tests.postgres_cluster import create_database, drop_database

    server = request.getfixturevalue("postgres_server_url")
    name = f"bx_empty_{os.getpid()}_{next(_database_numbers)}"
    yield create_database(server, name)
    drop_database(server, name)


@pytest.fixture
def app(database_url, redis_url):
    from bx_app import create_app
    from bx_app.extensions import db

    config = dict(TEST_CONFIG, SQLALCHEMY_DATABASE_URI=database_url, REDIS_URL=redis_url)
    app = create_app(config)
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()

"""A throw-away PostgreSQL cluster for tests and benchmarks: Debian's server binaries, a temp directory."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bx_app.devkit.config import free_port


def server_bindir() -> Path | None:
    """The newest installed server's bin directory (postgresql-NN from Debian), else PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresCluster:
    """initdb + pg_ctl in a temporary directory, run as a non-root user (PostgreSQL refuses root)."""

    def __init__(self, workdir: Path | None = None, port: int | None = None):
        self.bindir = server_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql "
                               "(./scripts/test does it)")
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="bx-pg-"))
        self.datadir = self.workdir / "data"
        self.port = port or free_port()
        self.user = "postgres"
        self._run_as = None
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError("running as root needs a 'postgres' user (Debian's postgresql package "
                                   "creates it)") from exc

    # --- processes -----------------------------------------------------------------------------
    def _as_owner(self):
        owner = self._run_as
        if owner is None:
            return None

        def drop_privileges():
            os.setgid(owner.pw_gid)
            os.setuid(owner.pw_uid)
        return drop_privileges

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
        if self._run_as is not None:
            env["HOME"] = str(self.workdir)
        return subprocess.run([str(self.bindir / tool), *args], check=check, capture_output=True, text=True,
                              env=env, preexec_fn=self._as_owner(), cwd=self.workdir)

    def init(self) -> PostgresCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            os.chown(self.workdir, self._run_as.pw_uid, self._run_as.pw_gid)
            os.chmod(self.workdir, 0o700)
        self._pg("initdb", "-D", str(self.datadir), "-A", "trust", "-U", self.user, "-E", "UTF8",
                 "--no-sync", "--locale=C.UTF-8")
        with open(self.datadir / "postgresql.conf", "a") as conf:
            # A test cluster: no fsync (only a machine crash could lose data), but a commit is in the WAL
            # before it is acknowledged, so the fault suite's `pg_ctl stop -m immediate` loses nothing
            # the app was told was stored. Enough connections for a fleet of processes.
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.workdir}'\n"
                       "fsync = off\nsynchronous_commit = on\nfull_page_writes = off\n"
                       "max_connections = 300\nshared_buffers = 32MB\n")
        return self

    def start(self) -> PostgresCluster:
        self._pg("pg_ctl", "-D", str(self.datadir), "-l", str(self.workdir / "server.log"), "-w",
                 "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop", check=False)

    def restart(self, pause: float = 0.0) -> None:
        """Stop immediately (connections drop, as when the server dies), wait, start again."""
        self.stop("immediate")
        time.sleep(pause)
        self.start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- databases -----------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def admin(self):
        return admin_connection(self.url())


def admin_connection(url: str):
    """An autocommit psycopg connection to the server's maintenance database (CREATE/DROP DATABASE)."""
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    return psycopg.connect(maintenance, autocommit=True)


def database_url(server_url: str, database: str) -> str:
    """The same server and login, another database."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    with admin_connection(server_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if template:
            # FILE_COPY: about twice as fast as the default for a small template.
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        else:
            connection.execute(f'CREATE DATABASE "{name}"')
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with admin_connection(server_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str]) -> int:
    """`python -m tests.postgres_cluster start DIR` (scripts/test) prints the server URL; `stop DIR` removes it."""
    command, workdir = argv[0], Path(argv[1])
    if command == "start":
        cluster = PostgresCluster(workdir=workdir).init().start()
        (workdir / "port").write_text(str(cluster.port))
        print(cluster.url())
        return 0
    if command == "stop":
        port_file = workdir / "port"
        if port_file.exists():
            PostgresCluster(workdir=workdir, port=int(port_file.read_text())).destroy()
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    raise SystemExit(f"unknown command {command!r}: start DIR | stop DIR")


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))

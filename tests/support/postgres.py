"""A real PostgreSQL server for tests: initdb in a temporary directory, listening on loopback only.

When PostgreSQL cannot be started the fixture fails with a message that says how to fix it;
it never skips silently.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.mosquitto import free_port
from tests.support.wait import wait_until

HOW_TO_FIX = (
    "PostgreSQL is needed for these tests: run `make test` (it installs the Debian package "
    "`postgresql`) or `apt-get install postgresql`."
)


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for version in ("17", "16", "15", "14", "13"):
        p = Path(f"/usr/lib/postgresql/{version}/bin/{name}")
        if p.exists():
            return str(p)
    raise RuntimeError(f"{name} not found. {HOW_TO_FIX}")


@dataclass
class PostgresServer:
    port: int
    datadir: Path
    user: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        subprocess.run([_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres",
                        "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True, env=self._env())
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{name}"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "PGCONNECT_TIMEOUT": "5"}


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    # A directory of its own under /tmp: pytest's tmp dirs are private to root, which the
    # 'postgres' user the server runs as could not enter.
    base = Path(tempfile.mkdtemp(prefix="cherga-pg-"))
    datadir = base / "pgdata"
    port = free_port()
    run_as: list[str] = []
    user = getpass.getuser()
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the 'postgres' system user (the Debian package creates it).
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise RuntimeError(f"no 'postgres' user to run the server as. {HOW_TO_FIX}") from exc
        os.chown(base, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
        user = "postgres"
    initdb = subprocess.run([*run_as, _bin("initdb"), "-D", str(datadir), "-U", user, "--auth=trust",
                             "-E", "UTF8", "--locale=C.UTF-8"], capture_output=True, text=True)
    if initdb.returncode != 0:
        raise RuntimeError(f"initdb failed: {initdb.stderr[-1500:]}\n{HOW_TO_FIX}")
    logfile = base / "postgres.log"
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} -c fsync=on -c max_connections=200"
    start = subprocess.run([*run_as, _bin("pg_ctl"), "-D", str(datadir), "-l", str(logfile), "-o", opts, "-w", "-t", "30", "start"],
                           capture_output=True, text=True)
    if start.returncode != 0:
        log = logfile.read_text()[-1500:] if logfile.exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {start.stderr[-800:]} {log}\n{HOW_TO_FIX}")
    server = PostgresServer(port, datadir, user)
    try:
        wait_until(lambda: subprocess.run([_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                          capture_output=True).returncode == 0,
                   what=f"PostgreSQL answering on port {port}")
        yield server
    finally:
        subprocess.run([*run_as, _bin("pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)

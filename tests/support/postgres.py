"""A real PostgreSQL server for tests: initdb in a temporary directory, listening on loopback only.

:func:`running_postgres` may start it as a replication primary (``settings`` such as
``synchronous_standby_names``) and :func:`running_standby` then makes a streaming standby of it with
``pg_basebackup -R``: the high-availability test stops the primary and promotes the standby
(docs/region.md, "High availability").

When PostgreSQL cannot be started the fixture fails with a message that says how to fix it;
it never skips silently.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
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
    run_as: tuple[str, ...] = ()  # runuser ... when the tests run as root
    base: Path | None = None  # the directory holding the data, the log and the socket

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        subprocess.run([_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres",
                        "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True, env=self._env())
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{name}"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "PGCONNECT_TIMEOUT": "5"}

    def query(self, sql: str, database: str = "postgres") -> str:
        """The first value ``sql`` answers, as psql prints it (unaligned, no header)."""
        out = subprocess.run([_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", database,
                              "-XAtc", sql], check=True, capture_output=True, text=True, env=self._env(),
                             timeout=60)
        return out.stdout.strip()

    @property
    def log(self) -> str:
        path = (self.base or self.datadir.parent) / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m MODE``: ``immediate`` is a crash (no checkpoint, clients cut off at once)."""
        subprocess.run([*self.run_as, _bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"],
                       capture_output=True, check=True)

    def promote(self) -> None:
        """``pg_ctl promote``: a standby ends recovery and takes writes (returns once it does)."""
        subprocess.run([*self.run_as, _bin("pg_ctl"), "-D", str(self.datadir), "-w", "-t", "30", "promote"],
                       capture_output=True, check=True)

    def in_recovery(self) -> bool:
        return self.query("SELECT pg_is_in_recovery()") == "t"

    def pause_wal_sender(self, standby: str) -> int:
        """Stop (SIGSTOP) this primary's WAL sender to ``standby``: the standby falls behind, as over a slow link.

        The sender, not the standby's receiver: WAL already sent would wait in the receiver's socket
        buffer and reach the standby after all. Returns the sender's pid (SIGCONT or SIGKILL it).
        """
        pid = int(self.query(f"SELECT pid FROM pg_stat_replication WHERE application_name = '{standby}'"))
        os.kill(pid, signal.SIGSTOP)
        return pid

    def standby_state(self, name: str) -> tuple[str, str] | None:
        """(state, sync_state) of the standby called ``name`` as this primary sees it, or None."""
        row = self.query(f"SELECT state || ' ' || sync_state FROM pg_stat_replication WHERE application_name = '{name}'")
        return (row.split()[0], row.split()[1]) if row else None


def _own_dir(prefix: str) -> tuple[Path, list[str], str]:
    """A directory of its own under /tmp, the command prefix to run PostgreSQL with, and the user.

    Not pytest's tmp dirs: they are private to root, which the 'postgres' user the server runs as
    could not enter.
    """
    base = Path(tempfile.mkdtemp(prefix=prefix))
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
    return base, run_as, user


@contextlib.contextmanager
def _started(base: Path, run_as: list[str], user: str, datadir: Path, port: int,
             settings: Mapping[str, str]) -> Iterator[PostgresServer]:
    logfile = base / "postgres.log"
    opts = " ".join([f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} -c fsync=on "
                     "-c max_connections=200", *(f"-c {k}={v}" for k, v in settings.items())])
    try:
        start = subprocess.run([*run_as, _bin("pg_ctl"), "-D", str(datadir), "-l", str(logfile), "-o", opts, "-w",
                                "-t", "30", "start"], capture_output=True, text=True)
        if start.returncode != 0:
            log = logfile.read_text()[-1500:] if logfile.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {start.stderr[-800:]} {log}\n{HOW_TO_FIX}")
        server = PostgresServer(port, datadir, user, tuple(run_as), base)
        wait_until(lambda: subprocess.run([_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                          capture_output=True).returncode == 0,
                   what=f"PostgreSQL answering on port {port}")
        yield server
    finally:
        subprocess.run([*run_as, _bin("pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def running_postgres(settings: Mapping[str, str] | None = None) -> Iterator[PostgresServer]:
    """A fresh server; ``settings`` are extra ``-c NAME=VALUE`` (e.g. a primary's replication settings).

    Settings given on the command line are not in the data directory, so a standby copied from this
    one by ``pg_basebackup`` does not inherit them (a promoted standby must not wait for itself).
    """
    base, run_as, user = _own_dir("cherga-pg-")
    datadir = base / "pgdata"
    # initdb's pg_hba.conf already lets loopback connect for replication (trust, like everything here).
    initdb = subprocess.run([*run_as, _bin("initdb"), "-D", str(datadir), "-U", user, "--auth=trust",
                             "-E", "UTF8", "--locale=C.UTF-8"], capture_output=True, text=True)
    if initdb.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {initdb.stderr[-1500:]}\n{HOW_TO_FIX}")
    with _started(base, run_as, user, datadir, free_port(), settings or {}) as server:
        yield server


#: A primary whose commits wait until the standby called ``standby1`` has them on disk.
SYNCHRONOUS_PRIMARY = {"wal_level": "replica", "max_wal_senders": "4", "synchronous_commit": "on",
                       "synchronous_standby_names": "standby1"}


@contextlib.contextmanager
def running_standby(primary: PostgresServer, name: str = "standby1", *,
                    settings: Mapping[str, str] | None = None) -> Iterator[PostgresServer]:
    """A hot standby of ``primary`` made with ``pg_basebackup -R``, streaming from it as ``name``.

    Returns once the primary sees it streaming (and, when the primary names it in
    ``synchronous_standby_names``, as its synchronous standby).
    """
    base, run_as, user = _own_dir("cherga-pg-standby-")
    datadir = base / "pgdata"
    # -R writes standby.signal and primary_conninfo (with our application_name, the name the
    # primary's synchronous_standby_names refers to); -X stream copies the WAL made meanwhile.
    conninfo = f"host=127.0.0.1 port={primary.port} user={primary.user} application_name={name}"
    backup = subprocess.run([*run_as, _bin("pg_basebackup"), "-d", conninfo, "-D", str(datadir), "-R",
                             "-X", "stream", "-c", "fast"], capture_output=True, text=True)
    if backup.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"pg_basebackup failed: {backup.stderr[-1500:]}\n{HOW_TO_FIX}")
    with _started(base, run_as, user, datadir, free_port(), {"hot_standby": "on", **(settings or {})}) as standby:
        sync = name in primary.query("SHOW synchronous_standby_names")
        wait_until(lambda: primary.standby_state(name) == ("streaming", "sync" if sync else "async"),
                   what=lambda: f"standby {name} streaming from the primary ({primary.standby_state(name)})")
        yield standby

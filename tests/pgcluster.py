"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temp data dir, an
unprivileged owner, a free loopback port. No Docker, nothing left behind.

``make test`` installs Debian's ``postgresql`` when it is missing. PostgreSQL refuses to
run as root, so as root the cluster belongs to ``nobody`` (its data dir is chowned to
it and every server command runs through ``runuser``); as anyone else it is simply
theirs. Loopback only, no Unix socket. Roles: ``flowup`` (superuser, trusted from
loopback), ``flowup_secret`` (password required: the URL-with-password tests) and
whatever a test creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

SUPERUSER = "flowup"
SECRET_ROLE = "flowup_secret"
SECRET_PASSWORD = "s3cret-" + uuid.uuid4().hex[:12]
_OWNER_WHEN_ROOT = "nobody"


class ClusterUnavailable(RuntimeError):
    """The server cannot be started here; the message says why and what to install."""


def _bindir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    if which:
        return Path(which).resolve().parent
    raise ClusterUnavailable(
        "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: `make test` "
        "installs Debian's postgresql as root (apt-get install postgresql)"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgCluster:
    """One server; ``url()`` names a database on it, ``admin()`` runs SQL as superuser."""

    def __init__(self, *, durable: bool = False) -> None:
        # durable: fsync on, as a real server runs (the benchmarks); the tests do without.
        self._speed = "" if durable else "-c fsync=off -c full_page_writes=off "
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="flowup-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._as_root = os.geteuid() == 0
        self._owner = _OWNER_WHEN_ROOT if self._as_root else pwd.getpwuid(os.getuid()).pw_name

    # -- running commands as the cluster's owner ------------------------------------------

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", self._owner, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> None:
        os.chmod(self.root, 0o755)  # the owner must reach its data dir through here
        self.data.mkdir()
        if self._as_root:
            shutil.chown(self.root, user=self._owner)
            shutil.chown(self.data, user=self._owner)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            )
        except subprocess.CalledProcessError as exc:
            raise ClusterUnavailable(f"initdb failed: {exc.stderr.strip()}") from None
        # Password for the one role whose URL carries it; trust for the others (loopback).
        hba = self.data / "pg_hba.conf"
        hba.write_text(
            f"host all {SECRET_ROLE} 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n"
        )
        self._start_server()
        self.admin(
            f"CREATE ROLE {SECRET_ROLE} LOGIN PASSWORD '{SECRET_PASSWORD}' SUPERUSER",
        )

    def _start_server(self) -> None:
        last = ""
        for _ in range(5):  # a free port can be taken between the probe and the bind
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
                f"{self._speed}-c max_connections=200"
            )
            result = self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                "-o", options, "start", check=False,
            )  # fmt: skip
            if result.returncode == 0:
                return
            last = (result.stderr or result.stdout).strip() + "\n" + self._log_tail()
        raise ClusterUnavailable(f"pg_ctl start failed: {last}")

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text().splitlines()[-10:])
        return ""

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart_server(self) -> None:
        """Stop and start again on the same port (clients see the server go and come)."""
        self.stop()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            f"{self._speed}-c max_connections=200"
        )
        result = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
            "-o", options, "start", check=False,
        )  # fmt: skip
        if result.returncode:
            raise ClusterUnavailable(f"restart failed: {result.stderr}\n{self._log_tail()}")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- using it ---------------------------------------------------------------------

    def url(self, database: str = "postgres", *, user: str = SUPERUSER, password: str = "") -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def admin(self, *statements: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Run ``statements`` as the superuser (autocommit); the last one's rows."""
        import psycopg

        rows: list[tuple[object, ...]] = []
        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=10) as conn:
            for statement in statements:
                cursor = conn.execute(statement.encode())
                rows = cursor.fetchall() if cursor.description else []
        return rows

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh, empty database for one test; dropped afterwards."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.admin(f"CREATE DATABASE {name}")
        try:
            yield name
        finally:
            # Ledgers a test forgot to close must not keep the database alive.
            self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_cluster(*, durable: bool = False) -> PgCluster:
    cluster = PgCluster(durable=durable)
    try:
        cluster.start()
    except BaseException:
        cluster.destroy()
        raise
    return cluster

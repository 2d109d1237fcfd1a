"""A throwaway PostgreSQL server for the test session.

`ThrowawayPostgres` runs `initdb` into a temporary directory and starts a real server on a free
port of 127.0.0.1, tuned for speed over durability (no fsync), then removes everything on
`stop()`. It uses only the standard library and the PostgreSQL binaries (`initdb`, `pg_ctl`,
`psql`), so it works before any database driver is importable. PostgreSQL refuses to run as
root: under root the server runs as the `postgres` system user, created if missing.

Binaries are looked up in `$ACORDO_PG_BINDIR`, then `pg_config --bindir`, then the newest
`/usr/lib/postgresql/*/bin` (Debian), then next to `initdb` on PATH. When none is found or the
server does not start, `PostgresUnavailable` says why.

Self-check: `python -m tests.pg_server`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from deploy.postgres import (
    PostgresUnavailable,
    find_bindir,
    has_server_binaries,
    server_account,
)

SERVER_USER = "postgres"
START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections
COMMAND_TIMEOUT = 120  # seconds any one subprocess may take
LOG_TAIL_LINES = 25
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client_env() -> dict[str, str]:
    # A developer's PGHOST, PGSERVICE, PGSSLMODE... must not redirect the clients.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


class ThrowawayPostgres:
    """A PostgreSQL server living in a temporary directory until `stop()`."""

    host = "127.0.0.1"

    def __init__(self, bindir: str | Path | None = None) -> None:
        self.bindir = Path(bindir) if bindir else None
        self.port: int | None = None
        self.tmpdir: Path | None = None
        self._run_as: pwd.struct_passwd | None = None

    # Lifecycle

    def start(self) -> ThrowawayPostgres:
        """Initialise a cluster and start the server; raise PostgresUnavailable on failure."""
        if self.port is not None:
            return self
        if self.bindir is None:
            self.bindir = find_bindir()
        elif not has_server_binaries(self.bindir):
            raise PostgresUnavailable(f"no initdb/pg_ctl in {self.bindir}")
        if os.geteuid() == 0:
            self._run_as = server_account()
        self.tmpdir = Path(tempfile.mkdtemp(prefix="acordo-pg-"))
        atexit.register(self.stop)
        try:
            self.socket_dir.mkdir()
            if self._run_as is not None:
                for path in (self.tmpdir, self.socket_dir):
                    os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server at once and delete its files; safe to call more than once."""
        if self.tmpdir is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self._server_command(
                    [self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w"]
                    + ["-t", "30", "stop"],
                    timeout=60,
                )
            self._kill_leftover_postmaster()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = None
        self.port = None
        atexit.unregister(self.stop)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Using the server

    def create_database(self, name: str) -> str:
        """Create database `name` and return its SQLAlchemy URL (psycopg 3 driver)."""
        if not _DATABASE_NAME.fullmatch(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` on this server."""
        self._require_running()
        return f"postgresql+psycopg://{SERVER_USER}@{self.host}:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with psql as the superuser and return its unaligned output."""
        self._require_running()
        psql = self._bin("psql") if (self.bindir / "psql").exists() else shutil.which("psql")
        if psql is None:
            raise PostgresUnavailable("psql not found next to the server binaries or on PATH")
        command = [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        command += ["-h", self.host, "-p", str(self.port), "-U", SERVER_USER, "-d", database]
        result = subprocess.run(
            command + ["-c", sql],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            env=_client_env(),
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    # Internals

    @property
    def data_dir(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "socket"

    @property
    def log_file(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "server.log"

    def _bin(self, name: str) -> str:
        assert self.bindir is not None
        return str(self.bindir / name)

    def _require_running(self) -> None:
        if self.port is None:
            raise RuntimeError("the throwaway PostgreSQL server is not running; call start()")

    def _server_command(
        self, command: list[str], timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a server-side command, as the postgres account when we are root."""
        if self._run_as is not None:
            if shutil.which("runuser"):
                command = ["runuser", "-u", self._run_as.pw_name, "--", *command]
            else:
                command = ["su", self._run_as.pw_name, "-s", "/bin/sh", "-c", shlex.join(command)]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.tmpdir,
            env=_client_env(),
            stdin=subprocess.DEVNULL,
        )

    def _initdb(self) -> None:
        base = [self._bin("initdb"), "-D", str(self.data_dir), "-A", "trust"]
        base += ["-U", SERVER_USER, "--encoding=UTF8", "--no-sync"]
        errors = []
        for locale in ("C.UTF-8", "C"):
            try:
                result = self._server_command([*base, f"--locale={locale}"])
            except subprocess.TimeoutExpired as exc:
                raise PostgresUnavailable(f"initdb took over {exc.timeout}s") from exc
            if result.returncode == 0:
                return
            errors.append(f"--locale={locale}: {_tail(result.stdout + result.stderr)}")
            shutil.rmtree(self.data_dir, ignore_errors=True)
        raise PostgresUnavailable("initdb failed\n" + "\n".join(errors))

    def _start_server(self) -> None:
        # The port is free when chosen but may be taken before the server binds it: retry.
        for _ in range(3):
            port = _free_port()
            options = [
                f"-p {port}",
                f"-k {self.socket_dir}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=50",
            ]
            command = [self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file)]
            command += ["-w", "-t", str(START_TIMEOUT), "-o", " ".join(options), "start"]
            try:
                result = self._server_command(command, timeout=START_TIMEOUT + 30)
            except subprocess.TimeoutExpired as exc:
                raise PostgresUnavailable(
                    f"pg_ctl start took over {exc.timeout}s\n{self._log_tail()}"
                ) from exc
            if result.returncode == 0:
                self.port = port
                return
            log = self._log_tail()
            if "could not bind" not in log and "already in use" not in log:
                break
        raise PostgresUnavailable(
            f"pg_ctl start failed ({result.returncode}): "
            f"{_tail(result.stdout + result.stderr)}\nserver log:\n{log}"
        )

    def _log_tail(self) -> str:
        try:
            return _tail(self.log_file.read_text(errors="replace"))
        except OSError:
            return "(no server log)"

    def _kill_leftover_postmaster(self) -> None:
        # pg_ctl timed out or failed: never leave a server running after the tests.
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


if __name__ == "__main__":
    with ThrowawayPostgres() as server:
        url = server.create_database("acordo_selfcheck")
        print(url)
        print(server.execute("SELECT version()", database="acordo_selfcheck").strip())
    print("stopped")

"""A persistent local PostgreSQL cluster in a folder: `initdb` once, then start and stop it.

The data stays in `<folder>` across runs (unlike the tests' throwaway server). Connections
are allowed only on 127.0.0.1 and need the superuser's password (scram-sha-256); the local
socket, in the folder, uses peer authentication. PostgreSQL refuses to run as root: under root
the server runs as the `postgres` system account, which must be able to reach the folder.

Binaries are looked up in `$ACORDO_PG_BINDIR`, then `pg_config --bindir`, then the newest
`/usr/lib/postgresql/*/bin` (Debian), then next to `initdb` on PATH.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

SUPERUSER = "postgres"
START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections
COMMAND_TIMEOUT = 120
CONNECT_TIMEOUT = 10
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class PostgresUnavailable(RuntimeError):
    """The cluster cannot be created or started here; the message says why."""


def find_bindir() -> Path:
    """The directory holding initdb and pg_ctl, or raise PostgresUnavailable."""
    candidates: list[str] = []
    if os.environ.get("ACORDO_PG_BINDIR"):
        candidates.append(os.environ["ACORDO_PG_BINDIR"])
    if shutil.which("pg_config"):
        try:
            result = subprocess.run(
                ["pg_config", "--bindir"],
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
            if result.returncode == 0:
                candidates.append(result.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(debian, key=lambda p: _version_key(Path(p).parent.name), reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(os.path.realpath(initdb)).parent))
    for candidate in candidates:
        if candidate and has_server_binaries(candidate):
            return Path(candidate)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install them (Debian/Ubuntu: "
        "apt-get install postgresql) or set ACORDO_PG_BINDIR"
    )


def has_server_binaries(bindir: str | Path) -> bool:
    return all(os.access(Path(bindir, name), os.X_OK) for name in ("initdb", "pg_ctl"))


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


class LocalPostgres:
    """The cluster in `folder` (data in `folder/data`), served on 127.0.0.1:`port`."""

    host = "127.0.0.1"

    def __init__(self, folder: Path, *, port: int, password: str, max_connections: int = 200):
        self.folder, self.port, self.password = folder, port, password
        self.max_connections = max_connections
        self.bindir = find_bindir()
        self._account = server_account() if os.geteuid() == 0 else None

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_file(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str, *, driver: str = "psycopg") -> str:
        """SQLAlchemy URL of `database`: `psycopg` (the backend's) or `""` (Rasa's psycopg2)."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{SUPERUSER}:{self.password}@{self.host}:{self.port}/{database}"

    def start(self) -> LocalPostgres:
        """Initialise the cluster if it is new, then start the server."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._account is not None:
            _check_reachable(self.folder, self._account)
            os.chown(self.folder, self._account.pw_uid, self._account.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if (self.data_dir / "postmaster.pid").exists():
            self._stop_leftover()
        options = [
            f"-p {self.port}",
            f"-k {self.folder}",
            "-c listen_addresses=127.0.0.1",
            f"-c max_connections={self.max_connections}",
        ]
        command = [self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file)]
        command += ["-w", "-t", str(START_TIMEOUT), "-o", " ".join(options), "start"]
        result = self._as_server(command, timeout=START_TIMEOUT + 30)
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"pg_ctl start failed: {result.stdout}{result.stderr}\n{self._log_tail()}"
            )
        return self

    def stop(self) -> None:
        """A fast shutdown (sessions are ended, data is kept); safe when not running."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        command = [self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w"]
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._as_server([*command, "-t", "30", "stop"], timeout=60)
        self._stop_leftover()

    def create_database(self, name: str) -> bool:
        """Create database `name` unless it exists; True when it was created."""
        import psycopg

        if not _DATABASE_NAME.fullmatch(name):
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=SUPERUSER,
            password=self.password,
            dbname="postgres",
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=True,
        ) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists:
                return False
            connection.execute(f'CREATE DATABASE "{name}"')
            return True

    def _initdb(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        password_file = self.folder / ".initdb-password"
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o600)
        if self._account is not None:
            os.chown(password_file, self._account.pw_uid, self._account.pw_gid)
        base = [self._bin("initdb"), "-D", str(self.data_dir), "-U", SUPERUSER]
        base += [f"--pwfile={password_file}", "--auth-host=scram-sha-256", "--auth-local=peer"]
        base += ["--encoding=UTF8"]
        try:
            errors = []
            for locale in ("C.UTF-8", "C"):
                result = self._as_server([*base, f"--locale={locale}"])
                if result.returncode == 0:
                    return
                errors.append(f"--locale={locale}: {result.stdout}{result.stderr}")
                shutil.rmtree(self.data_dir, ignore_errors=True)
            raise PostgresUnavailable("initdb failed\n" + "\n".join(errors))
        finally:
            password_file.unlink(missing_ok=True)

    def _stop_leftover(self) -> None:
        # A server left running by a killed profile, or a stale pid file after a crash.
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown; recovery on the next start
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)

    def _bin(self, name: str) -> str:
        return str(self.bindir / name)

    def _as_server(
        self, command: list[str], timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        if self._account is not None:
            if shutil.which("runuser"):
                command = ["runuser", "-u", self._account.pw_name, "--", *command]
            else:
                command = ["su", self._account.pw_name, "-s", "/bin/sh", "-c", shlex.join(command)]
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.folder,
            env=env,
            stdin=subprocess.DEVNULL,
        )

    def _log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def server_account() -> pwd.struct_passwd:
    """The account the server runs as under root, created when missing."""
    try:
        return pwd.getpwnam(SUPERUSER)
    except KeyError:
        pass
    try:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", SUPERUSER],
            check=True,
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        return pwd.getpwnam(SUPERUSER)
    except (OSError, subprocess.SubprocessError, KeyError) as exc:
        raise PostgresUnavailable(
            f"running as root and could not create the {SUPERUSER!r} account: {exc}"
        ) from exc


def _check_reachable(folder: Path, account: pwd.struct_passwd) -> None:
    """Every directory above `folder` must let the server's account through."""
    for parent in folder.resolve().parents:
        mode = parent.stat()
        if mode.st_uid == account.pw_uid:
            continue
        if not mode.st_mode & stat.S_IXOTH:
            raise PostgresUnavailable(
                f"the {account.pw_name!r} account the server runs as cannot enter {parent} "
                f"(mode {stat.filemode(mode.st_mode)}); choose a folder it can reach, or "
                f"chmod o+x {parent}"
            )

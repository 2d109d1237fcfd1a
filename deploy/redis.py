"""A local Redis for Rasa's lock store: 127.0.0.1 only, a password, no persistence.

A lock lives for one turn, so nothing is saved to disk (`save ""`, `appendonly no`): a
restarted Redis simply starts without locks. The password is in a config file of mode 0600,
not on the command line where `ps` would show it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from deploy.processes import Service

START_TIMEOUT = 20.0
DEBIAN_BINARY = "/usr/bin/redis-server"


class RedisUnavailable(RuntimeError):
    """redis-server is not installed here."""


def find_redis_server() -> str:
    found = shutil.which("redis-server") or (
        DEBIAN_BINARY if Path(DEBIAN_BINARY).exists() else None
    )
    if found is None:
        raise RedisUnavailable(
            "redis-server not found; install it (Debian/Ubuntu: apt-get install redis-server)"
        )
    return found


def redis_service(folder: Path, *, port: int, password: str) -> Service:
    """The Redis service (not started), its files and log in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "redis.conf"
    config.touch(mode=0o600)
    config.chmod(0o600)
    config.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {port}",
                f"dir {folder}",
                'save ""',
                "appendonly no",
                "daemonize no",
                f"requirepass {password}",
                "",
            ]
        )
    )
    return Service(
        "redis",
        [find_redis_server(), str(config)],
        env={},
        log_path=folder / "redis.log",
        cwd=folder,
        health_url=None,
        start_timeout=START_TIMEOUT,
    )


def wait_ready(port: int, password: str, timeout: float = START_TIMEOUT) -> None:
    """Return once Redis answers PING on 127.0.0.1:`port`."""
    import time

    import redis

    client = redis.Redis(
        host="127.0.0.1", port=port, password=password, socket_timeout=2, socket_connect_timeout=2
    )
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
    finally:
        client.close()

"""Resident memory and start times of this process's children, read from /proc (no psutil).

`Sampler` sums VmRSS over every descendant of the benchmark process (the services it started
and their own children) a few times a second and keeps the peak of that sum: the memory the
services held at the same moment. `spawned_at` is when the oldest descendant started, on the
clock `now()` reads (seconds since boot), so "time to first reply" starts at the first spawn.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def now() -> float:
    """Seconds since boot: the clock /proc's process start times are on."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def descendants(pid: int | None = None) -> list[int]:
    tree = _children()
    found, stack = [], [pid or os.getpid()]
    while stack:
        for child in tree.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def started_at(pid: int) -> float | None:
    """When the process started, in seconds since boot."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19]) / TICKS


def spawned_at() -> float | None:
    """When the oldest running descendant of this process started (seconds since boot)."""
    times = [t for t in map(started_at, descendants()) if t is not None]
    return min(times, default=None)


class Sampler:
    """Peak of the summed VmRSS of this process's descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peak_kb = 0
        self.high_water_kb: dict[int, int] = {}  # pid → VmHWM last seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def sample(self) -> None:
        pids = descendants()
        total = sum(_status_kb(pid, "VmRSS") for pid in pids)
        self.peak_kb = max(self.peak_kb, total)
        for pid in pids:
            self.high_water_kb[pid] = max(self.high_water_kb.get(pid, 0), _status_kb(pid, "VmHWM"))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def peak_mib(self) -> float:
        return self.peak_kb / 1024

    @property
    def high_water_mib(self) -> float:
        """The sum of each process's own peak (an upper bound: peaks at different moments)."""
        return sum(self.high_water_kb.values()) / 1024

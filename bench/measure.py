"""Running one child process and measuring it: wall time, CPU time (user + sys of the child and the
children it waited for, from wait4), peak memory (the summed RSS of its process tree, sampled every
20 ms, and at least the child's own ru_maxrss), and how busy the rest of the machine was meanwhile
(other work shares the two cores and makes wall times noisy)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SAMPLE_EVERY_S = 0.02


@dataclass(frozen=True)
class Sample:
    wall_s: float
    cpu_s: float
    peak_mb: float
    stdout: str
    others_cores: float = 0.0  # CPU the rest of the machine used meanwhile, in cores (noise)


class ChildFailedError(Exception):
    pass


def run(args: Sequence[str], env: Mapping[str, str] | None = None) -> Sample:
    """Run `args` to the end; raise ChildFailedError (with its stderr) if it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy_before = busy_s()
        started = time.perf_counter()
        proc = subprocess.Popen(list(args), stdout=out, stderr=err, env=None if env is None else dict(env))
        peak = _Peak(proc.pid)
        peak.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        busy = busy_s() - busy_before
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        peak.stop()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise ChildFailedError(f"{' '.join(args[:3])} … exited with {proc.returncode}:\n{stderr[-3000:]}")
    peak_mb = max(peak.peak_bytes, usage.ru_maxrss * 1024) / 2**20
    cpu = usage.ru_utime + usage.ru_stime
    return Sample(wall, cpu, peak_mb, stdout, max(busy - cpu, 0.0) / wall)


def busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores; /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class _Peak(threading.Thread):
    """The largest summed RSS of a process and its descendants seen while it runs."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_bytes = pid, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(self.pid))
            self._stop_event.wait(SAMPLE_EVERY_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def tree_rss_bytes(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue  # it ended meanwhile
    return total

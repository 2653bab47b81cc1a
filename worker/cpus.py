"""How many cores this worker may use: its cgroup's CPU limit, else the cores it may run on.

os.cpu_count() counts the node's cores. In a pod limited to 2 CPUs on a 64-core node, libav's "auto"
thread counts would start 16 decoder threads (libavcodec's cap), 96 x264 threads and 64 slice threads
per filter graph for every render, all waiting on a 2-CPU quota (the kernel throttles the pod for the
rest of each period). A CPU limit is the cgroup's CFS quota: `cpu.max` in cgroup v2, the
`cpu.cfs_quota_us` / `cpu.cfs_period_us` pair in v1. /proc/self/cgroup names the process's cgroup
(`/` inside a container with its own cgroup namespace; `/system.slice/x.service` for a systemd service
on the host), and a limit set on any cgroup above it holds too, so the smallest on the way up counts.
A cpuset (taskset, Kubernetes' static CPU manager) shows in the process's affinity.
"""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePosixPath

CGROUP = "/sys/fs/cgroup"
SELF_CGROUP = "/proc/self/cgroup"
_V1_CONTROLLERS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def quota_cpus(quota: str, period: str) -> float | None:
    """Cores a CFS quota allows (`max` or -1: no limit; None also for what cannot be read as one)."""
    quota, period = quota.strip(), period.strip()
    if quota in ("max", "-1"):
        return None
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def own_cgroups(self_cgroup: str) -> tuple[str, dict[str, str]]:
    """The process's cgroup v2 path and its v1 path per controller, from /proc/self/cgroup's text
    (lines `id:controllers:path`; v2's has no controllers)."""
    v2, v1 = "/", {}
    for line in self_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            v2 = path or "/"
            continue
        for name in controllers.split(","):
            v1[name] = path or "/"
    return v2, v1


def _up_from(root: Path, path: str) -> list[Path]:
    """The folders from the cgroup at `path` up to the mount's root (a path the mount does not show,
    as the host's view seen from inside a container, starts at the root)."""
    parts = [p for p in PurePosixPath(path).parts if p != "/"]
    folders = [root.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]
    return [f for f in folders if f.is_dir()] or [root]


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def cgroup_cpus(root: str = CGROUP, self_cgroup: str = SELF_CGROUP) -> float | None:
    """The CPU limit on this process's cgroup or any above it (None: no limit, or none readable)."""
    v2_path, v1_paths = own_cgroups(_read(Path(self_cgroup)) or "")
    limits: list[float] = []
    if Path(root, "cgroup.controllers").exists():  # cgroup v2 (unified)
        for folder in _up_from(Path(root), v2_path):
            text = _read(folder / "cpu.max")
            fields = text.split() if text else []
            limit = quota_cpus(*fields) if len(fields) == 2 else None
            if limit is not None:
                limits.append(limit)
    else:
        for controller in _V1_CONTROLLERS:
            mount = Path(root, controller)
            if not mount.is_dir():
                continue
            path = v1_paths.get("cpu", "/")
            for folder in _up_from(mount, path):
                quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
                limit = quota_cpus(quota, period) if quota is not None and period is not None else None
                if limit is not None:
                    limits.append(limit)
            break
    return min(limits) if limits else None


def available_cpus(root: str = CGROUP, self_cgroup: str = SELF_CGROUP) -> float:
    """The cores this process may use: the smaller of its CPU limit and the cores it may run on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpus(root, self_cgroup)
    return float(cores) if limit is None else min(float(cores), limit)


def cores_per_slot(cpus: float, slots: int) -> int:
    """Whole cores each of `slots` concurrent renders has (at least one)."""
    return max(1, math.floor(cpus / max(slots, 1)))

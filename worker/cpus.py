"""How many cores this worker may use: the container's CPU limit, else the cores it may run on.

os.cpu_count() counts the node's cores. In a pod limited to 2 CPUs on a 64-core node, libav's "auto"
thread counts would start about 65 decoder threads, 96 x264 threads and 64 slice threads per filter
graph for every render, all waiting on a 2-CPU quota (the kernel throttles the pod for the rest of each
period). Kubernetes writes a CPU limit as the cgroup's CFS quota: `cpu.max` in cgroup v2, the
`cpu.cfs_quota_us` / `cpu.cfs_period_us` pair in v1. A cpuset (taskset, static CPU manager) shows in
the process's affinity.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = "/sys/fs/cgroup"


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


def cgroup_cpus(root: str = CGROUP) -> float | None:
    """The CPU limit of this process's cgroup as it is mounted in the container (None: no limit)."""
    v2 = Path(root, "cpu.max")
    try:
        quota, period = v2.read_text().split()
        return quota_cpus(quota, period)
    except FileNotFoundError:
        pass
    except (OSError, ValueError):
        return None
    for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        folder = Path(root, controller)
        try:
            return quota_cpus(
                (folder / "cpu.cfs_quota_us").read_text(), (folder / "cpu.cfs_period_us").read_text()
            )
        except OSError:
            continue
    return None


def available_cpus(root: str = CGROUP) -> float:
    """The cores this process may use: the smaller of its CPU limit and the cores it may run on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpus(root)
    return float(cores) if limit is None else min(float(cores), limit)


def cores_per_slot(cpus: float, slots: int) -> int:
    """Whole cores each of `slots` concurrent renders has (at least one)."""
    return max(1, math.floor(cpus / max(slots, 1)))

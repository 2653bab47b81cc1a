"""The cores a worker may use (its container's CPU limit, not the node's cores) and the threads each
render starts from its share of them; checked on a real render by counting the process's threads."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import pytest

from cli.samples import make_video
from worker import cpus
from worker.job import render_threads
from worker.plan import OutputSpec, Shot, VariantPlan
from worker.render import render_variant
from worker.render.threads import Threads, for_cores
from worker.settings import WorkerSettings


@pytest.mark.parametrize(
    ("quota", "period", "cores"),
    [("200000", "100000", 2.0), ("50000", "100000", 0.5), ("max", "100000", None), ("-1", "100000", None),
     ("0", "100000", None), ("x", "100000", None), ("150000\n", "100000\n", 1.5)],
)  # fmt: skip
def test_a_cfs_quota_reads_as_cores(quota: str, period: str, cores: float | None) -> None:
    assert cpus.quota_cpus(quota, period) == cores


def cgroup_v2(root: Path, limits: dict[str, str], own: str) -> tuple[str, str]:
    """A cgroup v2 mount with cpu.max in the given folders, and a /proc/self/cgroup naming `own`."""
    (root / "cgroup.controllers").parent.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpu memory\n")
    for folder, limit in limits.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "cpu.max").write_text(limit + "\n")
    me = root.parent / f"{root.name}-self"
    me.write_text(f"0::{own}\n")
    return str(root), str(me)


def test_the_limit_comes_from_the_cgroup_v2_the_process_is_in_or_above_it(tmp_path: Path) -> None:
    # In a container with its own cgroup namespace, the cgroup is the mount's root.
    assert cpus.cgroup_cpus(*cgroup_v2(tmp_path / "pod", {".": "300000 100000"}, "/")) == 3.0
    assert cpus.cgroup_cpus(*cgroup_v2(tmp_path / "free", {".": "max 100000"}, "/")) is None
    # A systemd service on the host: its own cgroup has no limit, its slice has 1.5 CPUs.
    tree = {".": "max 100000", "system.slice": "150000 100000", "system.slice/x.service": "max 100000"}
    assert cpus.cgroup_cpus(*cgroup_v2(tmp_path / "host", tree, "/system.slice/x.service")) == 1.5
    # The smallest limit on the way up holds; a path the mount does not show starts at its root.
    tree = {".": "max 100000", "a": "400000 100000", "a/b": "200000 100000"}
    assert cpus.cgroup_cpus(*cgroup_v2(tmp_path / "nested", tree, "/a/b")) == 2.0
    assert cpus.cgroup_cpus(*cgroup_v2(tmp_path / "unseen", {".": "100000 100000"}, "/elsewhere/c")) == 1.0


def test_the_limit_comes_from_cgroup_v1(tmp_path: Path) -> None:
    for controller in ("cpu", "cpu,cpuacct"):
        root = tmp_path / f"v1-{controller}"
        (root / controller / "docker" / "abc").mkdir(parents=True)
        (root / controller / "cpu.cfs_quota_us").write_text("-1\n")
        (root / controller / "cpu.cfs_period_us").write_text("100000\n")
        (root / controller / "docker" / "abc" / "cpu.cfs_quota_us").write_text("250000\n")
        (root / controller / "docker" / "abc" / "cpu.cfs_period_us").write_text("100000\n")
        me = tmp_path / f"self-{controller}"
        me.write_text("5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n")
        assert cpus.cgroup_cpus(str(root), str(me)) == 2.5
        me.write_text("4:cpu,cpuacct:/\n")  # inside the container's namespace: the mount's root
        assert cpus.cgroup_cpus(str(root), str(me)) is None

    assert cpus.cgroup_cpus(str(tmp_path / "nothing-mounted"), str(tmp_path / "no-such-file")) is None


def test_own_cgroups_reads_proc_self_cgroup() -> None:
    v2, v1 = cpus.own_cgroups("12:cpu,cpuacct:/kubepods/pod1/c1\n1:name=systemd:/x\n0::/kubepods/pod1/c1\n")
    assert v2 == "/kubepods/pod1/c1" and v1["cpu"] == v1["cpuacct"] == "/kubepods/pod1/c1"
    assert cpus.own_cgroups("garbage\n") == ("/", {})


def test_available_cpus_is_the_smaller_of_the_limit_and_the_affinity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    pod = cgroup_v2(tmp_path / "pod", {".": "200000 100000"}, "/")
    assert cpus.available_cpus(*pod) == 2.0  # a 2-CPU pod on a 64-core node
    free = cgroup_v2(tmp_path / "free", {".": "max 100000"}, "/")
    assert cpus.available_cpus(*free) == 64.0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3, 5}, raising=False)
    assert cpus.available_cpus(*free) == 2.0  # pinned to two cores, no quota


def test_each_render_gets_its_slots_share() -> None:
    assert cpus.cores_per_slot(2.0, 1) == 2
    assert cpus.cores_per_slot(1.5, 1) == 1
    assert cpus.cores_per_slot(0.5, 1) == 1  # a render always has a core's worth of threads
    assert cpus.cores_per_slot(16.0, 3) == 5
    assert for_cores(1) == Threads(decoder=2, encoder=2, filters=1)
    assert for_cores(2) == Threads(decoder=3, encoder=3, filters=1)  # libav on 2 cores, graphs aside
    assert for_cores(4) == Threads(decoder=5, encoder=6, filters=1)
    assert for_cores(8) == Threads(decoder=9, encoder=12, filters=8)
    assert for_cores(64) == Threads(decoder=16, encoder=96, filters=64)


def test_the_worker_sizes_threads_by_its_settings_or_its_container(monkeypatch: pytest.MonkeyPatch) -> None:
    assert render_threads(WorkerSettings(cpus=8.0, slots=2)) == for_cores(4)
    monkeypatch.setattr(cpus, "available_cpus", lambda root=cpus.CGROUP: 2.0)
    assert render_threads(WorkerSettings(slots=1)) == for_cores(2)
    assert render_threads(WorkerSettings(slots=2)) == for_cores(1)


def peak_threads_of_a_render(source: str, out: str, threads: Threads) -> int:
    """The most threads the process had while rendering, above what it had before."""
    output = OutputSpec(width=360, height=640, fps=Fraction(25), codec="h264", crf=30, preset="veryfast",
                        video_bitrate_kbps=None, gop=None, audio_bitrate_kbps=64)  # fmt: skip
    plan = VariantPlan(index=0, output=output, shots=(
        Shot("a", Fraction(0), Fraction(2), is_image=False, volume=1.0, effect="zoomin"),
        Shot("a", Fraction(1), Fraction(2), is_image=False, volume=1.0),
    ))  # fmt: skip
    before = len(os.listdir("/proc/self/task"))
    seen = [before]
    render_variant(plan, {"a": source}, out, threads=threads,
                   on_progress=lambda _: seen.append(len(os.listdir("/proc/self/task"))))  # fmt: skip
    with av.open(out) as c:
        assert sum(1 for _ in c.decode(video=0)) == plan.frame_count
    return max(seen) - before


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_a_render_starts_the_threads_it_is_given_and_no_more(tmp_path: Path) -> None:
    source = str(tmp_path / "a.mp4")
    make_video(source, 640, 360, 4.0)
    few = peak_threads_of_a_render(source, str(tmp_path / "few.mp4"), for_cores(1))
    many = peak_threads_of_a_render(source, str(tmp_path / "many.mp4"), for_cores(8))
    # One core: 2 decoder threads, 2 x264 threads and their helpers (7 with libav 8); no graph's pool.
    assert few <= 12, few
    # Eight: 9 decoder threads, 12 x264 threads, 8 slice threads in each picture graph (56 with libav 8).
    assert many > few + 30, (few, many)

"""The frame cache shares framed shots between variants without changing a pixel, stays within its
bound, and is safe for two render slots: in memory (FrameCache) and on disk (FrameSpill) alike. On
disk it is also shared by the worker processes that name the same folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import pytest

from cli.samples import make_image, make_video
from worker.errors import MaterialUnreadableError
from worker.job import frame_cache
from worker.plan import OutputSpec, Shot, StickerLayer, VariantPlan
from worker.render import frame_spill, render_variant
from worker.render.frame_cache import FrameCache, LookupOnly, ShotCache, frame_bytes
from worker.render.frame_spill import FrameSpill
from worker.render.video import Canvas, shot_video_frames
from worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
FPS = Fraction(25)
A, B, STILL, LOGO = "file:///a.mp4", "file:///b.mp4", "file:///c.png", "file:///logo.png"
SHOT_BYTES = 180 * 320 * 3 // 2  # one yuv420p canvas frame


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("media")
    paths = {A: str(folder / "a.mp4"), B: str(folder / "b.mp4"), STILL: str(folder / "c.png"),
             LOGO: str(folder / "logo.png")}  # fmt: skip
    make_video(paths[A], 320, 240, 2.0)
    make_video(paths[B], 240, 320, 2.0, tone_hz=660, chroma=(90, 170))
    make_image(paths[STILL], 400, 300)
    make_image(paths[LOGO], 40, 40, (255, 200, 0))
    return paths


@pytest.fixture(params=["memory", "disk"])
def make_cache(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[int], ShotCache]:
    def make(limit_bytes: int) -> ShotCache:
        if request.param == "memory":
            return FrameCache(limit_bytes)
        return FrameSpill(tmp_path / f"frames-{limit_bytes}", limit_bytes)

    return make


def plan(index: int, first: str = A, effect: str = "") -> VariantPlan:
    spec = OutputSpec(180, 320, FPS, "h264", 23, "veryfast", None, None, 128)
    shots = (
        Shot(first, Fraction(1, 5), Fraction(1), is_image=False, volume=1.0, effect=effect),
        Shot(STILL, Fraction(0), Fraction(2, 5), is_image=True, volume=0.0),
        Shot(B, Fraction(0), Fraction(4, 5), is_image=False, volume=0.5),
    )
    stickers = (StickerLayer(LOGO, 10 * index, 20, 40, 40, 0.6),)  # each variant its own overlay
    return VariantPlan(index=index, shots=shots, output=spec, stickers=stickers)


def pictures(path: str) -> list[bytes]:
    with av.open(path) as c:
        return [b"".join(bytes(p) for p in f.planes) for f in c.decode(video=0)]


def test_variants_sharing_shots_take_them_from_the_cache_pixel_for_pixel(
    sources: dict[str, str], tmp_path: Path, make_cache: Callable[[int], ShotCache]
) -> None:
    cache = make_cache(64 << 20)
    for k in (0, 1, 2):
        render_variant(plan(k), sources, str(tmp_path / f"cached-{k}.mp4"), frame_cache=cache)
        render_variant(plan(k), sources, str(tmp_path / f"fresh-{k}.mp4"))
    stats = cache.stats()
    assert (stats["misses"], stats["hits"], stats["shots"]) == (3, 6, 3)
    per_frame = stats["bytes"] / (25 + 1 + 20)  # the still is one frame, shown ten times (on disk: and
    assert SHOT_BYTES <= per_frame < 1.2 * SHOT_BYTES  # each file's record of its layout, a few hundred B)
    for k in (0, 1, 2):
        assert pictures(str(tmp_path / f"cached-{k}.mp4")) == pictures(str(tmp_path / f"fresh-{k}.mp4"))


def test_an_effect_is_applied_after_the_cache(
    sources: dict[str, str], tmp_path: Path, make_cache: Callable[[int], ShotCache]
) -> None:
    cache = make_cache(64 << 20)
    render_variant(plan(0), sources, str(tmp_path / "plain.mp4"), frame_cache=cache)
    render_variant(plan(0, effect="zoomin"), sources, str(tmp_path / "cached.mp4"), frame_cache=cache)
    render_variant(plan(0, effect="zoomin"), sources, str(tmp_path / "fresh.mp4"))
    assert cache.stats()["hits"] == 3
    assert pictures(str(tmp_path / "cached.mp4")) == pictures(str(tmp_path / "fresh.mp4"))
    assert pictures(str(tmp_path / "cached.mp4")) != pictures(str(tmp_path / "plain.mp4"))


def test_the_cache_keeps_within_its_bound_dropping_the_least_recently_used(
    sources: dict[str, str], tmp_path: Path, make_cache: Callable[[int], ShotCache]
) -> None:
    cache = make_cache(30 * SHOT_BYTES)  # room for shot A (25 frames) and the still, not for B (20) too
    render_variant(plan(0), sources, str(tmp_path / "out.mp4"), frame_cache=cache)
    stats = cache.stats()
    assert stats["peak_bytes"] <= 30 * SHOT_BYTES and stats["evictions"] >= 1 and stats["shots"] < 3
    too_small = make_cache(SHOT_BYTES // 2)
    render_variant(plan(0), sources, str(tmp_path / "out.mp4"), frame_cache=too_small)
    assert too_small.stats()["shots"] == 0 and too_small.stats()["bytes"] == 0


def test_another_file_at_the_same_path_is_not_taken_from_the_cache(
    sources: dict[str, str], tmp_path: Path, make_cache: Callable[[int], ShotCache]
) -> None:
    path = tmp_path / "clip.mp4"
    make_video(str(path), 320, 240, 2.0)
    mine = dict(sources, **{A: str(path)})
    cache = make_cache(64 << 20)
    render_variant(plan(0), mine, str(tmp_path / "first.mp4"), frame_cache=cache)
    make_video(str(path), 320, 240, 2.0, chroma=(200, 60))  # replaced in place
    render_variant(plan(0), mine, str(tmp_path / "cached.mp4"), frame_cache=cache)
    render_variant(plan(0), mine, str(tmp_path / "fresh.mp4"))
    assert pictures(str(tmp_path / "cached.mp4")) == pictures(str(tmp_path / "fresh.mp4"))
    assert cache.stats()["misses"] == 4  # A twice; the still and B once each


def test_two_slots_rendering_the_same_cached_shots_at_once(
    sources: dict[str, str], tmp_path: Path, make_cache: Callable[[int], ShotCache]
) -> None:
    cache = make_cache(64 << 20)
    render_variant(plan(0), sources, str(tmp_path / "warm.mp4"), frame_cache=cache)
    errors: list[BaseException] = []

    def slot(k: int) -> None:
        try:
            for round_ in range(3):
                render_variant(plan(k), sources, str(tmp_path / f"slot-{k}-{round_}.mp4"), frame_cache=cache)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=slot, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in (1, 2):
        render_variant(plan(k), sources, str(tmp_path / f"fresh-{k}.mp4"))
        expected = pictures(str(tmp_path / f"fresh-{k}.mp4"))
        for round_ in range(3):
            assert pictures(str(tmp_path / f"slot-{k}-{round_}.mp4")) == expected


def test_a_bad_source_fails_the_same_with_the_cache(
    sources: dict[str, str], tmp_path: Path, make_cache: Callable[[int], ShotCache]
) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    with pytest.raises(MaterialUnreadableError):
        render_variant(plan(0, first=A), dict(sources, **{A: str(bad)}), str(tmp_path / "o.mp4"),
                       frame_cache=make_cache(64 << 20))  # fmt: skip


def test_one_frame_cache_per_process_and_size() -> None:
    settings = WorkerSettings()
    assert frame_cache(settings) is frame_cache(replace(settings, slots=2))
    assert isinstance(frame_cache(settings), FrameSpill)  # on disk by default
    assert frame_cache(settings).limit_bytes == 4096 << 20
    assert frame_cache(replace(settings, frame_cache_mb=1024)).limit_bytes == 1 << 30
    assert frame_cache(replace(settings, frame_spill_mb=0)).limit_bytes == 0  # neither: off


def test_the_disk_cache_is_chosen_by_its_setting_and_a_stopped_render_keeps_nothing(
    tmp_path: Path, sources: dict[str, str]
) -> None:
    settings = WorkerSettings(cache_dir=str(tmp_path), frame_spill_mb=64)
    spill = frame_cache(settings)
    assert isinstance(spill, FrameSpill) and spill.limit_bytes == 64 << 20
    assert spill.folder == tmp_path / "frames"
    assert isinstance(frame_cache(replace(settings, frame_cache_mb=8)), FrameCache)  # memory wins
    # A render that stops half-way keeps nothing and leaves no file, its lock included.
    frames = render_frames(plan(0), sources, spill)
    next(frames)
    assert sorted(p.suffix for p in spill.folder.iterdir()) == [".lock", ".part"]
    frames.close()
    assert spill.stats()["shots"] == 0 and spill.stats()["bytes"] == 0
    assert list(spill.folder.iterdir()) == []


RENDER_ONE = """
import json, sys
sys.path[:0] = [{root!r}, {tests!r}]
from test_frame_cache import plan
from worker.render import render_variant
from worker.render.frame_spill import FrameSpill
spill = FrameSpill({folder!r}, 64 << 20)
render_variant(plan(0), {sources!r}, {out!r}, frame_cache=spill)
print(json.dumps(spill.stats()))
"""


def test_worker_processes_naming_one_folder_share_its_shots(sources: dict[str, str], tmp_path: Path) -> None:
    """A shot written by one worker is read by the next, in another process; a shot another render is
    writing now is not written twice, and the render that finds it so decodes it for itself."""
    folder = tmp_path / "frames"
    script = RENDER_ONE.format(root=str(ROOT), tests=str(Path(__file__).parent), folder=str(folder),
                               sources=sources, out=str(tmp_path / "other.mp4"))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["misses"] == 3 and len(list(folder.glob("*.frames"))) == 3
    here = FrameSpill(folder, 64 << 20)
    render_variant(plan(1), sources, str(tmp_path / "here.mp4"), frame_cache=here)
    render_variant(plan(1), sources, str(tmp_path / "fresh.mp4"))
    assert (here.stats()["hits"], here.stats()["misses"], here.stats()["shots"]) == (3, 0, 3)
    assert pictures(str(tmp_path / "here.mp4")) == pictures(str(tmp_path / "fresh.mp4"))
    # Another render is writing shot A (its lock held): this one decodes A and writes nothing of it.
    busy = tmp_path / "busy"
    first = FrameSpill(busy, 64 << 20)
    frames = render_frames(plan(0), sources, first)
    next(frames)  # A's first frame made: its lock is held while it is written
    second = FrameSpill(busy, 64 << 20)
    render_variant(plan(0), sources, str(tmp_path / "beside.mp4"), frame_cache=second)
    render_variant(plan(0), sources, str(tmp_path / "fresh-0.mp4"))
    assert pictures(str(tmp_path / "beside.mp4")) == pictures(str(tmp_path / "fresh-0.mp4"))
    assert len(list(busy.glob("*.frames"))) == 2  # the still and B; A is still on its way, the first's
    assert len(list(busy.glob("*.part"))) == 1 and len(list(busy.glob("*.lock"))) == 1
    for _ in frames:
        pass
    assert len(list(busy.glob("*.frames"))) == 3 and not list(busy.glob("*.part"))


def test_the_bound_holds_across_processes_the_least_recently_used_going_first(
    sources: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "frames"
    render_variant(plan(0), sources, str(tmp_path / "one.mp4"), frame_cache=FrameSpill(folder, 64 << 20))
    kept = {p: p.stat().st_size for p in folder.glob("*.frames")}
    still = min(kept, key=kept.__getitem__)  # one frame
    a = max(kept, key=kept.__getitem__)  # 25 frames; B has 20
    (b,) = set(kept) - {a, still}
    for when, path in enumerate((a, b, still), start=1):  # A the longest unused, then B, then the still
        os.utime(path, ns=(when * 10**9, when * 10**9))
    # Another process's cache, with room for these three and half as much again: a new shot of 25
    # frames needs one of them gone, the least recently used (A), and only that.
    other = FrameSpill(folder, sum(kept.values()) + kept[a] // 2)
    render_variant(plan(0, first=B), sources, str(tmp_path / "other.mp4"), frame_cache=other)
    stats = other.stats()
    assert (stats["evictions"], stats["hits"], stats["misses"]) == (1, 2, 1)
    assert not a.exists() and b.exists() and still.exists()
    assert stats["shots"] == 3 and stats["bytes"] <= other.limit_bytes


HOLD_LOCK = """
import fcntl, sys, time
f = open(sys.argv[1], "wb")
fcntl.flock(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_what_writers_that_are_gone_left_is_removed(tmp_path: Path, sources: dict[str, str]) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "abc.x1.part").write_bytes(b"cut short")  # its writer gone: no one holds it
    (folder / "abc.lock").write_bytes(b"")
    (folder / "kept.frames").write_bytes(b"whole")
    gone = folder / "spill-gone"  # a process's folder of an earlier version, its process gone
    gone.mkdir()
    (gone / "0.frames").write_bytes(b"x")
    (gone / ".lock").write_bytes(b"")
    held = folder / "def.x2.part"  # being written by a live process
    held.write_bytes(b"on its way")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(held)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        spill = FrameSpill(folder, 64 << 20)
        assert sorted(p.name for p in folder.iterdir()) == ["def.x2.part", "kept.frames"]
        # A writer killed while this process runs on: its part goes as room is made for the next shot.
        (folder / "ghi.x3.part").write_bytes(b"cut short")
        render_variant(plan(0), sources, str(tmp_path / "out.mp4"), frame_cache=spill)
        assert not (folder / "ghi.x3.part").exists() and (folder / "def.x2.part").exists()
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()


def test_a_full_or_missing_disk_costs_the_reuse_never_the_render(
    tmp_path: Path, sources: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spill = FrameSpill(tmp_path / "frames", 64 << 20)
    made = iter(range(3))

    def new_part(folder: Path, name: str) -> tuple[Path, object]:
        part = folder / f"{name}.{next(made)}.part"
        if part.name.endswith(".0.part"):  # the first shot's file: every write fails
            part.symlink_to("/dev/full")
        return part, part.open("r+b" if part.is_symlink() else "w+b")

    monkeypatch.setattr(frame_spill, "_new_part", new_part)
    render_variant(plan(0), sources, str(tmp_path / "full.mp4"), frame_cache=spill)
    render_variant(plan(0), sources, str(tmp_path / "fresh.mp4"))
    assert pictures(str(tmp_path / "full.mp4")) == pictures(str(tmp_path / "fresh.mp4"))
    assert spill.stats()["shots"] == 2 and spill.stats()["bytes"] < 64 << 20  # the other two shots kept
    assert not list(spill.folder.glob("*.part")) and not list(spill.folder.glob("*.lock"))
    monkeypatch.undo()
    shutil.rmtree(spill.folder)  # the folder is gone: shots pass unkept
    render_variant(plan(1), sources, str(tmp_path / "gone.mp4"), frame_cache=spill)
    render_variant(plan(1), sources, str(tmp_path / "fresh-1.mp4"))
    assert pictures(str(tmp_path / "gone.mp4")) == pictures(str(tmp_path / "fresh-1.mp4"))
    # A cache folder that cannot be made: no reuse, and renders go on.
    (tmp_path / "not-a-folder").write_bytes(b"")
    settings = WorkerSettings(cache_dir=str(tmp_path / "not-a-folder"), frame_spill_mb=64)
    assert frame_cache(settings).limit_bytes == 0


def test_a_batch_of_one_takes_kept_shots_but_keeps_none(sources: dict[str, str], tmp_path: Path) -> None:
    cache = FrameCache(64 << 20)
    render_variant(plan(0), sources, str(tmp_path / "one.mp4"), frame_cache=LookupOnly(cache))
    assert cache.stats()["shots"] == 0 and cache.stats()["misses"] == 3
    render_variant(plan(0), sources, str(tmp_path / "kept.mp4"), frame_cache=cache)
    render_variant(plan(1), sources, str(tmp_path / "taken.mp4"), frame_cache=LookupOnly(cache))
    assert (cache.stats()["shots"], cache.stats()["hits"]) == (3, 3)
    render_variant(plan(1), sources, str(tmp_path / "fresh.mp4"))
    assert pictures(str(tmp_path / "taken.mp4")) == pictures(str(tmp_path / "fresh.mp4"))


def test_damaged_kept_frames_are_dropped_and_the_shot_decoded_again(
    sources: dict[str, str], tmp_path: Path
) -> None:
    spill = FrameSpill(tmp_path / "frames", 64 << 20)
    render_variant(plan(0), sources, str(tmp_path / "first.mp4"), frame_cache=spill)
    kept = sorted(spill.folder.glob("*.frames"))
    assert len(kept) == 3
    with kept[0].open("r+b") as f:  # cut short, as a full disk or a careless hand might leave it
        f.truncate(SHOT_BYTES)
    render_variant(plan(1), sources, str(tmp_path / "again.mp4"), frame_cache=spill)
    render_variant(plan(1), sources, str(tmp_path / "fresh.mp4"))
    assert pictures(str(tmp_path / "again.mp4")) == pictures(str(tmp_path / "fresh.mp4"))
    stats = spill.stats()
    assert (stats["hits"], stats["misses"], stats["shots"]) == (2, 4, 3)  # dropped, decoded, kept anew
    # Another shot's whole file under this shot's name (a hand's copy; a digest's collision) is not it.
    kept = sorted(spill.folder.glob("*.frames"), key=lambda p: p.stat().st_size)
    shutil.copyfile(kept[-1], kept[0])
    render_variant(plan(2), sources, str(tmp_path / "swapped.mp4"), frame_cache=spill)
    render_variant(plan(2), sources, str(tmp_path / "fresh-2.mp4"))
    assert pictures(str(tmp_path / "swapped.mp4")) == pictures(str(tmp_path / "fresh-2.mp4"))
    assert (spill.stats()["hits"], spill.stats()["misses"]) == (4, 5)


def render_frames(p: VariantPlan, sources: dict[str, str], cache: ShotCache) -> Iterator[object]:
    shot, canvas = p.shots[0], Canvas(p.output, p.background)
    return shot_video_frames(sources[shot.source_url], shot.source_url, shot, canvas, 25, cache)


def test_frame_bytes_counts_every_plane() -> None:
    assert SHOT_BYTES <= frame_bytes(av.VideoFrame(180, 320, "yuv420p")) < 1.2 * SHOT_BYTES

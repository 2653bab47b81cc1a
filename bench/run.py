"""Render benchmark: reelmill against one ffmpeg CLI command and MoviePy 2.x on the reference job
(bench/reference.py), and a batch of 20 variants against 20 ffmpeg CLI runs and the x264 floor.

Every tool runs as a child process and is measured from outside (bench/measure.py); the outputs are
checked to be the same video (bench/check.py) before any time is reported. Prints markdown tables.

    .venv/bin/python bench/run.py [--runs 3] [--batch] [--quick] [--tools reelmill,ffmpeg,moviepy]

`make bench` runs the reference job, `make bench-batch` the batch and the render slots.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import imageio_ffmpeg  # noqa: E402

from bench import check, measure  # noqa: E402
from bench.reference import (  # noqa: E402
    FULL,
    PHONE,
    PHONE_QUICK,
    QUICK,
    Composition,
    Size,
    commands,
    composition,
    ffmpeg_command,
    job_document,
    make_media,
    plan_of,
    x264_floor_command,
)
from reelmill.v1 import render_pb2  # noqa: E402

TOOLS = ("reelmill", "ffmpeg", "moviepy")
MOVIEPY_PYTHON = ROOT / ".bench" / "moviepy" / "bin" / "python"
MIN_PSNR_DB = 30.0  # same pictures, each encoded at CRF 27 on its own, stay far above this


@dataclass
class Series:
    """The samples of one thing measured several times."""

    name: str
    samples: list[measure.Sample] = field(default_factory=list)
    note: str = ""
    stats: dict | None = None  # the frame cache's, of the last run

    def median(self, key: Callable[[measure.Sample], float]) -> float:
        return statistics.median(key(s) for s in self.samples)

    def spread(self, key: Callable[[measure.Sample], float]) -> str:
        values = [key(s) for s in self.samples]
        med = statistics.median(values)
        return f"{med:.2f} ({min(values):.2f}–{max(values):.2f})" if len(values) > 1 else f"{med:.2f}"


def wall(s: measure.Sample) -> float:
    return s.wall_s


def cpu(s: measure.Sample) -> float:
    return s.cpu_s


def peak(s: measure.Sample) -> float:
    return s.peak_mb


# -- the single reference job ---------------------------------------------------------------------------


@dataclass
class Setup:
    size: Size
    work: Path
    media: Path
    out: Path
    ffmpeg: str
    cmds: list[render_pb2.RenderCommand]
    comps: list[Composition]


def prepare(work: Path, size: Size, *, batch: bool, count: int = 20) -> Setup:
    media = make_media(work, size)
    out = work / f"out-{size.name}{'-batch' if batch else ''}"
    out.mkdir(parents=True, exist_ok=True)
    doc = job_document(media, out, size, batch=batch)
    if batch:
        doc["OutputConfig"]["Count"] = count
    cmds = commands(doc, media, out)
    comps = [composition(plan_of(c), out, f"variant-{c.index}") for c in cmds]
    return Setup(size, work, media, out, imageio_ffmpeg.get_ffmpeg_exe(), cmds, comps)


def write_commands(setup: Setup, cmds: Sequence[render_pb2.RenderCommand], name: str) -> Path:
    path = setup.out / name
    path.write_text(json.dumps([base64.b64encode(c.SerializeToString()).decode() for c in cmds]))
    return path


def reelmill_args(
    setup: Setup,
    commands_path: Path,
    slots: int = 1,
    frame_cache_mb: int | None = None,
    frame_spill_mb: int | None = None,
) -> list[str]:
    args = [
        sys.executable,
        str(ROOT / "bench" / "reelmill_render.py"),
        str(commands_path),
        "--media",
        str(setup.media),
        "--out",
        str(setup.out),
        "--cache-dir",
        str(setup.work / "cache"),
        "--slots",
        str(slots),
    ]
    if frame_cache_mb is not None:
        args += ["--frame-cache-mb", str(frame_cache_mb)]
    if frame_spill_mb is not None:
        args += ["--frame-spill-mb", str(frame_spill_mb)]
    return args


def reelmill_output(setup: Setup, index: int) -> str:
    return str(setup.out / f"reelmill-{index}.mp4")


def reference(work: Path, size: Size, runs: int, tools: Sequence[str], baseline: Path | None = None) -> str:
    setup = prepare(work, size, batch=False)
    comp = setup.comps[0]
    comp_path = setup.out / "composition.json"
    comp_path.write_text(comp.to_json())
    cmds_path = write_commands(setup, setup.cmds, "commands.json")
    baseline_cmd = render_pb2.RenderCommand()
    baseline_cmd.CopyFrom(setup.cmds[0])
    baseline_cmd.output_url = f"file://{setup.out}/baseline-0.mp4"
    baseline_path = write_commands(setup, [baseline_cmd], "baseline-commands.json")
    outputs = {
        "reelmill": reelmill_output(setup, 0),
        "baseline": str(setup.out / "baseline-0.mp4"),
        "ffmpeg": str(setup.out / "ffmpeg.mp4"),
        "moviepy": str(setup.out / "moviepy.mp4"),
        "ffmpeg-scale-first": str(setup.out / "ffmpeg-scale-first.mp4"),
        "moviepy-scale-first": str(setup.out / "moviepy-scale-first.mp4"),
    }
    moviepy = [str(MOVIEPY_PYTHON), str(ROOT / "bench" / "moviepy_render.py"), str(comp_path)]
    argv = {
        "reelmill": reelmill_args(setup, cmds_path),
        "baseline": reelmill_args(setup, baseline_path),
        "ffmpeg": ffmpeg_command(setup.ffmpeg, comp, outputs["ffmpeg"]),
        "moviepy": [*moviepy, outputs["moviepy"]],
        "ffmpeg-scale-first": ffmpeg_command(
            setup.ffmpeg, comp, outputs["ffmpeg-scale-first"], scale_first=True
        ),
        "moviepy-scale-first": [*moviepy, outputs["moviepy-scale-first"], "scale-first"],
    }
    series = {t: Series(t) for t in tools}
    floor = "reelmill" in tools and "ffmpeg" in tools  # x264 alone on reelmill's frames, in each run
    if floor:
        series[FLOOR] = Series(FLOOR)
    for run in range(runs):
        for tool in tools:  # interleaved, so that a slow moment of the machine is shared out
            Path(outputs[tool]).unlink(missing_ok=True)
            env = None if tool != "baseline" else dict(os.environ, REELMILL_BENCH_CODE=str(baseline))
            sample = measure.run(argv[tool], env)
            check.check(outputs[tool], comp.width, comp.height, comp.fps, comp.duration_s)
            series[tool].samples.append(sample)
            _log_run(run, runs, tool, sample)
        if floor:
            sample = x264_alone(setup, comp, outputs["reelmill"])
            series[FLOOR].samples.append(sample)
            _log_run(run, runs, FLOOR, sample)
    psnr = {}
    if "ffmpeg" in tools:
        for tool in tools:
            if tool != "ffmpeg":
                psnr[tool] = check.psnr_db(setup.ffmpeg, outputs[tool], outputs["ffmpeg"])
                if psnr[tool] < MIN_PSNR_DB:
                    raise check.NotEquivalentError(
                        f"{tool}'s pictures differ from ffmpeg's: {psnr[tool]:.1f} dB"
                    )
    return reference_table(series, psnr, comp, size, runs)


FLOOR = "x264-floor"


def _log_run(run: int, runs: int, tool: str, sample: measure.Sample) -> None:
    print(
        f"  run {run + 1}/{runs} {tool}: {sample.wall_s:.2f} s wall, {sample.cpu_s:.2f} s CPU, "
        f"{sample.peak_mb:.0f} MB",
        file=sys.stderr,
        flush=True,
    )


def x264_alone(setup: Setup, comp: Composition, rendered: str) -> measure.Sample:
    """x264 alone, by the ffmpeg CLI, on the frames of `rendered` (decoded to raw YUV first, untimed): the
    least any tool can take to encode that picture with these settings."""
    raw = setup.out / "frames.yuv"
    decode = [setup.ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", rendered,
              "-f", "rawvideo", "-pix_fmt", "yuv420p", str(raw)]  # fmt: skip
    subprocess.run(decode, check=True)
    try:
        return measure.run(x264_floor_command(setup.ffmpeg, str(raw), comp, "-"))
    finally:
        raw.unlink()


def reference_table(
    series: dict[str, Series], psnr: dict[str, float], comp: Composition, size: Size, runs: int
) -> str:
    rows = [
        f"Reference job ({size.name}): {comp.duration_s:g} s at {comp.width}×{comp.height} {comp.fps} fps, "
        f"{len(comp.shots)} shots, title + logo, speech + music; libx264 CRF {comp.crf} {comp.preset}, "
        f"AAC {comp.audio_kbps} kbps, faststart. Median of {runs} run(s), (min–max).",
        "",
        "| tool | wall s | CPU s | peak RSS MB | wall vs ffmpeg CLI | CPU vs ffmpeg CLI | × realtime "
        "| PSNR vs ffmpeg dB | other load, cores |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = series["ffmpeg"].median(wall) if "ffmpeg" in series else None
    base_cpu = series["ffmpeg"].median(cpu) if "ffmpeg" in series else None
    for name, s in series.items():
        ratio = f"{s.median(wall) / base:.2f}" if base else "–"
        cpu_ratio = f"{s.median(cpu) / base_cpu:.2f}" if base_cpu else "–"
        quality = f"{psnr[name]:.1f}" if name in psnr else "–"
        rows.append(
            f"| {label(name)} | {s.spread(wall)} | {s.median(cpu):.2f} | {s.median(peak):.0f} | {ratio} | "
            f"{cpu_ratio} | {comp.duration_s / s.median(wall):.2f} | {quality} | {s.spread(others)} |"
        )
    rows.append("")
    if base and base_cpu and "reelmill" in series:
        rows.append(
            f"reelmill / ffmpeg CLI: **{series['reelmill'].median(wall) / base:.2f}** wall, "
            f"{series['reelmill'].median(cpu) / base_cpu:.2f} CPU"
        )
    if "moviepy" in series and "reelmill" in series:
        ratio = series["moviepy"].median(wall) / series["reelmill"].median(wall)
        rows.append(f"MoviePy / reelmill (wall): **{ratio:.1f}**")
    if FLOOR in series and base:
        alone = series[FLOOR].median(wall)
        rows.append(
            f"x264 alone on the same frames: {alone / base:.2f} of the ffmpeg command, and reelmill "
            f"{series['reelmill'].median(wall) / alone:.2f} of it (no render encoding these frames with "
            "these settings can take less than x264 alone)."
        )
    for name in ("reelmill", "baseline"):
        if name in series and base:
            inside = statistics.median(run_job_s(x) for x in series[name].samples)
            rows.append(
                f"{label(name)}: run_job itself took {inside:.2f} s ({inside / base:.2f} of the ffmpeg "
                "command); the rest of the child's wall time is Python start-up and imports (a worker pays "
                "it once)."
            )
    return "\n".join(rows)


def run_job_s(s: measure.Sample) -> float:
    """The time the child spent in worker.job.run_job (it prints it)."""
    return sum(json.loads(s.stdout.strip().splitlines()[-1])["seconds"].values())


def label(tool: str) -> str:
    return {
        "reelmill": "reelmill (worker.job.run_job, child process)",
        "ffmpeg": "ffmpeg CLI, one command",
        "moviepy": "MoviePy 2.2.1",
        "baseline": "reelmill, baseline checkout (--baseline)",
        "ffmpeg-scale-first": "ffmpeg CLI, scale to cover then crop",
        "moviepy-scale-first": "MoviePy 2.2.1, resize to cover then crop",
        FLOOR: "x264 alone on reelmill's frames (ffmpeg CLI, raw input)",
    }.get(tool, tool)


# -- the batch ---------------------------------------------------------------------------------------------


def log(what: str, s: measure.Sample) -> None:
    print(
        f"  {what}: {s.wall_s:.1f} s wall, {s.cpu_s:.1f} s CPU, {s.peak_mb:.0f} MB",
        file=sys.stderr,
        flush=True,
    )


@dataclass(frozen=True)
class WorkerConfig:
    """One way of running reelmill's worker on the batch."""

    name: str
    slots: int = 1
    cache_mb: int = 0  # frames kept in memory
    spill_mb: int = 0  # frames kept on disk
    processes: int = 1  # worker processes, each on a core of its own
    frames: str = "shared"  # their frames on disk: one folder for all, or "own": one each


def reference_workers(sized_cache_mb: int, small_cache_mb: int) -> list[WorkerConfig]:
    return [
        WorkerConfig(f"{WORKER}frame cache off"),
        WorkerConfig(f"{WORKER}frame cache {small_cache_mb} MB", cache_mb=small_cache_mb),
        WorkerConfig(f"{WORKER}frame cache {sized_cache_mb} MB", cache_mb=sized_cache_mb),
        WorkerConfig(f"{WORKER}2 slots, frame cache {sized_cache_mb} MB", slots=2, cache_mb=sized_cache_mb),
    ]


def phone_workers(spill_mb: int, processes: int = 0) -> list[WorkerConfig]:
    """The phone batch's ways; with `processes` of 2 or more, also that many worker processes on a core
    each (1-CPU pods of one node) with their frames each in a folder of its own, and in one folder."""
    many = f"reelmill, {processes} worker processes on a core each, "
    return [
        WorkerConfig(f"{WORKER}frame reuse off"),
        WorkerConfig(f"{WORKER}frames kept on disk, {spill_mb} MB", spill_mb=spill_mb),
        WorkerConfig(f"{WORKER}2 slots, frames kept on disk, {spill_mb} MB", slots=2, spill_mb=spill_mb),
        *(
            WorkerConfig(
                f"{many}frames kept on disk, {where}", spill_mb=spill_mb, processes=processes, frames=frames
            )
            for frames, where in (("own", "a folder each"), ("shared", "one folder for all"))
            if processes > 1
        ),
    ]


def batch(
    work: Path,
    size: Size,
    count: int,
    floor_every: int,
    workers: Sequence[WorkerConfig],
    rounds: int,
) -> str:
    setup = prepare(work, size, batch=True, count=count)
    cmds_path = write_commands(setup, setup.cmds, "commands.json")
    variants = list(zip(setup.comps, setup.cmds, strict=True))

    def ffmpeg_runs() -> tuple[measure.Sample, dict | None]:  # one command per variant, one after another
        samples = []
        for comp, cmd in variants:
            out = str(setup.out / f"ffmpeg-{cmd.index}.mp4")
            samples.append(measure.run(ffmpeg_command(setup.ffmpeg, comp, out)))
            check.check(out, comp.width, comp.height, comp.fps, comp.duration_s)
        first_done[FFMPEG_RUNS.format(count=count)] = samples[0].wall_s
        return total(samples), None

    def worker(config: WorkerConfig) -> Callable[[], tuple[measure.Sample, dict | None]]:
        def run() -> tuple[measure.Sample, dict | None]:  # one process renders them all, as a worker does
            args = reelmill_args(setup, cmds_path, config.slots, config.cache_mb, config.spill_mb)
            if config.processes > 1:
                args += ["--processes", str(config.processes), "--frames", config.frames]
            s = measure.run(args)
            for comp, cmd in variants:
                check.check(
                    reelmill_output(setup, cmd.index), comp.width, comp.height, comp.fps, comp.duration_s
                )
            facts = json.loads(s.stdout.strip().splitlines()[-1])
            first_done[config.name] = min(facts.get("done_at", {}).values(), default=0.0)
            return s, facts["cache"]

        return run

    def x264_floor() -> tuple[measure.Sample, dict | None]:  # x264 alone on reelmill's output frames
        sampled = variants[::floor_every]
        samples = [x264_alone(setup, comp, reelmill_output(setup, cmd.index)) for comp, cmd in sampled]
        return scaled(total(samples), count / len(samples)), None

    sampled = f" (on {len(variants[::floor_every])} of {count} variants, scaled)" if floor_every > 1 else ""
    first_done: dict[str, float] = {}
    configs = [
        (FFMPEG_RUNS.format(count=count), ffmpeg_runs),
        *((w.name, worker(w)) for w in workers),
        (f"x264 alone on the same frames (ffmpeg CLI, raw input){sampled}", x264_floor),
    ]
    results: dict[str, Series] = {name: Series(name) for name, _ in configs}
    for r in range(rounds):  # interleaved rounds: a busy moment of the machine is shared out
        for name, fn in configs:
            sample, stats = fn()
            results[name].samples.append(sample)
            results[name].note = cache_note(stats)
            results[name].stats = stats
            log(f"round {r + 1}/{rounds} {name}", sample)
    return batch_tables(list(results.values()), count, size, rounds, first_done)


FFMPEG_RUNS = "{count} × ffmpeg CLI, one command each"
WORKER = "reelmill, one worker process, "


def total(samples: Sequence[measure.Sample]) -> measure.Sample:
    wall_s = sum(s.wall_s for s in samples)
    others = sum(s.others_cores * s.wall_s for s in samples) / wall_s
    return measure.Sample(wall_s, sum(s.cpu_s for s in samples), max(s.peak_mb for s in samples), "", others)


def scaled(s: measure.Sample, k: float) -> measure.Sample:
    return measure.Sample(s.wall_s * k, s.cpu_s * k, s.peak_mb, "", s.others_cores)


def others(s: measure.Sample) -> float:
    return s.others_cores


def cache_note(stats: dict | None) -> str:
    if not stats or not stats.get("limit_bytes"):
        return ""
    lookups = stats["hits"] + stats["misses"]
    rate = stats["hits"] / lookups if lookups else 0.0
    return f"hit rate {rate:.0%} ({stats['hits']}/{lookups}), cache peak {stats['peak_bytes'] / 2**20:.0f} MB"


def batch_tables(
    results: list[Series], count: int, size: Size, rounds: int, first_done: dict[str, float]
) -> str:
    ffmpeg, floor = results[0], results[-1]
    slots = [r for r in results if "2 slots" in r.name]
    table = [r for r in results if r not in slots]
    sources = (
        "phone-like sources: 4K HEVC, 10- and 8-bit, 60 and 30 fps, four of six stored sideways"
        if size.phone
        else "1080p H.264 sources"
    )
    out = [
        f"Batch ({size.name}): {count} variants of the reference composition from one pool (3 groups × 2 "
        f"{sources}, 4 titles, 2 logos, 2 musics), rendered one after another. Median of {rounds} round(s) "
        "(min–max); the configurations take turns within each round.",
        "",
        "| what | wall s | per variant s | CPU s | peak RSS MB | wall vs ffmpeg CLI runs "
        "| wall vs x264 floor | CPU vs ffmpeg | CPU vs floor | other load, cores | frame cache |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        w, c = r.median(wall), r.median(cpu)
        out.append(
            f"| {r.name} | {r.spread(wall)} | {w / count:.2f} | {c:.1f} | {r.median(peak):.0f} | "
            f"{w / ffmpeg.median(wall):.2f} | {w / floor.median(wall):.2f} | {c / ffmpeg.median(cpu):.2f} | "
            f"{c / floor.median(cpu):.2f} | {r.spread(others)} | {r.note} |"
        )
    one = next(
        (
            r
            for r in results
            if slots and r.name.endswith(slots[0].name.rsplit(", ", 1)[-1]) and r not in slots
        ),
        None,
    )
    if slots and one is not None:
        out += [
            "",
            "| render slots (one process, same frame cache) | wall s | variants per minute | CPU s "
            "| peak RSS MB | other load, cores |",
            "|---|---|---|---|---|---|",
        ]
        for n, r in ((1, one), (2, slots[0])):
            out.append(
                f"| {n} | {r.spread(wall)} | {count / r.median(wall) * 60:.2f} | {r.median(cpu):.1f} | "
                f"{r.median(peak):.0f} | {r.spread(others)} |"
            )
    out += [
        "",
        "| first video done after, s (last round) | first | first vs one ffmpeg command |",
        "|---|---|---|",
    ]
    one_command = first_done.get(ffmpeg.name, 0.0)
    for name, seconds in first_done.items():
        ratio = f"{seconds / one_command:.2f}" if one_command else "–"
        out.append(f"| {name} | {seconds:.2f} | {ratio} |")
    out += [
        "",
        "| frame cache (last round) | hits | misses | hit rate | evictions | peak MB | limit MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        st = r.stats
        if st:
            lookups = st["hits"] + st["misses"]
            out.append(
                f"| {r.name.removeprefix(WORKER)} | {st['hits']} | {st['misses']} | "
                f"{st['hits'] / max(lookups, 1):.0%} | {st['evictions']} | {st['peak_bytes'] / 2**20:.0f} | "
                f"{st['limit_bytes'] / 2**20:.0f} |"
            )
    return "\n".join(out)


# -- main ------------------------------------------------------------------------------------------------


def machine() -> str:
    cpu_name = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import av

    ffmpeg_version = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-version"], capture_output=True, text=True
    ).stdout.split("\n", 1)[0]
    return (
        f"{time.strftime('%Y-%m-%d')}; {os.cpu_count()} cores ({cpu_name}), {mem_gb:.0f} GiB; "
        f"Python {platform.python_version()}, PyAV {av.__version__} (libav {av.ffmpeg_version_info}); "
        f"{ffmpeg_version.split(' Copyright')[0]} (imageio-ffmpeg {imageio_ffmpeg.__version__})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--runs", type=int, default=3, help="runs of each tool on the reference job (median reported)"
    )
    p.add_argument(
        "--quick", action="store_true", help="a tiny version (360×640, 3 s) to check the code works"
    )
    p.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help="which of reelmill,ffmpeg,moviepy (reference job); also ffmpeg-scale-first and "
        "moviepy-scale-first: the usual scale-to-cover-then-crop graph",
    )
    p.add_argument(
        "--baseline", type=Path, help="also measure the reelmill of another checkout (before/after)"
    )
    p.add_argument(
        "--batch", action="store_true", help="also the batch: 20 variants, x264 floor, render slots"
    )
    p.add_argument("--no-reference", action="store_true", help="skip the reference job (with --batch)")
    p.add_argument(
        "--phone",
        action="store_true",
        help="also the batch from phone-like sources (4K HEVC, 10/8-bit, 60/30 fps, turned)",
    )
    p.add_argument("--frame-spill-mb", type=int, default=8000, help="disk for kept frames in the phone batch")
    p.add_argument(
        "--worker-processes",
        type=int,
        default=min(len(os.sched_getaffinity(0)), 4),
        help="the phone batch also by this many worker processes, a core each (fewer than 2: not)",
    )
    p.add_argument(
        "--batch-reuse",
        choices=["memory", "disk"],
        default="memory",
        help="the reference batch's frame reuse: memory caches of two sizes and 2 slots, or frames on disk",
    )
    p.add_argument("--count", type=int, default=20, help="variants in the batch")
    p.add_argument("--rounds", type=int, default=1, help="rounds of the batch (median reported)")
    p.add_argument("--floor-every", type=int, default=1, help="x264 floor on every k-th variant, scaled")
    p.add_argument(
        "--frame-cache-mb",
        type=int,
        default=5000,
        help="a frame cache big enough for the batch's shots (also measured: off and --small-frame-cache-mb)",
    )
    p.add_argument(
        "--small-frame-cache-mb", type=int, default=2000, help="a frame cache too small for all the shots"
    )
    p.add_argument(
        "--work", default=str(ROOT / ".bench"), help="media, outputs and caches (kept between runs)"
    )
    args = p.parse_args(argv)
    size = QUICK if args.quick else FULL
    work = Path(args.work).resolve()
    tools = [t for t in args.tools.split(",") if t]
    if any(t.startswith("moviepy") for t in tools) and not MOVIEPY_PYTHON.exists():
        sys.exit("MoviePy's virtualenv is missing: run `make bench-env` (or leave it out with --tools)")
    print(f"Machine: {machine()}\n")
    if not args.no_reference:
        if args.baseline:
            tools.insert(1, "baseline")
        print(reference(work, size, args.runs, tools, args.baseline and args.baseline.resolve()), flush=True)
    if args.batch:
        print()
        workers = (
            reference_workers(args.frame_cache_mb, args.small_frame_cache_mb)
            if args.batch_reuse == "memory"
            else phone_workers(args.frame_spill_mb)
        )
        print(batch(work, size, args.count, args.floor_every, workers, args.rounds), flush=True)
    if args.phone:
        print()
        phone = PHONE_QUICK if args.quick else PHONE
        workers = phone_workers(args.frame_spill_mb, args.worker_processes)
        print(batch(work, phone, args.count, args.floor_every, workers, args.rounds), flush=True)


if __name__ == "__main__":
    main()

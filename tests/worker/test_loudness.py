"""Even sound (issue 16): every output normalised to the loudness target on its final mix, whatever
the narration and music were, with true peaks under the ceiling; measured on the decoded MP4."""

from __future__ import annotations

import math
import wave
from array import array
from fractions import Fraction
from pathlib import Path

import av
import pytest

from cli.samples import make_music, make_video, make_wav
from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2
from worker.job import JobState, run_job
from worker.narration import Cue, Narration
from worker.render import audio
from worker.render.audio import Loudness, measure
from worker.settings import WorkerSettings


def loudness_of(path: str) -> Loudness:
    """EBU R128 of the MP4's decoded AAC track (libavfilter's ebur128, on 48 kHz stereo as decoded)."""
    with av.open(path) as c:
        stream = c.streams.audio[0]
        assert (stream.rate, stream.channels) == (48000, 2)
        return measure(list(c.decode(stream)))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("loud")
    make_video(str(folder / "clip.mp4"), 160, 90, 6.0, tone_hz=500)
    make_music(str(folder / "loud.m4a"), 3.0, tone_hz=180, amplitude=0.9)
    make_music(str(folder / "soft.wav"), 3.0, tone_hz=250, amplitude=0.05)
    make_wav(str(folder / "quiet.wav"), 5.0, tone_hz=300, amplitude=0.05)
    make_wav(str(folder / "loud.wav"), 5.0, tone_hz=350, amplitude=0.95)
    make_peaky_wav(str(folder / "peaky.wav"), 5.0)
    return folder


def make_peaky_wav(path: str, seconds: float, rate: int = 24000) -> None:
    """A soft tone with 10 ms bursts at full scale every second: raising it to -14 LUFS needs
    the limiter (the bursts would go far over 0 dBFS)."""
    samples = array("h")
    for i in range(int(seconds * rate)):
        burst = (i % rate) < rate // 100
        amplitude = 0.95 if burst else 0.05
        samples.append(int(32767 * amplitude * math.sin(2 * math.pi * 400 * i / rate)))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def render(media: Path, tmp_path: Path, name: str, speech: str | None, music: str, music_volume: float,
           audio: cfg.AudioSettings | None = None) -> str:  # fmt: skip
    def narrate(text: str, voice: str, rate: int, language: str) -> Narration:
        seconds = Fraction(5)
        return Narration(str(media / f"{text}.wav"), seconds, (Cue(Fraction(0), seconds, text),), text, voice)

    ic = cfg.InputConfig(
        media_group_array=[
            cfg.MediaGroup(group_name="g", media_array=[f"file://{media}/clip.mp4"], duration=5)
        ],
        background_music_array=[f"file://{media}/{music}"],
        speech_text_array=[speech] if speech else [],
    )
    ec = cfg.EditingConfig(
        media_config=cfg.MediaConfig(volume=0.5),
        background_music_config=cfg.BackgroundMusicConfig(volume=music_volume),
        speech_config=cfg.SpeechConfig(subtitles=False),
    )
    oc = cfg.OutputConfig(width=160, height=288, audio=audio or cfg.AudioSettings())
    cmd = render_pb2.RenderCommand(
        batch_id="b", sub_job_id=f"b-{name}", index=0, count=1, seed=1, input_config=ic, editing_config=ec,
        output_config=oc, output_url=f"file://{tmp_path}/{name}.mp4",
    )  # fmt: skip
    settings = WorkerSettings(media_roots=(str(media),), output_dir=str(tmp_path))
    done = run_job(cmd, settings, JobState(), narrate=narrate)
    return done.media_url.removeprefix("file://")


def test_outputs_with_different_narrations_and_music_all_land_on_the_target(
    media: Path, tmp_path: Path
) -> None:
    cases = {
        "quiet-voice": ("quiet", "soft.wav", 0.2),
        "peaky-voice": ("peaky", "soft.wav", 0.1),
        "loud-voice-loud-music": ("loud", "loud.m4a", 1.0),
        "music-only": (None, "loud.m4a", 0.3),
        "soft-music-only": (None, "soft.wav", 0.5),
    }
    raw = {}
    for name, (speech, music, volume) in cases.items():
        out = loudness_of(render(media, tmp_path, name, speech, music, volume))
        assert out.integrated_lufs == pytest.approx(-14, abs=1), name
        assert out.true_peak_db <= -1.0, name
        raw[name] = loudness_of(
            render(media, tmp_path, f"{name}-raw", speech, music, volume, cfg.AudioSettings(normalize=False))
        )
    # Without normalisation they were far apart: this is what the normalisation evened out.
    spread = max(r.integrated_lufs for r in raw.values()) - min(r.integrated_lufs for r in raw.values())
    assert spread > 10


def test_a_job_sets_its_own_target_and_ceiling(media: Path, tmp_path: Path) -> None:
    audio = cfg.AudioSettings(loudness=-23, true_peak=-3)
    out = loudness_of(render(media, tmp_path, "broadcast", "loud", "loud.m4a", 1.0, audio))
    assert out.integrated_lufs == pytest.approx(-23, abs=1) and out.true_peak_db <= -3.0


@pytest.mark.parametrize("music", ["seam.m4a", "seam.wav"])
def test_music_loops_without_a_gap(media: Path, tmp_path: Path, music: str) -> None:
    """A 1 s steady tone looped under 5 s: no 5 ms stretch of the output falls quiet at a seam (the
    AAC padding of an .m4a's last frame is not played)."""
    make_music(str(media / music), 1.0, tone_hz=200, amplitude=0.5)
    path = render(media, tmp_path, f"loop-{music}", None, music, 1.0, cfg.AudioSettings(normalize=False))
    with av.open(path) as c:
        left = array("f")
        for frame in c.decode(audio=0):
            left.frombytes(bytes(frame.planes[0])[: 4 * frame.samples])
    window = 240  # 5 ms at 48 kHz
    levels = [
        math.sqrt(sum(x * x for x in left[i : i + window]) / window)
        for i in range(48000 // 10, len(left) - 48000 * 11 // 10, window)  # away from the fade-out
    ]
    typical = sorted(levels)[len(levels) // 2]
    assert min(levels) > 0.7 * typical


def test_cuts_between_shots_crossfade_without_a_dip(tmp_path: Path) -> None:
    """Two clips of steady tones, cut at 1.5 s: the sound passes from one to the other without falling
    quiet (each shot's sound runs on under the next one's for 20 ms)."""
    make_video(str(tmp_path / "a.mp4"), 160, 90, 3.0, tone_hz=300)
    make_video(str(tmp_path / "b.mp4"), 160, 90, 3.0, tone_hz=450)
    groups = [
        cfg.MediaGroup(group_name=g, media_array=[f"file://{tmp_path}/{g}.mp4"], duration=1.5)
        for g in ("a", "b")
    ]
    cmd = render_pb2.RenderCommand(
        batch_id="b", sub_job_id="b-x", index=0, count=1, seed=1,
        input_config=cfg.InputConfig(media_group_array=groups),
        output_config=cfg.OutputConfig(width=160, height=288, audio=cfg.AudioSettings(normalize=False)),
        output_url=f"file://{tmp_path}/cut.mp4",
    )  # fmt: skip
    done = run_job(cmd, WorkerSettings(media_roots=(str(tmp_path),), output_dir=str(tmp_path)), JobState())
    with av.open(done.media_url.removeprefix("file://")) as c:
        left = array("f")
        for frame in c.decode(audio=0):
            left.frombytes(bytes(frame.planes[0])[: 4 * frame.samples])
    window, cut = 240, 72000  # 5 ms; the cut at 1.5 s
    levels = [
        math.sqrt(sum(x * x for x in left[i : i + window]) / window)
        for i in range(cut - 48000 // 10, cut + 48000 // 10, window)
    ]
    typical = sorted(levels)[len(levels) // 2]
    assert min(levels) > 0.6 * typical, [round(v / typical, 2) for v in levels]


def test_the_mix_is_made_once_and_sounds_as_when_made_again(
    media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The peaky narration needs the limiter and its corrections: every pass replays the mix made for
    the measurement. Made again for each pass (a mix longer than KEEP_MIX_S), the output is the same."""
    made: list[int] = []
    real = audio.Mixer

    def counted(*args: object) -> audio.Mixer:
        made.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(audio, "Mixer", counted)
    kept = decoded_samples(render(media, tmp_path, "kept", "peaky", "soft.wav", 0.1))
    assert len(made) == 1
    made.clear()
    monkeypatch.setattr(audio, "KEEP_MIX_S", 0)
    again = decoded_samples(render(media, tmp_path, "again", "peaky", "soft.wav", 0.1))
    assert len(made) >= 3  # measured, limited and measured again, and the final pass
    assert kept == again


def decoded_samples(path: str) -> bytes:
    with av.open(path) as c:
        return b"".join(bytes(f.planes[0])[: 4 * f.samples] + bytes(f.planes[1])[: 4 * f.samples]
                        for f in c.decode(audio=0))  # fmt: skip

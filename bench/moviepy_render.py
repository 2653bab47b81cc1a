"""The reference composition in MoviePy 2.x, as its documentation writes it.

Runs in its own virtualenv (.bench/moviepy, `make bench-env`): MoviePy 2.2 requires Pillow < 12 and
reelmill pins Pillow 13. Reads a composition (bench/reference.py's Composition as JSON):

    .bench/moviepy/bin/python bench/moviepy_render.py composition.json out.mp4 [scale-first]
"""

from __future__ import annotations

import json
import sys

from moviepy import (
    AudioFileClip,
    CompositeAudioClip,
    CompositeVideoClip,
    ImageClip,
    VideoFileClip,
    afx,
    concatenate_videoclips,
)


def main(composition_path: str, out: str, scale_first: bool = False) -> None:
    with open(composition_path, encoding="utf-8") as f:
        c = json.load(f)
    size, duration = (c["width"], c["height"]), c["duration_s"]
    shots = []
    for shot in c["shots"]:
        w, h, x, y = shot["crop"]
        clip = VideoFileClip(shot["path"], audio=False).subclipped(
            shot["in_s"], shot["in_s"] + shot["duration_s"]
        )
        if scale_first:  # as MoviePy's documentation frames a clip: resize to cover, then crop the middle
            k = max(size[0] / clip.w, size[1] / clip.h)
            big = clip.resized(k)
            shots.append(big.cropped(x_center=big.w / 2, y_center=big.h / 2, width=size[0], height=size[1]))
        else:  # crop first: only the part that survives is resized (what reelmill and the ffmpeg command do)
            shots.append(clip.cropped(x1=x, y1=y, width=w, height=h).resized(size))
    base = concatenate_videoclips(shots)
    s = c["sticker"]
    logo = (
        ImageClip(s["path"])
        .resized((s["width"], s["height"]))
        .with_opacity(s["opacity"])
        .with_position((s["x"], s["y"]))
        .with_duration(duration)
    )
    title = (
        ImageClip(c["title"]["path"])
        .with_position((c["title"]["x"], c["title"]["y"]))
        .with_duration(duration)
    )
    # use_bgclip: the shots are an opaque background, so the result has no mask (no alpha to carry along)
    video = CompositeVideoClip([base, logo, title], size=size, use_bgclip=True).with_duration(duration)
    speech = AudioFileClip(c["speech"]["path"]).with_volume_scaled(c["speech"]["volume"])
    music = (
        AudioFileClip(c["music"]["path"])
        .subclipped(0, duration)
        .with_volume_scaled(c["music"]["volume"])
        .with_effects([afx.AudioFadeOut(c["music"]["fade_out_s"])])
    )
    video = video.with_audio(CompositeAudioClip([speech, music]).with_duration(duration))
    video.write_videofile(
        out,
        fps=c["fps"],
        codec="libx264",
        preset=c["preset"],
        audio_codec="aac",
        audio_bitrate=f"{c['audio_kbps']}k",
        audio_fps=48000,
        pixel_format="yuv420p",
        # MoviePy hands ffmpeg RGB frames: convert them with the BT.709 matrix the output is tagged with
        # (ffmpeg's default is BT.601), as reelmill and the ffmpeg command do.
        ffmpeg_params=[
            "-crf",
            str(c["crf"]),
            "-movflags",
            "+faststart",
            "-vf",
            "scale=out_color_matrix=bt709:out_range=tv",
            "-colorspace",
            "bt709",
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
            "-color_range",
            "tv",
        ],  # fmt: skip
        logger=None,
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], scale_first=sys.argv[3:] == ["scale-first"])

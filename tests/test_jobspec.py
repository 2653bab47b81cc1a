"""The normalised job (reelmill/jobspec.py): every default applied once, precedences decided once, and
the spec carried whole and exact in a render command."""

from __future__ import annotations

from fractions import Fraction

import pytest

from reelmill import jobspec
from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2


def full_configs() -> tuple[cfg.InputConfig, cfg.EditingConfig, cfg.OutputConfig]:
    ic = cfg.InputConfig(media_group_array=[
        cfg.MediaGroup(group_name="a", media_array=["a"], duration=2.5, volume=0.4),
        cfg.MediaGroup(group_name="b", media_array=["b"], speech_text_array=["hello"]),
    ])  # fmt: skip
    ec = cfg.EditingConfig(
        media_config=cfg.MediaConfig(gain=0.7),
        speech_config=cfg.SpeechConfig(voice="en-male-1, ,en-female-1", speech_language="en", speech_rate=-40,
                                       subtitles=False, volume=1.5),
        background_music_config=cfg.BackgroundMusicConfig(volume=0.3, ducking=False),
        process_config=cfg.ProcessConfig(single_shot_duration=2.2, image_duration=1.5, alignment_mode="Cut",
                                         allow_transition=True, transition_duration=0.3,
                                         transition_list=["fade"], use_uniform_transition=False,
                                         allow_vfx_effect=True, vfx_effect_probability=0.25,
                                         allow_filter=True, filter_list=["mono"]),
        background_image_config=cfg.BackgroundImageConfig(sub_type="Blur", radius=12),
    )  # fmt: skip
    oc = cfg.OutputConfig(width=720, height=1280, max_duration=9.5, fixed_duration=8,
                          video=cfg.VideoSettings(fps=29.97, codec="H.265", crf=30, preset="fast", gop=48),
                          audio=cfg.AudioSettings(bitrate=96, loudness=-20, true_peak=-2))  # fmt: skip
    return ic, ec, oc


def test_an_empty_job_gets_every_default() -> None:
    spec = jobspec.normalise(cfg.InputConfig(media_array=["x"]), cfg.EditingConfig(), cfg.OutputConfig())
    assert spec.job_type == "Smart_Mix"
    assert spec.output == jobspec.OutputSpec(
        1080, 1920, Fraction(30), "h264", 23, "veryfast", None, None, 128, -14.0, -1.0
    )  # normalised to -14 LUFS, true peak under -1 dBTP
    assert (spec.requested_width, spec.requested_height) == (1080, 1920)
    t = spec.timing
    assert (t.max_duration_s, t.fixed_duration_s, t.group_durations_s) == (None, None, ())
    assert (t.single_shot_s, t.image_s, t.transition_s, t.auto_speed) == (3, 3, 0, False)
    look = spec.look
    assert look.transitions == jobspec.DEFAULT_TRANSITIONS and look.uniform_transition
    assert not look.effects and look.effect_probability == 0.5 and not look.filter
    assert (look.background, look.background_color, look.blur_radius) == ("Crop", "#000000", 20.0)
    assert spec.sound == jobspec.Sound(1.0, (), 1.0, 0.2, True)  # no narration: the clips are heard
    assert spec.speech == jobspec.Speech("zh", (), 0, True)


def test_what_a_job_says_wins_and_is_exact() -> None:
    spec = jobspec.normalise(*full_configs())
    assert spec.job_type == "Script"
    assert spec.output == jobspec.OutputSpec(
        720, 1280, Fraction(30000, 1001), "hevc", 30, "fast", None, 48, 96, -20.0, -2.0
    )
    t = spec.timing
    assert (t.max_duration_s, t.fixed_duration_s) == (Fraction(19, 2), Fraction(8))
    assert t.group_durations_s == (Fraction(5, 2), Fraction(11, 5))  # without Duration: SingleShotDuration
    assert (t.single_shot_s, t.image_s, t.auto_speed) == (Fraction(11, 5), Fraction(3, 2), False)
    assert t.transition_s == 8 / Fraction(30000, 1001)  # 0.3 s at 29.97 is 8.99 frames: an even 8
    look = spec.look
    assert (look.transitions, look.uniform_transition, look.effect_probability) == (("fade",), False, 0.25)
    assert look.first_effects == look.other_effects == jobspec.VFX_EFFECTS  # none given: all of them
    assert (look.filter, look.filters, look.background, look.blur_radius) == (True, ("mono",), "Blur", 12.0)
    # a narration: the clips' own sound off unless MediaConfig says otherwise (here Gain, Volume's alias)
    assert spec.sound == jobspec.Sound(0.7, (0.4, None), 1.5, 0.3, False)
    assert spec.speech == jobspec.Speech("en", ("en-male-1", "en-female-1"), -40, False)


def test_a_narration_silences_the_clips_by_default() -> None:
    ic = cfg.InputConfig(media_array=["x"], speech_text_array=["hi"])
    assert jobspec.normalise(ic, cfg.EditingConfig(), cfg.OutputConfig()).sound.media_volume == 0.0


def test_a_bitrate_wins_over_crf() -> None:
    oc = cfg.OutputConfig(video=cfg.VideoSettings(bitrate=900, crf=30))
    spec = jobspec.output_spec(oc)
    assert (spec.video_bitrate_kbps, spec.crf) == (900, None)


def test_a_preview_is_small_and_fast() -> None:
    preview = jobspec.output_spec(cfg.OutputConfig(generate_preview_only=True))
    assert (preview.width, preview.height, preview.preset) == (360, 640, "ultrafast")
    assert jobspec.preview_size(320, 480) == (320, 480)  # small enough already


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        (30.0, Fraction(30)),
        (29.97, Fraction(30000, 1001)),
        (23.976, Fraction(24000, 1001)),
        (12.5, Fraction(25, 2)),
    ],
)
def test_frame_rates_are_exact(fps: float, expected: Fraction) -> None:
    assert jobspec.exact_fps(fps) == expected


def test_the_spec_travels_whole_and_exact_in_a_command() -> None:
    spec = jobspec.normalise(*full_configs())
    data = jobspec.encode(spec)
    assert b'"30000/1001"' in data  # a Fraction as its exact text, never a rounded float
    assert jobspec.decode(data) == spec
    cmd = render_pb2.RenderCommand(spec=data)
    assert jobspec.of_command(cmd) == spec


def test_a_command_without_a_spec_is_normalised_by_the_same_rules() -> None:
    ic, ec, oc = full_configs()
    cmd = render_pb2.RenderCommand(input_config=ic, editing_config=ec, output_config=oc)
    assert jobspec.of_command(cmd) == jobspec.normalise(ic, ec, oc)


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b'{"job_type": "Script"}',
        jobspec.encode(jobspec.normalise(*full_configs())).replace(b"30000/1001", b"3/0"),
    ],
)
def test_a_spec_that_does_not_decode_is_a_spec_error(data: bytes) -> None:
    with pytest.raises(jobspec.SpecError, match="does not decode"):
        jobspec.decode(data)


def test_ice_names_are_rendered_by_the_nearest_of_ours_and_reported() -> None:
    ec = cfg.EditingConfig(
        speech_config=cfg.SpeechConfig(voice="zhiqi,en-male-1,andy"),
        process_config=cfg.ProcessConfig(transition_list=["directional", "fade"], filter_list=["m3", "pl2"],
                                         vfx_first_clip_effect_list=["slightshake"]),
    )  # fmt: skip
    ic, oc = cfg.InputConfig(media_array=["x"]), cfg.OutputConfig()
    spec = jobspec.normalise(ic, ec, oc)
    assert spec.look.transitions == ("slideleft", "fade") and spec.look.filters == ("vintage", "vivid")
    assert spec.look.first_effects == ("shake",)
    assert spec.speech.voices == ("zh-female-1", "en-male-1", "en-male-1")  # by language and gender
    assert jobspec.substitutions(ic, ec, oc) == (
        "EditingConfig.ProcessConfig.TransitionList[0]: directional → slideleft (nearest look)",
        "EditingConfig.ProcessConfig.VfxFirstClipEffectList[0]: slightshake → shake (nearest look)",
        "EditingConfig.ProcessConfig.FilterList[0]: m3 → vintage (nearest look of its family)",
        "EditingConfig.ProcessConfig.FilterList[1]: pl2 → vivid (nearest look of its family)",
        "EditingConfig.SpeechConfig.Voice: zhiqi → zh-female-1 (an offline voice of its language and gender)",
        "EditingConfig.SpeechConfig.Voice: andy → en-male-1 (an offline voice of its language and gender)",
    )
    assert jobspec.substitutions(cfg.InputConfig(), cfg.EditingConfig(), oc) == ()


def test_ice_fields_behave_as_ice_documents_them() -> None:
    ic = cfg.InputConfig(
        media_group_array=[cfg.MediaGroup(group_name="a", media_array=["x"]),
                           cfg.MediaGroup(group_name="b", media_array=["y"], split_mode="AverageSplit")],
        speech_text="one narration", background_image_array=["bg.png"],
    )  # fmt: skip
    ec = cfg.EditingConfig(process_config=cfg.ProcessConfig(enable_clip_split=False),
                           background_image_config=cfg.BackgroundImageConfig(radius=0.1))  # fmt: skip
    oc = cfg.OutputConfig(width=720, height=1280)
    spec = jobspec.normalise(ic, ec, oc)
    assert spec.timing.group_splits == (False, True) and not spec.timing.pool_split  # SplitMode wins
    assert spec.sound.media_volume == 0.0  # SpeechText narrates, as SpeechTextArray does
    assert spec.look.background == "Image"  # background pictures given: used, as ICE does
    assert spec.look.blur_radius == pytest.approx(72.0)  # 0.1 of the width, as ICE clients mean it
    for ice_type, ours in (("blur", "Blur"), ("COLOUR", "Color"), ("Image", "Image"), ("crop", "Crop")):
        bg = cfg.BackgroundImageConfig(type=ice_type)
        assert (
            jobspec.normalise(ic, cfg.EditingConfig(background_image_config=bg), oc).look.background == ours
        )
    bg = cfg.BackgroundImageConfig(type="blur", sub_type="Color")
    assert jobspec.normalise(ic, cfg.EditingConfig(background_image_config=bg), oc).look.background == "Color"


def test_what_only_ices_cloud_has_is_reported_not_refused() -> None:
    ic = cfg.InputConfig(title="T", title_array=["A"], sticker=cfg.Sticker(media_url="s.png", dync_frames=12))
    ec = cfg.EditingConfig(
        speech_config=cfg.SpeechConfig(style="Gentle",
                                       asr_config=cfg.TextStyle(aai_motion_in_effect="wave_in")),
        background_music_config=cfg.BackgroundMusicConfig(style="bgm-relaxing"),
        title_config=cfg.TextStyle(adapt_mode="AutoWrap", spacing=0),
    )  # fmt: skip
    oc = cfg.OutputConfig(storage_location="vod.example", file_name="a_{index}.mp4")
    assert jobspec.substitutions(ic, ec, oc) == (
        "EditingConfig.TitleConfig.AdaptMode: AutoWrap → not rendered (texts wrap at TextWidth)",
        "EditingConfig.TitleConfig.Spacing: 0.0 → not rendered (no letter spacing)",
        "EditingConfig.SpeechConfig.AsrConfig.AaiMotionInEffect: wave_in → not rendered (no text animation)",
        "EditingConfig.SpeechConfig.Style: Gentle → not rendered (ICE's cloud speaking styles)",
        "EditingConfig.BackgroundMusicConfig.Style: bgm-relaxing → not used (no music library: give "
        "BackgroundMusicArray)",
        "InputConfig.Sticker.DyncFrames: 12 → drawn as a still picture",
        "OutputConfig.StorageLocation: vod.example → not used (outputs go to MediaURL or the output folder)",
        "OutputConfig.FileName: a_{index}.mp4 → not used (outputs go to MediaURL or the output folder)",
        "InputConfig.Title: ignored (TitleArray is given)",
    )


def test_loudness_normalisation_can_be_turned_off() -> None:
    oc = cfg.OutputConfig(audio=cfg.AudioSettings(normalize=False, loudness=-20))
    assert jobspec.output_spec(oc).loudness_lufs is None

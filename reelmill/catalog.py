"""The names the editing model accepts, in one place: the gateway validates against them and the
worker implements exactly them (tests check the renderer and docs/job-reference.md)."""

from __future__ import annotations

SPLIT_MODES = ("AverageSplit", "NoSplit")
ALIGNMENT_MODES = ("AutoSpeed", "Cut")
BACKGROUND_TYPES = ("Crop", "Blur", "Color", "Image")
TEXT_ALIGNMENTS = (
    "TopLeft", "TopCenter", "TopRight", "CenterLeft", "Center", "CenterRight",
    "BottomLeft", "BottomCenter", "BottomRight",
)  # fmt: skip
# libavfilter's xfade transitions.
TRANSITIONS = (
    "fade", "fadeblack", "fadewhite", "dissolve", "wipeleft", "wiperight", "wipeup", "wipedown",
    "slideleft", "slideright", "slideup", "slidedown", "circlecrop", "circleopen", "circleclose",
    "rectcrop", "distance", "radial", "smoothleft", "smoothright", "smoothup", "smoothdown",
    "horzopen", "horzclose", "vertopen", "vertclose", "diagtl", "diagtr", "diagbl", "diagbr",
    "pixelize", "zoomin", "hblur", "fadegrays",
)  # fmt: skip
VFX_EFFECTS = ("zoomin", "zoomout", "blur", "shake")
# A still's gentle pan and zoom (Ken Burns), which the planner gives every still without another effect
# when effects are allowed; the suffix says where the pan goes.
KEN_BURNS = ("kenburns-right", "kenburns-left", "kenburns-down", "kenburns-up")
FILTERS = ("warm", "cool", "mono", "vintage", "vivid")

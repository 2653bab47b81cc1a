"""ICE's names for what only its cloud renders, each mapped to the nearest thing reelmill renders.

ICE documents name GL transitions (`directional`, `simplezoom`, ...), its own effects (`slightshake`,
`zoominout`), filter families (`m1`…, `pf1`…, `pl1`…) and cloud voices (`zhiqi`, `zhilun`, ...).
reelmill draws libavfilter xfade transitions, four effects, five colour filters and espeak voices
(catalog.py, voices.py). A document with ICE's names is not refused: each name is mapped here by look
(transitions, effects, filters) or by language and gender (voices), and every substitution is
reported with the job (jobspec.substitutions). The looks are approximations, not ICE's renderings.
"""

from __future__ import annotations

import re

from reelmill import catalog, voices

# GL transitions (gl-transitions.com names, lower case as ICE writes them) → xfade, by look.
TRANSITIONS: dict[str, str] = {
    "directional": "slideleft", "directionalwipe": "wipeleft", "directionalwarp": "smoothleft",
    "simplezoom": "zoomin", "crosszoom": "zoomin", "dreamyzoom": "zoomin", "zoomincircles": "circleopen",
    "linearblur": "hblur", "colordistance": "distance", "colourdistance": "distance",
    "crosshatch": "dissolve", "randomsquares": "dissolve", "luminance_melt": "dissolve", "ripple": "dissolve",
    "polkadotscurtain": "dissolve", "dreamy": "fade", "luma": "fade", "fadecolor": "fadeblack",
    "fadegrayscale": "fadegrays", "burn": "fadewhite", "windowslice": "horzopen", "doorway": "horzopen",
    "windowblinds": "vertclose", "circle": "circleopen", "heart": "circleopen", "mosaic": "pixelize",
    "squareswire": "pixelize", "swirl": "radial", "pinwheel": "radial", "angular": "radial",
    "swap": "slideright", "cube": "slideleft", "wind": "wiperight", "bounce": "slidedown",
}  # fmt: skip
# ICE's clip effects → reelmill's four.
EFFECTS: dict[str, str] = {
    "slightshake": "shake", "heavyshake": "shake", "jitter": "shake", "heartbeat": "shake",
    "zoominout": "zoomin", "zoomslight": "zoomin", "movie": "zoomin", "open": "zoomout", "soulout": "blur",
}  # fmt: skip
# ICE's filter families (by the prefix of their ids) → reelmill's colour filters.
FILTER_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^m\d+$"), "vintage"),  # "movie" looks
    (re.compile(r"^pf[0-9a-z]+$"), "warm"),  # portrait
    (re.compile(r"^pl[0-9a-z]+$"), "vivid"),  # landscape
    (re.compile(r"^pj[0-9a-z]+$"), "cool"),  # Japanese-style, cool and light
    (re.compile(r"^(delta|electric|nightview)$"), "cool"),
    (re.compile(r"^(gray|grey|blackwhite|heibai)$"), "mono"),
)
# ICE's cloud voices → (spoken language family, gender); reelmill speaks them with its own voice of both.
VOICES: dict[str, tuple[str, str]] = {
    **dict.fromkeys(
        (
            "zhiqi",
            "zhiru",
            "zhimiao",
            "zhiyan",
            "zhibei_emo",
            "zhimi_emo",
            "zhiyan_emo",
            "xiaoyun",
            "ruoxi",
            "siqi",
            "sijia",
            "aiqi",
            "aijia",
            "ninger",
            "aiwei",
            "aiya",
            "xiaomei",
            "yina",
            "sijing",
            "zhitian",
        ),
        ("cmn", "female"),
    ),  # fmt: skip
    **dict.fromkeys(
        (
            "zhilun",
            "zhigui",
            "zhishuo",
            "zhizhe",
            "xiaogang",
            "sicheng",
            "aicheng",
            "aida",
            "kenny",
            "ruilin",
            "aishuo",
        ),
        ("cmn", "male"),
    ),  # fmt: skip
    **dict.fromkeys(("shanshan", "jiajia", "taozi"), ("yue", "female")),
    **dict.fromkeys(("abby", "emily", "luna", "wendy", "olivia", "annie", "lydia"), ("en", "female")),
    **dict.fromkeys(("andy", "eric", "luca", "william", "harry"), ("en", "male")),
}


def transition(name: str) -> str | None:
    """reelmill's transition for a name of either vocabulary; None if neither knows it."""
    key = name.strip().lower()
    return key if key in catalog.TRANSITIONS else TRANSITIONS.get(key)


def effect(name: str) -> str | None:
    key = name.strip().lower()
    return key if key in catalog.VFX_EFFECTS else EFFECTS.get(key)


def colour_filter(name: str) -> str | None:
    key = name.strip().lower()
    if key in catalog.FILTERS:
        return key
    return next((ours for pattern, ours in FILTER_FAMILIES if pattern.match(key)), None)


def voice(name: str) -> str | None:
    """reelmill's voice for a name of either vocabulary: an ICE voice becomes reelmill's first voice of
    its language and gender."""
    found = voices.find_voice(name)
    if found is not None:
        return found.name
    family_gender = VOICES.get(name.strip().lower())
    if family_gender is None:
        return None
    return next(v.name for v in voices.VOICES if (v.family, v.gender) == family_gender)

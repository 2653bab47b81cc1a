"""The render plan of one variant: pure, deterministic code (no I/O).

model.py holds what a plan is (the timeline, its layers, its JSON); planner.py makes one from a render
command (its job spec and content) and the media and narration facts, with pieces.py (the parts of each
source shots come from), variety.py (what makes variants of a batch differ), layout.py (texts and
stickers in output pixels) and grid.py (time on the frame grid).
"""

from reelmill.jobspec import OutputSpec
from worker.plan.model import (
    Background,
    Caption,
    MediaFacts,
    MusicLayer,
    Shot,
    SpeechLayer,
    StickerLayer,
    TextLook,
    VariantPlan,
)
from worker.plan.planner import plan_variant
from worker.plan.variety import distinct_variants

__all__ = [
    "Background", "Caption", "MediaFacts", "MusicLayer", "OutputSpec", "Shot", "SpeechLayer",
    "StickerLayer", "TextLook", "VariantPlan", "distinct_variants", "plan_variant",
]  # fmt: skip

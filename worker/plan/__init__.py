"""The render plan of one variant: pure, deterministic code (no I/O).

model.py holds what a plan is (the timeline, its layers, its JSON); planner.py makes one from a render
command and the media and narration facts.
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
from worker.plan.planner import distinct_variants, plan_variant

__all__ = [
    "Background", "Caption", "MediaFacts", "MusicLayer", "OutputSpec", "Shot", "SpeechLayer",
    "StickerLayer", "TextLook", "VariantPlan", "distinct_variants", "plan_variant",
]  # fmt: skip

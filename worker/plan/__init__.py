"""The render plan of one variant: pure, deterministic code (no I/O).

model.py holds what a plan is (the timeline, its layers, its JSON); planner.py makes one from a render
command and the media and narration facts.
"""

from worker.plan.model import (
    Background,
    Caption,
    MediaFacts,
    MusicLayer,
    OutputSpec,
    Shot,
    SpeechLayer,
    StickerLayer,
    TextLook,
    VariantPlan,
)
from worker.plan.planner import distinct_variants, exact_fps, output_spec, plan_variant, preview_size

__all__ = [
    "Background", "Caption", "MediaFacts", "MusicLayer", "OutputSpec", "Shot", "SpeechLayer",
    "StickerLayer", "TextLook", "VariantPlan", "distinct_variants", "exact_fps", "output_spec",
    "plan_variant", "preview_size",
]  # fmt: skip

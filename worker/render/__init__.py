"""Rendering with PyAV: probing sources and turning a VariantPlan into an MP4."""

from worker.render.compose import render_variant
from worker.render.probe import probe

__all__ = ["probe", "render_variant"]

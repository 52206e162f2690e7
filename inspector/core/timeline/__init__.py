"""A training run as a timeline: its checkpoints in step order (``discover``), each read once
in float64 chunks (``scan``) and cached per file (``cache``), put together as per-tensor and
per-module series with the run's health findings (``build``, result types in ``model``)."""

from inspector.core.timeline.build import (
    RunProblem,
    TimelineProgress,
    TimelineResult,
    build_timeline,
    iter_timeline,
)
from inspector.core.timeline.discover import RunEntry, RunError, discover_run
from inspector.core.timeline.model import (
    METRICS,
    Series,
    Timeline,
    timeline_to_csv,
    timeline_to_json,
)

__all__ = ["METRICS", "RunEntry", "RunError", "RunProblem", "Series", "Timeline",
           "TimelineProgress", "TimelineResult", "build_timeline", "discover_run",
           "iter_timeline", "timeline_to_csv", "timeline_to_json"]

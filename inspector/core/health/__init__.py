"""Health of checkpoints: NaN/Inf, dead units, BatchNorm variance, float16 overflow,
duplicates (one checkpoint, module ``findings``/``report``), frozen and exploding layers
across a run (``run``), and WeightWatcher's alpha per 2-D layer (``alpha``, on demand)."""

from inspector.core.health.findings import (
           FILE_KINDS,
           KIND_TITLES,
           RUN_KINDS,
           Finding,
           file_findings,
)
from inspector.core.health.report import HealthReport, check_health, report_to_json

__all__ = ["FILE_KINDS", "KIND_TITLES", "RUN_KINDS", "Finding", "HealthReport", "check_health",
           "file_findings", "report_to_json"]

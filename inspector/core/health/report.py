"""The health report of one checkpoint: every tensor read once, then its findings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from inspector.core.checkpoint import CheckpointError
from inspector.core.health.findings import Finding, file_findings


@dataclass(frozen=True)
class HealthReport:
    """One checkpoint's findings (empty: nothing wrong was found)."""

    path: str
    format: str
    tensors: int
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class HealthProgress:
    done: int
    total: int


@dataclass(frozen=True)
class HealthProblem:
    message: str


def check_health(path: str, cancel: Callable[[], bool] | None = None) -> HealthReport:
    """Read every float tensor of the checkpoint at ``path`` and report what is wrong.
    Raises CheckpointError when it cannot be read."""
    from inspector.core.formats import open_checkpoint
    from inspector.core.timeline.scan import scan_checkpoint

    ck = open_checkpoint(path)
    try:
        summary, _ = scan_checkpoint(ck, None, cancel=cancel)
        return HealthReport(ck.path, ck.format, len(summary.tensors),
                            tuple(file_findings(summary)))
    finally:
        ck.close()


def iter_health(path: str) -> Iterator[HealthReport | HealthProblem]:
    """Worker-process job: the report of one checkpoint, or the problem reading it."""
    from inspector.core.jobs import cancel_requested
    from inspector.core.timeline.scan import ScanCancelled

    try:
        yield check_health(path, cancel=cancel_requested)
    except ScanCancelled:
        return
    except CheckpointError as e:
        yield HealthProblem(f"{e.path}: {e.problem}")


def report_to_json(report: HealthReport) -> dict:
    """The stable ``health --json`` document."""
    return {"path": report.path, "format": report.format, "tensors": report.tensors,
            "findings": [f.to_json() for f in report.findings]}

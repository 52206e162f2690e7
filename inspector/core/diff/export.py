"""The diff as the stable ``--json`` document and as CSV."""

from __future__ import annotations

import csv
import json
import os
from typing import IO, Any

from inspector.core.diff.results import DiffEntry, DiffReport, Path, ScalarDiff
from inspector.core.text import dotted_path, json_value, path_to_json

ENTRY_FIELDS = ("status", "dtype_a", "dtype_b", "shape_a", "shape_b", "max_abs_diff",
                "mean_abs_diff", "rel_l2", "cosine", "num_diff", "nan_a", "nan_b")


def _json_path(path: Path | None) -> list | None:
    return None if path is None else path_to_json(path)


def entry_to_json(e: DiffEntry, tolerant: bool = False) -> dict:
    out: dict[str, Any] = {"path": _json_path(e.path)}
    if e.path_a is not None and e.path_a != e.path:
        out["path_a"] = _json_path(e.path_a)
    for name in ENTRY_FIELDS:
        v = getattr(e, name)
        if name.startswith("shape") and v is not None:
            v = list(v)
        out[name] = json_value(v)
    if tolerant:
        out["close"] = e.close
    if e.note:
        out["note"] = e.note
    return out


def scalar_to_json(s: ScalarDiff) -> dict:
    out: dict[str, Any] = {"path": _json_path(s.path)}
    if s.path_a is not None and s.path_a != s.path:
        out["path_a"] = _json_path(s.path_a)
    out.update(status=s.status, value_a=json_value(s.value_a), value_b=json_value(s.value_b),
               type_a=s.type_a, type_b=s.type_b)
    return out


def report_to_json(report: DiffReport) -> dict:
    """The stable ``diff --json`` document (non-finite numbers become null)."""
    return {
        "a": report.path_a,
        "b": report.path_b,
        "aligned_by": report.aligned_by,
        "summary": report.summary.counts(),
        "entries": [entry_to_json(e, report.tolerant) for e in report.entries],
        "scalars": [scalar_to_json(s) for s in report.scalars],
    }


CSV_COLUMNS = ("path", "path_a", *ENTRY_FIELDS, "close", "note")


def report_to_csv(report: DiffReport, file: str | os.PathLike | IO[str]) -> None:
    """Write one row per tensor entry. Paths are dotted (``model.features.0.weight``, as the
    app shows them; the JSON report keeps them as exact lists), shapes are JSON lists; empty
    cells mean "not applicable"; inf/nan are written as text."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "w", newline="", encoding="utf-8") as fh:
            _write_csv(report, fh)
    else:
        _write_csv(report, file)


def _write_csv(report: DiffReport, fh: IO[str]) -> None:
    writer = csv.writer(fh)
    writer.writerow(CSV_COLUMNS)
    for e in report.entries:
        row = []
        for col in CSV_COLUMNS:
            if col in ("path", "path_a"):
                v = getattr(e, col)
                row.append("" if v is None else dotted_path(v))
            elif col.startswith("shape"):
                v = getattr(e, col)
                row.append("" if v is None else json.dumps(list(v)))
            else:
                v = getattr(e, col)
                row.append("" if v is None else repr(v) if isinstance(v, float) else str(v))
        writer.writerow(row)

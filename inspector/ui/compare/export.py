"""Saving a finished comparison as a JSON report or a CSV table."""

from __future__ import annotations

import json
import os

from PySide6.QtWidgets import QFileDialog, QWidget

from inspector.core.diff import DiffReport, report_to_csv, report_to_json
from inspector.core.text import file_label

EXPORT_FILTER = "JSON report (*.json);;CSV table (*.csv)"


def write_report(report: DiffReport, path: str, compared: tuple[str, ...]) -> None:
    """Write ``report`` as JSON (``.json``) or CSV (anything else).

    Raises ValueError when ``path`` is one of the ``compared`` files (absolute paths) or a
    folder, OSError when the file cannot be written.
    """
    target = os.path.abspath(path)
    if target in compared or os.path.isdir(target):
        raise ValueError(f"will not write over {target}")
    if target.lower().endswith(".json"):
        with open(target, "w", encoding="utf-8") as fh:
            json.dump(report_to_json(report), fh, indent=2)
            fh.write("\n")
    else:
        report_to_csv(report, target)


def ask_export_path(parent: QWidget, path_a: str, path_b: str) -> str:
    """Ask where to save the comparison of A with B; "" when the user cancels. The name
    gets the extension of the chosen file type when it has none of ours."""
    base = f"diff_{_stem(path_a)}_vs_{_stem(path_b)}.json"
    start = os.path.join(os.path.dirname(path_b), base)
    path, chosen = QFileDialog.getSaveFileName(parent, "Export Comparison", start, EXPORT_FILTER)
    if not path:
        return ""
    if "CSV" in chosen and not path.lower().endswith(".csv"):
        path += ".csv"
    elif "JSON" in chosen and not path.lower().endswith((".json", ".csv")):
        path += ".json"
    return path


def _stem(path: str) -> str:
    name = file_label(path)
    return name.split(".")[0] or name

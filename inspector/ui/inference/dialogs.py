"""The two questions a run can stop on, asked per run and never remembered.

- :func:`ask_trust` — run code from the file (whole-model pickle, TorchScript, .pt2, a
  Hugging Face folder's ``auto_map`` code)? The globals are listed as plain text.
- :func:`ask_random_init` — weights the model needs are missing from the file or have another
  shape: run anyway with random values for them? Default: no.

Both return True only for the explicit "yes" button; Esc and closing the dialog say no.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from inspector.core.text import printable_line

MAX_TRUST_GLOBALS = 30  # globals listed in the trust question; the rest are counted
KEYS_IN_BUTTON = 2  # weight names written on the "run anyway" button
KEYS_IN_TEXT = 12  # weight names listed in the question


def ask_trust(parent: QWidget | None, path: str, kind_text: str, globals_: list[str]) -> bool:
    """Ask whether to run code from ``path``; True only for an explicit Yes. The file name
    and the globals come from the file, so the question is plain text."""
    if globals_:
        named = "\n".join(f"  • {g}" for g in globals_[:MAX_TRUST_GLOBALS])
        if len(globals_) > MAX_TRUST_GLOBALS:
            named += f"\n  … and {len(globals_) - MAX_TRUST_GLOBALS} more"
        what = f"Running it executes this code from the file:\n{named}"
    else:
        what = "The code stored in the file would run (it cannot be listed as globals)."
    box = QMessageBox(QMessageBox.Icon.Warning, "Trust this file?",
                      f"{os.path.basename(path)} is a {kind_text}. Running its own model "
                      f"executes code from the file.\n\n{what}\n\nOnly continue if you trust "
                      f"where this file came from. The answer applies to this run only and is "
                      f"not remembered.",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes.value


def run_anyway_text(keys: Sequence[str]) -> str:
    """The "run anyway" button: "Run anyway with random fc.weight, fc.bias" (the key names
    while they are short, else a count)."""
    names = [printable_line(k) for k in keys]
    if names and len(names) <= KEYS_IN_BUTTON and sum(len(n) for n in names) <= 48:
        return f"Run anyway with random {', '.join(names)}"
    return f"Run anyway with {len(names)} random weights"


def random_init_question(message: str, keys: Sequence[str]) -> str:
    """The question's text: the core's sentence and the weights that would be random."""
    listed = "\n".join(f"  • {printable_line(k)}" for k in keys[:KEYS_IN_TEXT])
    if len(keys) > KEYS_IN_TEXT:
        listed += f"\n  … and {len(keys) - KEYS_IN_TEXT} more"
    sentence = message[:1].upper() + message[1:]
    return (f"{sentence}.\n\nThese weights would keep random initial values:\n{listed}\n\n"
            f"The outputs would then show what the architecture does with partly random "
            f"weights, not what the checkpoint predicts; the verdict says so. Usually the "
            f"better fix is another architecture or kwargs (e.g. the number of classes).")


def ask_random_init(parent: QWidget | None, message: str, keys: Sequence[str]) -> bool:
    """Ask whether to run with random values for ``keys``; True only for the explicit
    "Run anyway" button (the default is not to run)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Weights missing from the checkpoint",
                      random_init_question(message, keys), QMessageBox.StandardButton.NoButton,
                      parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    anyway = box.addButton(run_anyway_text(keys), QMessageBox.ButtonRole.AcceptRole)
    anyway.setObjectName("runAnywayButton")
    stop = box.addButton("Don't run", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(stop)
    box.setEscapeButton(stop)
    box.exec()
    return box.clickedButton() is anyway

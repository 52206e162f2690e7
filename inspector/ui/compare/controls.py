"""The compare view's control bar: strip prefixes, tolerances, filters and export."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QWidget,
)

from inspector.ui import resources

FILTER_DEBOUNCE_MS = 200


class CompareControls(QWidget):
    """The row of controls above the compare table.

    Emits
    -----
    sig_strip_prefix()
        "Strip Prefix…" was clicked.
    sig_compare_again(object, object)
        Run again with (atol, rtol), each a float or None (not checked).
    sig_changed_only(bool)
        "Changed only" was toggled.
    sig_filter(str)
        The path filter text, debounced while the user types.
    sig_export()
        "Export…" was clicked.
    """

    sig_strip_prefix = Signal()
    """"Strip Prefix…" was clicked."""
    sig_compare_again = Signal(object, object)
    """Run again with (atol, rtol), each a float or None."""
    sig_changed_only = Signal(bool)
    """"Changed only" was toggled."""
    sig_filter = Signal(str)
    """The path filter text (debounced)."""
    sig_export = Signal()
    """"Export…" was clicked."""

    def __init__(self, parent=None):
        super().__init__(parent)
        bar = QHBoxLayout(self)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(6)
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(FILTER_DEBOUNCE_MS)
        self._filter_timer.timeout.connect(self._emit_filter)

        strip = QPushButton("Strip Prefix…")
        strip.setToolTip("Remove key prefixes (e.g. 'module.') from both files "
                         "before matching tensors, and compare again")
        strip.clicked.connect(self.sig_strip_prefix)
        bar.addWidget(strip)
        validator = QDoubleValidator(0.0, 1e30, 12, self)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self._atol_edit = QLineEdit()
        self._rtol_edit = QLineEdit()
        for label, edit, tip in (("atol", self._atol_edit, "absolute tolerance"),
                                 ("rtol", self._rtol_edit, "relative tolerance")):
            edit.setPlaceholderText("off")
            edit.setValidator(validator)
            edit.setFixedWidth(70)
            edit.setToolTip(f"{tip} for the 'Close' column (torch.allclose); empty: not checked")
            edit.returnPressed.connect(self._emit_compare_again)
            bar.addWidget(QLabel(label))
            bar.addWidget(edit)
        again = QPushButton("Compare Again")
        again.setIcon(resources.icon("refresh"))
        again.setToolTip("Run the comparison again with these tolerances")
        again.clicked.connect(self._emit_compare_again)
        bar.addWidget(again)
        bar.addSpacing(16)
        self._changed_check = QCheckBox("Changed only")
        self._changed_check.setToolTip("Hide tensors that are identical in A and B")
        self._changed_check.toggled.connect(self.sig_changed_only)
        bar.addWidget(self._changed_check)
        self._filter_edit = QLineEdit()
        self._filter_edit.setObjectName("filterEdit")
        self._filter_edit.setPlaceholderText("Filter by path…")
        self._filter_edit.setClearButtonEnabled(True)
        self._filter_edit.addAction(resources.icon("search"),
                                    QLineEdit.ActionPosition.LeadingPosition)
        self._filter_edit.textChanged.connect(lambda _t: self._filter_timer.start())
        bar.addWidget(self._filter_edit, 1)
        self._rows_label = QLabel()
        self._rows_label.setTextFormat(Qt.TextFormat.PlainText)
        self._rows_label.setObjectName("matchLabel")
        bar.addWidget(self._rows_label)
        self.export_button = QToolButton()
        self.export_button.setText("Export…")
        self.export_button.setToolTip("Save the comparison as JSON or CSV")
        self.export_button.clicked.connect(self.sig_export)
        self.export_button.setEnabled(False)
        bar.addWidget(self.export_button)

    # ---- Public API
    def set_tolerance(self, atol: float | None, rtol: float | None) -> None:
        """Show these tolerances in the boxes (without running anything)."""
        self._atol_edit.setText("" if atol is None else f"{atol:g}")
        self._rtol_edit.setText("" if rtol is None else f"{rtol:g}")

    def set_changed_only(self, on: bool) -> None:
        self._changed_check.setChecked(on)

    def set_filter(self, text: str) -> None:
        """Put ``text`` in the filter box and apply it now, without the typing delay."""
        self._filter_edit.setText(text)
        self._emit_filter()

    def set_rows(self, shown: int, total: int) -> None:
        self._rows_label.setText(f"{shown:,} of {total:,}" if shown != total else f"{total:,} rows")

    def stop(self) -> None:
        """No more signals from the typing delay (the view is closing)."""
        self._filter_timer.stop()

    # ---- Private API
    def _emit_filter(self) -> None:
        self._filter_timer.stop()
        self.sig_filter.emit(self._filter_edit.text())

    def _emit_compare_again(self) -> None:
        self.sig_compare_again.emit(parse_tolerance(self._atol_edit.text()),
                                    parse_tolerance(self._rtol_edit.text()))


def parse_tolerance(text: str) -> float | None:
    """A tolerance typed by the user: a finite number ≥ 0, or None (empty or not a number)."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) and v >= 0 else None

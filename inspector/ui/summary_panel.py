"""A compact header for the opened checkpoint: what it is, what it holds, what to watch for.

Shows a :class:`~inspector.core.summary.CheckpointSummary`: file name, format badge, size,
tensor and parameter counts, dtype mix, training scalars, optimizer and scheduler lines,
hyper-parameters (collapsed), and hints with icons. Danger hints (unsafe globals, a whole
pickled model) sit in a red banner at the top. Scrolls when it gets long.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.checkpoint import Checkpoint
from inspector.core.summary import (
    DANGER,
    WARNING,
    CheckpointSummary,
)
from inspector.core.text import (
    MAX_VALUE_TEXT,
    format_bytes,
    format_count,
    format_value,
    html_text,
    path_text,
    printable,
    shorten,
)
from inspector.core.text import file_label as file_label_text
from inspector.ui.tree.columns import plain_tooltip

MAX_HEIGHT = 380
FINITENESS_HINT = "Whether values are finite"  # core's hint until statistics are known
MAX_TOOLTIP_VALUE = 2_000  # characters of a scalar in its chip's tooltip
FORMAT_COLORS = {
    "torch-zip": "#2f6db5", "torch-legacy": "#7a5cb8", "safetensors": "#2e8b57",
    "hf-sharded": "#2e8b57", "hf-folder": "#2e8b57", "pickle": "#b5472f",
    "torchscript": "#b5772f", "torch-export": "#b5772f", "dcp": "#3d7f8f",
}
BADGE_STYLE = ("QLabel {{ background: {bg}; color: white; border-radius: 8px; "
               "padding: 1px 8px; font-weight: bold; }}")
CHIP_STYLE = ("QLabel { background: rgba(127, 127, 127, 40); border-radius: 6px; "
              "padding: 1px 6px; }")
BANNER_STYLE = ("QFrame#danger { background: #b3261e; border-radius: 6px; }"
                "QFrame#danger QLabel { color: white; }")
WARNING_ROW_STYLE = ("QFrame#warning { background: rgba(230, 160, 40, 45); "
                     "border-radius: 4px; }")


def _label(text: str = "", selectable: bool = True) -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setTextFormat(Qt.TextFormat.RichText)
    if selectable:
        lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return lab


def _plain_label(text: str = "") -> QLabel:
    """A label for text that may come from the file: shown as typed, never rendered."""
    lab = QLabel(text)
    lab.setTextFormat(Qt.TextFormat.PlainText)
    return lab


def _rich(text: str) -> str:
    """Hint text as rich text: escaped (it quotes the file), then `code` spans become <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html_text(text))


def _chip(text: str, tooltip: str = "", rich: bool = False) -> QLabel:
    """A rounded chip; ``text`` is plain unless ``rich`` (then the caller has escaped it)."""
    lab = QLabel(text)
    lab.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    lab.setStyleSheet(CHIP_STYLE)
    lab.setToolTip(plain_tooltip(tooltip) if tooltip else "")
    return lab


def _short(text: object) -> str:
    """A key or name from the file, printable and cut to a summary's width."""
    return shorten(printable(text), MAX_VALUE_TEXT)


def _clear_layout(layout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        w = item.widget()
        if w is not None:
            w.deleteLater()
        elif item.layout() is not None:
            _clear_layout(item.layout())


class _FlowLayout(QLayout):
    """Lays widgets out left to right and wraps them onto new lines as the width needs."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6):
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        self.setContentsMargins(0, 0, 0, 0)

    # ---- Qt overrides
    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        return size

    # ---- Private API
    def _arrange(self, rect: QRect, move: bool) -> int:
        x, y, line_h = rect.x(), rect.y(), 0
        for item in self._items:
            hint = item.sizeHint()
            if x + hint.width() > rect.right() + 1 and line_h > 0:
                x, y = rect.x(), y + line_h + 3
                line_h = 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._spacing
            line_h = max(line_h, hint.height())
        return y + line_h - rect.y()


class _FlowRow(QWidget):
    """A titled row of chips that wrap onto as many lines as the width needs."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self._title_label = QLabel(f"<b>{html_text(title)}</b>")
        self._title_label.setMinimumWidth(92)
        self._title_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._title_label.setContentsMargins(0, 1, 0, 0)
        outer.addWidget(self._title_label)
        self._body = QWidget()
        self._flow = _FlowLayout(self._body)
        outer.addWidget(self._body, 1)
        self.chips: list[QLabel] = []

    def set_chips(self, chips: list[QLabel]) -> None:
        _clear_layout(self._flow)
        self.chips = chips
        for c in chips:
            self._flow.addWidget(c)
        self.setVisible(bool(chips))
        self._flow.invalidate()

    def text(self) -> str:
        return " · ".join(c.text() for c in self.chips)


class SummaryPanel(QWidget):
    """The checkpoint header: identity, counts, training state and hints.

    Emits
    -----
    sig_show_nan_inf()
        The user clicked the NaN/Inf count: show only those tensors.
    """

    sig_show_nan_inf = Signal()
    """The "N tensors have NaN/Inf" link was clicked."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        inner = QWidget()
        self._inner = inner
        v = QVBoxLayout(inner)
        v.setContentsMargins(8, 6, 8, 6)
        v.setSpacing(5)

        # danger banner
        self.banner = QFrame()
        self.banner.setObjectName("danger")
        self.banner.setStyleSheet(BANNER_STYLE)
        b = QHBoxLayout(self.banner)
        b.setContentsMargins(8, 6, 8, 6)
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(22, 22))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.banner_label = _label()
        b.addWidget(icon)
        b.addWidget(self.banner_label, 1)
        v.addWidget(self.banner)

        # identity row
        row = QHBoxLayout()
        row.setSpacing(8)
        self.file_label = _plain_label()
        f = self.file_label.font()
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() * 1.3)
        self.file_label.setFont(f)
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.format_badge = _plain_label()
        self.extra_badge = _plain_label()  # a Lightning version is text from the file
        self.size_label = _plain_label()
        row.addWidget(self.file_label, 1)
        row.addWidget(self.format_badge)
        row.addWidget(self.extra_badge)
        row.addWidget(self.size_label)
        v.addLayout(row)

        self.counts_label = _label()
        v.addWidget(self.counts_label)
        # our own text (counts only), with a link that filters the tree
        self.finite_label = QLabel()
        self.finite_label.setObjectName("finiteLabel")
        self.finite_label.setTextFormat(Qt.TextFormat.RichText)
        self.finite_label.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.finite_label.linkActivated.connect(lambda _link: self.sig_show_nan_inf.emit())
        self.finite_label.setVisible(False)
        v.addWidget(self.finite_label)

        self.dtype_row = _FlowRow("Dtypes")
        self.scalar_row = _FlowRow("Scalars")
        v.addWidget(self.dtype_row)
        v.addWidget(self.scalar_row)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(3)
        self.optimizer_label = _label()
        self.scheduler_label = _label()
        self._optimizer_title = QLabel("<b>Optimizer</b>")
        self._scheduler_title = QLabel("<b>Scheduler</b>")
        self._optimizer_title.setMinimumWidth(92)
        self._scheduler_title.setMinimumWidth(92)
        form.addRow(self._optimizer_title, self.optimizer_label)
        form.addRow(self._scheduler_title, self.scheduler_label)
        self._form = form
        v.addLayout(form)

        # hyper-parameters, collapsed
        self.hparams_button = QToolButton()
        self.hparams_button.setCheckable(True)
        self.hparams_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.hparams_button.setArrowType(Qt.ArrowType.RightArrow)
        self.hparams_button.setAutoRaise(True)
        self.hparams_button.toggled.connect(self._toggle_hparams)
        self.hparams_widget = QWidget()
        self._hparams_form = QFormLayout(self.hparams_widget)
        self._hparams_form.setContentsMargins(18, 0, 0, 0)
        self._hparams_form.setVerticalSpacing(1)
        self.hparams_widget.setVisible(False)
        v.addWidget(self.hparams_button)
        v.addWidget(self.hparams_widget)

        # hints
        self._hints_layout = QVBoxLayout()
        self._hints_layout.setSpacing(3)
        v.addLayout(self._hints_layout)
        v.addStretch(1)
        self.hint_labels: list[QLabel] = []
        self._finiteness_hint: QFrame | None = None

        # Word-wrapped rows need the height for the actual width; without this flag the
        # scroll area squeezes them instead of scrolling.
        policy = inner.sizePolicy()
        policy.setHeightForWidth(True)
        inner.setSizePolicy(policy)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        self.clear()

    # ---- Qt overrides
    def sizeHint(self) -> QSize:
        hint = self._inner.sizeHint()
        # Word-wrapped rows are as tall as the width makes them; before the panel is laid
        # out, assume a typical window width rather than the narrowest possible one.
        width = self.width() if self.isVisible() and self.width() > 200 else 1100
        height = self._inner.heightForWidth(width)
        if height <= 0:
            height = hint.height()
        return QSize(max(hint.width(), 480), min(height + 4, MAX_HEIGHT))

    # ---- Public API
    def show_checkpoint(self, ckpt: Checkpoint, summary: CheckpointSummary) -> None:
        """Show ``summary`` (computed by inspector.core.summary.summarize(ckpt))."""
        s = summary
        self._show_header(s.file_name, s.path, s.format, s.size_bytes)
        extra = ("whole model" if s.is_whole_model else
                 f"Lightning {s.lightning_version}" if s.lightning_version else "")
        self.extra_badge.setText(extra)
        self.extra_badge.setStyleSheet(BADGE_STYLE.format(
            bg="#b3261e" if s.is_whole_model else "#6b4fbb"))
        self.extra_badge.setVisible(bool(extra))

        counts = [f"<b>{s.num_tensors:,}</b> tensors"]
        if s.weights_path is not None:
            params = f"<b>{format_count(s.num_parameters)}</b> parameters"
            if s.num_parameters >= 10_000:
                params = f"<span title='{s.num_parameters:,}'>{params}</span>"
            counts.append(params)
            if s.num_buffer_elements:
                counts.append(f"{format_count(s.num_buffer_elements)} buffer values")
            counts.append(f"weights in <i>{html_text(_short(s.weights_label))}</i>")
        else:
            counts.append(f"{format_count(s.total_numel)} elements")
        counts.append(f"{format_bytes(s.unique_storage_bytes)} of tensor data")
        self.counts_label.setText(" · ".join(counts))

        self.dtype_row.set_chips([
            _chip(f"{d.dtype} ×{d.count} · {format_bytes(d.nbytes)}",
                  f"{d.count} tensors of {d.dtype}, {d.nbytes:,} bytes") for d in s.dtypes])
        self.scalar_row.set_chips([
            _chip(f"{html_text(_short(k))} <b>{html_text(format_value(v))}</b>",
                  printable(format_value(v, limit=MAX_TOOLTIP_VALUE)), rich=True)
            for k, v in s.scalars])

        opt_text = "<br>".join(html_text(o.describe()) + " <span style='color:gray'>"
                               f"({html_text(path_text(o.path))})</span>"
                               for o in s.optimizers)
        self.optimizer_label.setText(opt_text)
        self._set_form_row(self._optimizer_title, self.optimizer_label, bool(opt_text))
        sched_text = "<br>".join(html_text(x.describe()) for x in s.schedulers)
        self.scheduler_label.setText(sched_text)
        self._set_form_row(self._scheduler_title, self.scheduler_label, bool(sched_text))

        self._fill_hparams(s)
        self._fill_hints(s)
        self.finite_label.setVisible(False)
        self.updateGeometry()

    def show_pending(self, ckpt: Checkpoint) -> None:
        """What is known before the summary is computed (a big file's summary follows its
        tree): name, format, size and totals, and that the rest is coming."""
        self.clear()
        self._show_header(file_label_text(ckpt.path), ckpt.path, ckpt.format, ckpt.size_bytes)
        totals = ckpt.totals()
        self.counts_label.setText(
            f"<b>{totals['num_tensors']:,}</b> tensors · {format_count(totals['total_numel'])} "
            f"elements · {format_bytes(totals['unique_storage_bytes'])} of tensor data · "
            "<i>summarizing…</i>")
        self.updateGeometry()

    def _show_header(self, name: str, path: str, fmt: str, size_bytes: int) -> None:
        """The first row: file name (full path in its tooltip), format badge and size."""
        self.file_label.setText(name)
        self.file_label.setToolTip(plain_tooltip(path))
        self.format_badge.setText(fmt)
        self.format_badge.setStyleSheet(BADGE_STYLE.format(bg=FORMAT_COLORS.get(fmt, "#666")))
        self.format_badge.setVisible(True)
        self.size_label.setText(format_bytes(size_bytes))
        self.size_label.setToolTip(f"{size_bytes:,} bytes")

    def show_finiteness(self, bad: int | None, checked: int, total: int,
                        complete: bool) -> None:
        """After statistics: how many tensors have NaN/Inf (a link that filters to them), of
        ``checked`` of ``total`` tensors; ``bad`` None hides the line."""
        if bad is None:
            self.finite_label.setVisible(False)
            if self._finiteness_hint is not None:
                self._finiteness_hint.setVisible(True)
            return
        scope = (f"all {total:,} tensors" if complete and checked >= total
                 else f"{checked:,} of {total:,} tensors checked")
        if bad:
            noun = "tensor has" if bad == 1 else "tensors have"
            text = (f"<span style='color:#dc2626'>⚠ <b>{bad:,}</b> {noun} NaN or Inf "
                    f"values</span> ({scope}) · <a href='nan-inf'>show only them</a>")
        else:
            text = f"✓ No NaN or Inf values ({scope})"
        self.finite_label.setText(text)
        self.finite_label.setVisible(True)
        if self._finiteness_hint is not None:  # "known only after statistics": now known
            self._finiteness_hint.setVisible(False)
        self.updateGeometry()

    def clear(self) -> None:
        """Show that no checkpoint is open."""
        self.banner.setVisible(False)
        self.file_label.setText("No checkpoint open")
        self.file_label.setToolTip("")
        self.format_badge.setVisible(False)
        self.extra_badge.setVisible(False)
        self.size_label.setText("")
        self.counts_label.setText("Open a .pth, .pt, .bin, .ckpt or .safetensors file.")
        self.dtype_row.set_chips([])
        self.scalar_row.set_chips([])
        self._set_form_row(self._optimizer_title, self.optimizer_label, False)
        self._set_form_row(self._scheduler_title, self.scheduler_label, False)
        self.hparams_button.setVisible(False)
        self.hparams_button.setChecked(False)
        self.hparams_widget.setVisible(False)
        _clear_layout(self._hints_layout)
        self.hint_labels = []
        self._finiteness_hint = None

    def text(self) -> str:
        """Everything shown, as plain text (for tests and copying)."""
        parts = [self.banner_label.text() if self.banner.isVisibleTo(self) else "",
                 self.file_label.text(), self.format_badge.text(), self.size_label.text(),
                 self.counts_label.text(),
                 re.sub(r"<[^>]+>", "", self.finite_label.text())
                 if self.finite_label.isVisibleTo(self) else "",
                 self.dtype_row.text(), self.scalar_row.text(),
                 self.optimizer_label.text(), self.scheduler_label.text(),
                 *[lab.text() for lab in self.hint_labels if lab.isVisibleTo(self)]]
        return "\n".join(p for p in parts if p)

    # ---- Private API
    @staticmethod
    def _set_form_row(title: QLabel, value: QLabel, visible: bool) -> None:
        title.setVisible(visible)
        value.setVisible(visible)

    def _toggle_hparams(self, on: bool) -> None:
        self.hparams_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.hparams_widget.setVisible(on)
        self.updateGeometry()

    def _fill_hparams(self, s: CheckpointSummary) -> None:
        while self._hparams_form.rowCount():
            self._hparams_form.removeRow(0)
        for name, value in s.hyper_parameters:
            key = _plain_label(_short(name))
            key.setStyleSheet("QLabel { color: gray; }")
            val = _plain_label(printable(format_value(value)))
            val.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self._hparams_form.addRow(key, val)
        if s.hyper_parameters_truncated:
            self._hparams_form.addRow(QLabel("…"), QLabel("more not shown"))
        n = len(s.hyper_parameters)
        self.hparams_button.setText(f"Hyper-parameters ({n}{'+' if s.hyper_parameters_truncated else ''})")
        self.hparams_button.setVisible(n > 0)
        if n == 0:
            self.hparams_button.setChecked(False)
        self.hparams_widget.setVisible(n > 0 and self.hparams_button.isChecked())

    def _fill_hints(self, s: CheckpointSummary) -> None:
        self._finiteness_hint = None
        _clear_layout(self._hints_layout)
        self.hint_labels = []
        danger = [h for h in s.hints if h.level == DANGER]
        self.banner_label.setText("<br>".join(f"<b>{_rich(h.text)}</b>" for h in danger))
        self.banner.setVisible(bool(danger))
        icons = {WARNING: QStyle.StandardPixmap.SP_MessageBoxWarning}
        for h in s.hints:
            if h.level == DANGER:
                continue
            row = QFrame()
            if h.level == WARNING:
                row.setObjectName("warning")
                row.setStyleSheet(WARNING_ROW_STYLE)
            lay = QHBoxLayout(row)
            lay.setContentsMargins(4, 2, 4, 2)
            icon = QLabel()
            pix = icons.get(h.level, QStyle.StandardPixmap.SP_MessageBoxInformation)
            icon.setPixmap(self.style().standardIcon(pix).pixmap(16, 16))
            icon.setAlignment(Qt.AlignmentFlag.AlignTop)
            icon.setToolTip(h.level)
            text = _label(_rich(h.text))
            text.setToolTip(h.level)
            lay.addWidget(icon)
            lay.addWidget(text, 1)
            self._hints_layout.addWidget(row)
            self.hint_labels.append(text)
            if h.text.startswith(FINITENESS_HINT):
                self._finiteness_hint = row  # answered by show_finiteness()

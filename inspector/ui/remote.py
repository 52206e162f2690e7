"""File ▸ Open URL… and Statistics ▸ Cluster Scheduler… (issue 16).

A URL (``https://``, ``s3://``, ``gs://``, ``hf://``) opens like a file: ``window.open_path``
reads it in the usual pool thread (only the metadata, with range requests and timeouts), so
the window never waits for the network; a failure is the usual one-line message. Credentials
come from each backend's usual places and are never asked for or stored here; a URL that
carries one (a password or a presigned query) is not added to the recent files.

The scheduler address (``tcp://host:8786``; empty: this machine) is kept in the settings;
statistics jobs then run on that Dask cluster (the window's statistics runner hands them to
:mod:`inspector.core.cluster.job`, which answers with the same messages).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLayout,
    QLineEdit,
    QVBoxLayout,
)

from inspector.core.remote.urls import SCHEMES, is_url

URL_HELP = ("A checkpoint file, shard index or model folder: https://…, s3://…, gs://… or "
            "hf://org/repo/…\nOnly its metadata is read now; tensor bytes are fetched when "
            "needed.\nCredentials come from the usual places (environment, ~/.aws, gcloud, "
            "the Hugging Face token).")
SCHEDULER_HELP = ("Address of a Dask scheduler (e.g. tcp://10.0.0.5:8786) that computes "
                  "statistics; its workers read the files themselves (a shared filesystem or a "
                  "URL). Leave empty to compute on this machine.")


class _TextDialog(QDialog):
    """A one-line question with help text and an inline problem line (all plain text)."""

    def __init__(self, parent, title: str, help_text: str, value: str, placeholder: str):
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)  # wrapped text fits
        info = QLabel(help_text)
        info.setTextFormat(Qt.PlainText)
        info.setWordWrap(True)
        info.setMinimumWidth(480)
        layout.addWidget(info)
        self.edit = QLineEdit(value)
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        layout.addWidget(self.edit)
        self.problem = QLabel("")
        self.problem.setTextFormat(Qt.PlainText)
        self.problem.setObjectName("problem")
        self.problem.setVisible(False)
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._check_and_accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.edit.selectAll()

    def value(self) -> str:
        return self.edit.text().strip()

    def problem_with(self, text: str) -> str:
        return ""

    def _check_and_accept(self) -> None:
        problem = self.problem_with(self.value())
        if problem:
            self.problem.setText(problem)
            self.problem.setVisible(True)
            return
        self.accept()


class OpenUrlDialog(_TextDialog):
    def __init__(self, parent, value: str = ""):
        super().__init__(parent, "Open URL", URL_HELP, value, "https://host/path/model.safetensors")

    def problem_with(self, text: str) -> str:
        if not is_url(text):
            return "Not a URL this app reads: it must start with " + ", ".join(
                f"{s}://" for s in SCHEMES) + "."
        return ""


class SchedulerDialog(_TextDialog):
    def __init__(self, parent, value: str = ""):
        super().__init__(parent, "Cluster Scheduler", SCHEDULER_HELP, value, "tcp://host:8786")

    def problem_with(self, text: str) -> str:
        if text and ("://" not in text or any(c.isspace() for c in text)):
            return "A scheduler address looks like tcp://host:8786 (or leave it empty)."
        return ""


def _route_statistics(runner, settings) -> None:
    """Send the window's statistics jobs to the Dask scheduler of the settings, when one is
    set: the cluster job takes the same arguments and answers with the same messages
    (:mod:`inspector.core.cluster.job`), so the views need not know where it runs."""
    local_submit = runner.submit

    def submit(target: str, kwargs: dict) -> int:
        # imported with the first job: the window's first paint needs neither
        from inspector.core import stats_job
        from inspector.core.cluster import job as cluster_job

        scheduler = settings.scheduler_address()
        if target == stats_job.TARGET and scheduler:
            kwargs = {k: v for k, v in kwargs.items() if k in ("path", "paths", "bins")}
            target, kwargs = cluster_job.TARGET, {**kwargs, "scheduler": scheduler}
        return local_submit(target, kwargs)

    runner.submit = submit


def open_url(window, url: str) -> None:
    """Open ``url`` in a new tab (a checked URL; reading happens off the GUI thread)."""
    window.open_path(url)


def install(window) -> None:
    """Add File ▸ Open URL… and Statistics ▸ Cluster Scheduler… to ``window``."""
    act = QAction("Open &URL…", window)
    act.setObjectName("act_open_url")
    act.setShortcut(QKeySequence("Ctrl+Shift+U"))
    act.setStatusTip("Open a checkpoint from https://, s3://, gs:// or hf:// (metadata only)")

    def ask_url() -> None:
        dialog = OpenUrlDialog(window)
        if dialog.exec() == QDialog.Accepted:
            open_url(window, dialog.value())

    act.triggered.connect(ask_url)
    recent = getattr(window, "recent_menu", None)
    if recent is not None:
        window.file_menu.insertAction(recent.menuAction(), act)
    else:
        window.file_menu.addAction(act)
    window.act_open_url = act

    settings = window.settings
    if hasattr(settings, "scheduler_address"):
        _route_statistics(window.runners.stats, settings)
        sched = QAction("Cluster &Scheduler…", window)
        sched.setObjectName("act_scheduler")
        sched.setStatusTip("Compute statistics on a Dask cluster (empty: on this machine)")

        def ask_scheduler() -> None:
            dialog = SchedulerDialog(window, settings.scheduler_address())
            if dialog.exec() != QDialog.Accepted:
                return
            address = dialog.value()
            if address == settings.scheduler_address():
                return
            settings.set_scheduler_address(address)
            window.show_message(f"Statistics now run on the Dask cluster at {address}."
                                if address else "Statistics now run on this machine.", "info")
            recompute = getattr(window, "recompute_stats", None)
            if recompute is not None and window.current_document() is not None:
                recompute()

        sched.triggered.connect(ask_scheduler)
        window.stats_menu.addAction(sched)
        window.act_scheduler = sched

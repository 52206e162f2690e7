"""The app's name and the About box (versions of everything it runs on)."""

from __future__ import annotations

from inspector import __version__

APP_NAME = "Checkpoint Inspector"


def about_html() -> str:
    """Versions for the About box; torch's is read from its metadata, without importing it."""
    import html
    import platform
    from importlib import metadata

    import PySide6
    from PySide6.QtCore import qVersion

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    rows = [("Checkpoint Inspector", __version__),
            ("Python", platform.python_version()),
            ("Qt", qVersion()),
            ("PySide6", PySide6.__version__),
            ("PyTorch", version("torch")),
            ("pyqtgraph", version("pyqtgraph")),
            ("NumPy", version("numpy")),
            ("Platform", f"{platform.system()} {platform.machine()}")]
    table = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return (f"<h3>{APP_NAME}</h3><p>Open, compare and run PyTorch checkpoints safely: "
            "nothing in a file is executed unless you explicitly trust it.</p>"
            f"<table>{table}</table>")


def show_about(parent) -> None:
    """The modal About box."""
    from PySide6.QtWidgets import QMessageBox

    QMessageBox.about(parent, f"About {APP_NAME}", about_html())

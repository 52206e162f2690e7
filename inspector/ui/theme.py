"""The app's look: Fusion style, a light or dark palette following the system, the
stylesheet, and pyqtgraph colours taken from that palette.

A small module of its own so that views (the compare view, the tensor panel) can configure
their plots without importing the app bootstrap or the main window.
"""

from __future__ import annotations

import sys

_plot_options: dict = {}  # pyqtgraph options for the current palette, set by apply_theme
_theme_hooked = False  # apply_theme follows the system's colour scheme changes once hooked


def configure_plotting() -> None:
    """Give pyqtgraph the theme's colours (imports it); call before creating plot widgets.

    After :func:`apply_theme` this has already happened the moment pyqtgraph was first
    imported, whichever view (or thread) imported it; calling it again is cheap.
    """
    import pyqtgraph as pg

    if not _plot_options:
        _plot_options.update(_palette_plot_options())
    pg.setConfigOptions(**_plot_options)


def _palette_plot_options() -> dict:
    """Plot background and foreground from the application palette (GUI thread)."""
    from PySide6.QtGui import QGuiApplication, QPalette

    palette = QGuiApplication.palette()
    # names, not QColors: the import hook may apply them in a worker thread
    return {"antialias": True,
            "background": palette.color(QPalette.ColorRole.Base).name(),
            "foreground": palette.color(QPalette.ColorRole.Text).name()}


class _PlotOptionsOnImport:
    """A meta-path finder that applies ``_plot_options`` as soon as pyqtgraph is imported.

    pyqtgraph is imported late and by several views (tensor panel, inference, compare),
    sometimes in a pool thread to keep the GUI responsive. Its options must be set before
    the first plot widget exists, or the plots keep pyqtgraph's black background. This
    finder only wraps the normal loader; it removes itself after the first lookup.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "pyqtgraph":
            return None
        import importlib.machinery
        import importlib.util

        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        loader = spec.loader if spec is not None else None
        if not isinstance(loader, importlib.machinery.SourceFileLoader):
            return spec  # configure_plotting still applies the colours before the first plot
        exec_module = loader.exec_module

        def exec_and_configure(module) -> None:
            exec_module(module)
            module.setConfigOptions(**_plot_options)

        loader.exec_module = exec_and_configure  # this module's own loader instance
        return spec


def _follow_theme_in_plots() -> None:
    _plot_options.clear()
    _plot_options.update(_palette_plot_options())
    pg = sys.modules.get("pyqtgraph")
    if pg is not None:
        pg.setConfigOptions(**_plot_options)  # plots made from now on
    elif not any(isinstance(f, _PlotOptionsOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PlotOptionsOnImport())


def apply_theme(app) -> None:
    """Fusion style with a light or dark palette following the system's colour scheme."""
    from PySide6.QtCore import Qt

    from inspector.ui import resources

    app.setStyle("Fusion")
    hints = app.styleHints()
    dark = hints.colorScheme() == Qt.ColorScheme.Dark
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
    app.setStyleSheet(resources.stylesheet())
    _follow_theme_in_plots()
    global _theme_hooked
    if not _theme_hooked:
        hints.colorSchemeChanged.connect(lambda _scheme: apply_theme(app))
        _theme_hooked = True


def dark_palette():
    """The palette of the dark colour scheme."""
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    colors = {role.Window: "#202227", role.WindowText: "#e6e6e6", role.Base: "#17181c",
              role.AlternateBase: "#1f2126", role.ToolTipBase: "#2b2d33",
              role.ToolTipText: "#e6e6e6", role.Text: "#e6e6e6", role.Button: "#2a2c32",
              role.ButtonText: "#e6e6e6", role.BrightText: "#ff6b6b", role.Link: "#6ea8fe",
              role.Highlight: "#2f5fb3", role.HighlightedText: "#ffffff",
              role.PlaceholderText: "#8b8f98", role.Mid: "#3a3d44", role.Dark: "#111214",
              role.Light: "#3c3f46", role.Midlight: "#33363c", role.Shadow: "#000000"}
    for r, c in colors.items():
        p.setColor(r, QColor(c))
    for r in (role.Text, role.WindowText, role.ButtonText):
        p.setColor(group.Disabled, r, QColor("#7d818a"))
    return p

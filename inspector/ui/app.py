"""Start the desktop app: QApplication, theme, main window, and the scripted modes.

``checkpoint-inspector [FILE ...]`` opens the files as tabs (the newest bundled demo when
none is given); exactly two files open a compare tab (A, B). ``--screenshot OUT.png`` waits
for the background work, selects the largest tensor (in a compare tab: the largest change)
and saves a picture of the window; ``--quit-after-ms`` is for smoke tests.

Nothing heavy is imported before the window is painted: torch is only imported by the
statistics worker process, pyqtgraph when the first checkpoint view is built.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence

from inspector import __version__
from inspector.ui.about import APP_NAME

ORG_NAME = "checkpoint-inspector"
DEFAULT_SIZE = (1400, 900)
SCREENSHOT_TIMEOUT_S = 300.0
OPEN_FALLBACK_MS = 1000  # open the files after this long even if the window never painted


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="checkpoint-inspector",
        description="Open PyTorch checkpoints in the desktop app. Subcommands (info, scan, "
                    "stats, diff, …) run the command line instead; see 'checkpoint-inspector "
                    "--help'.")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="checkpoint files or folders to open (default: the bundled demo); "
                        "exactly two are compared (A, B)")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="open offscreen, wait for statistics, select the largest tensor, "
                        "save a PNG of the window and exit")
    p.add_argument("--size", metavar="WxH", type=_size, help="window size, e.g. 1400x900")
    p.add_argument("--tab", metavar="NAME",
                   help="show this view of the document (e.g. 'Tensors', 'Inference')")
    p.add_argument("--quit-after-ms", metavar="N", type=int, help="close the window after N ms")
    p.add_argument("--no-stats", action="store_true",
                   help="do not compute statistics in the background after opening")
    return p


# The libraries Qt's xcb platform plugin (X11) loads, and the Debian/Ubuntu packages that
# ship them; a fresh desktop often lacks libxcb-cursor0 (Qt >= 6.5 needs it).
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libEGL.so.1": "libegl1", "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}


def missing_xcb_libraries(load=None) -> list[str]:
    """The libraries of :data:`XCB_LIBRARIES` that cannot be loaded ([] off Linux, or when Qt
    will not use its xcb plugin: QT_QPA_PLATFORM set to another one, or no X display)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or (platform and not platform.startswith("xcb")):
        return []
    if not platform and (not os.environ.get("DISPLAY")
                         or os.environ.get("XDG_SESSION_TYPE") == "wayland"):
        return []
    if load is None:
        import ctypes

        load = ctypes.CDLL
    missing = []
    for name in XCB_LIBRARIES:
        try:
            load(name)
        except OSError:
            missing.append(name)
    return missing


def platform_help(missing: list[str]) -> str:
    """What to tell a user whose Qt platform plugin cannot start (``missing``: libraries)."""
    packages = sorted({XCB_LIBRARIES.get(name, name) for name in missing})
    return (f"{APP_NAME} cannot start its window: Qt's X11 platform plugin (xcb) needs "
            f"system libraries that are not installed: {', '.join(missing)}.\n"
            f"On Debian/Ubuntu install them with:\n    sudo apt-get install {' '.join(packages)}\n"
            "(other distributions: the packages providing these files). Without a display, "
            "--screenshot and the command line (checkpoint-inspector info FILE) still work.")


def run_gui(argv: Sequence[str] | None = None) -> int:
    """Run the app; returns the process exit code."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.screenshot and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    missing = missing_xcb_libraries()
    if missing:  # Qt would abort with "Could not load the Qt platform plugin" and no hint
        print(platform_help(missing), file=sys.stderr)
        return 3

    from PySide6.QtCore import QSettings, QTimer  # PySide6 before pyqtgraph
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APP_NAME])
    from inspector.ui.collector import collect_from_event_loop

    collect_from_event_loop(app)  # no garbage collection inside Qt's destructors
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("checkpoint-inspector")
    from inspector.ui.theme import apply_theme

    apply_theme(app)

    from inspector.ui import resources
    from inspector.ui.first_paint import after_first_paint
    from inspector.ui.main_window import MainWindow
    from inspector.ui.settings import Settings

    app.setWindowIcon(resources.icon("app"))
    tmp = None
    if args.screenshot:
        # a throw-away settings file: a saved geometry must not change the picture's size,
        # and a scripted run must not touch the user's recent files
        tmp = tempfile.TemporaryDirectory(prefix="inspector-shot-")
        settings = Settings(QSettings(os.path.join(tmp.name, "settings.ini"),
                                      QSettings.Format.IniFormat))
    else:
        settings = Settings()
    window = MainWindow(settings, compute_stats=not args.no_stats)
    if args.size:
        window.resize(*args.size)
    elif args.screenshot:
        window.resize(*DEFAULT_SIZE)
    app.aboutToQuit.connect(window.shutdown)
    _close_on_signals(window)

    files = list(args.files)
    if not files:
        demo = resources.demo_checkpoint()
        if demo is not None:
            files = [str(demo)]
    window.show()
    # Open after the window's first paint, so it shows at once (the thread that reads the
    # files imports the core); the fallback covers a window that never paints.
    result = {"code": 0, "pending_open": bool(files)}

    def open_files() -> None:
        result["pending_open"] = False
        _open_files(window, files)

    if files:
        after_first_paint(window, open_files, fallback_ms=OPEN_FALLBACK_MS)
    if args.tab and not args.screenshot:
        window.sig_opened.connect(lambda _p: _select_tab(window, args.tab))

    if args.screenshot:
        _arm_screenshot(app, window, args.screenshot, args.tab, result)
    if args.quit_after_ms is not None:
        QTimer.singleShot(max(0, args.quit_after_ms), window.close)
    code = app.exec()
    window.shutdown()
    if tmp is not None:
        tmp.cleanup()
    return result["code"] or code


# ---- Private API
SIGNAL_POLL_MS = 250


def _close_on_signals(window) -> None:
    """SIGTERM (``kill``, a session ending) and Ctrl+C in the terminal close the window as
    File ▸ Quit does: settings are saved and the worker processes stop cleanly (killed
    outright, they left semaphores for multiprocessing's tracker to warn about). Python runs
    a signal handler only when the interpreter gets a turn, so a timer gives it one while
    Qt waits for events."""
    import signal

    from PySide6.QtCore import QTimer

    def handler(_signum, _frame) -> None:
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread, or not on this platform
            return
    timer = QTimer(window)
    timer.setObjectName("signalPoll")
    timer.timeout.connect(lambda: None)
    timer.start(SIGNAL_POLL_MS)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1400x900, not {text!r}") from None
    if not (200 <= w <= 10000 and 150 <= h <= 10000):
        raise argparse.ArgumentTypeError(f"size {w}x{h} is out of range (200x150 to 10000x10000)")
    return w, h


def _open_files(window, files: list[str]) -> None:
    """Exactly two files open as a comparison (A, B); otherwise each opens in a tab."""
    if len(files) == 2:
        window.open_compare(files[0], files[1])
    else:
        window.open_paths(files)


def _select_tab(window, name: str) -> None:
    view = window.current_document()
    if view is not None and not view.select_view(name):
        names = ", ".join(view.view_names()) or "none"
        print(f"warning: no view named {name!r} (available: {names})", file=sys.stderr)


def _arm_screenshot(app, window, out: str, tab: str | None, result: dict) -> None:
    from PySide6.QtCore import QTimer

    start = time.monotonic()
    timer = QTimer(window)
    timer.setInterval(100)

    def ready() -> bool:
        if window.is_busy() or result.get("pending_open"):
            return False
        # the first open is queued for after the first paint: wait until it has started
        return time.monotonic() - start > 0.3

    def check() -> None:
        waited = time.monotonic() - start
        if not ready() and waited < SCREENSHOT_TIMEOUT_S:
            return
        timer.stop()
        if waited >= SCREENSHOT_TIMEOUT_S:
            print("warning: background work did not finish in time; taking the picture anyway",
                  file=sys.stderr)
        compare = window.current_compare()
        if compare is not None:
            # the largest change is selected when the diff ends; wait for its histograms
            compare.select_largest_change()
            if compare.is_busy():
                fired = []

                def when_idle() -> None:
                    if not fired and not compare.is_busy():
                        fired.append(True)
                        QTimer.singleShot(500, shoot)

                compare.sig_state_changed.connect(when_idle)
                return
        view = window.current_document()
        if view is not None and view.is_loaded:
            view.select_largest_tensor()
            if tab:
                _select_tab(window, tab)
                # the Inference view runs its default comparison (CPU) first
                panel = view.inference_panel if tab.lower() == "inference" else None
                if panel is not None and panel.start_default_run():
                    panel.sig_run_finished.connect(lambda _state: QTimer.singleShot(500, shoot))
                    QTimer.singleShot(int(SCREENSHOT_TIMEOUT_S * 1000), shoot)
                    return
        QTimer.singleShot(500, shoot)

    def shoot() -> None:
        if result.get("shot"):
            return
        result["shot"] = True
        pixmap = window.grab()
        if pixmap.isNull() or not pixmap.save(out, "PNG"):
            print(f"error: could not save the screenshot to {out}", file=sys.stderr)
            result["code"] = 2
        else:
            message = window.message_text()
            if message:
                print(f"note: the window shows: {message}", file=sys.stderr)
            print(f"saved {out} ({pixmap.width()}x{pixmap.height()})")
        window.close()
        app.quit()

    timer.timeout.connect(check)
    timer.start()

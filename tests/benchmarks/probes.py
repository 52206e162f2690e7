"""The measuring side of the benchmark suite: each probe runs in a fresh child process.

``python -m tests.benchmarks.probes KIND [options]`` measures one thing and prints one line
``BENCH-RESULT {json}`` on stdout. Every probe is its own process, so peak RSS
(``ru_maxrss``) and import costs belong to that measurement alone.

Kinds:

- ``open FILE``: ``open_checkpoint`` + ``Checkpoint.tensors()`` (no torch), repeated in
  process after one warm-up; the floor is reading the zip's ``data.pkl`` bytes.
- ``stats FILE``: ``iter_stats`` over every tensor (exact 64-bin histograms) vs a numpy
  single-pass sum over the same storages through an mmap; peak anonymous RSS above the
  level before the runs.
- ``diff A B``: ``diff_checkpoints`` vs a numpy sum over both files' paired storages.
- ``gui``: the real app (``inspector.ui.app.run_gui``) under an event filter, see
  :func:`gui_probe`. ``--bare`` shows a plain ``QWidget`` instead (the Qt floor).

Times in GUI probes are ``time.monotonic()`` (CLOCK_MONOTONIC, shared by all processes on
Linux) minus ``BENCH_LAUNCH_T``, the parent's clock just before it started the child:
"since launch" includes the interpreter's own start.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import resource
import sys
import threading
import time

RESULT_PREFIX = "BENCH-RESULT "


# ---- Memory
def anon_bytes() -> int:
    """Resident anonymous memory of this process (RssAnon + RssShmem, from /proc/self/statm)."""
    with open("/proc/self/statm", "rb") as fh:
        fields = fh.read().split()
    page = os.sysconf("SC_PAGE_SIZE")
    return (int(fields[1]) - int(fields[2])) * page


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class AnonPeak:
    """Samples :func:`anon_bytes` every ``interval`` seconds in a thread; ``peak`` is the max."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.base = anon_bytes()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, anon_bytes())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, anon_bytes())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


# ---- Floors
def warm(path: str) -> None:
    """Read the whole file once so later passes measure the page cache, not the disk."""
    from tests.benchmarks.bench_stats import _warm

    _warm(path)


def read_data_pkl(path: str) -> int:
    """The open floor: the bytes of the zip's ``*/data.pkl`` record, read with zipfile."""
    import zipfile

    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
        return len(zf.read(name))


def numpy_sum_storages(storages: list[tuple[str, int, int]]) -> float:
    """The stats/diff floor: one numpy pass (``np.sum`` as float32) over each byte range."""
    import numpy as np

    total = 0.0
    maps: dict[str, tuple] = {}
    try:
        for file, offset, nbytes in storages:
            if file not in maps:
                fh = open(file, "rb")  # noqa: SIM115 - closed below
                maps[file] = (fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
            mm = maps[file][1]
            n = nbytes // 4
            if n:
                total += float(np.frombuffer(mm, dtype=np.float32, count=n, offset=offset).sum())
    finally:
        for fh, mm in maps.values():
            mm.close()
            fh.close()
    return total


def unique_storages(ckpt, infos) -> list[tuple[str, int, int]]:
    seen: dict[tuple, tuple[str, int, int]] = {}
    for info in infos:
        st = info.storage if info is not None else None
        if st is not None:
            seen.setdefault(st.ident, (st.file, st.file_offset, st.nbytes))
    return list(seen.values())


# ---- Core probes
def open_probe(path: str, repeat: int) -> dict:
    t0 = time.perf_counter()
    from inspector.core.formats import open_checkpoint

    import_s = time.perf_counter() - t0
    with open_checkpoint(path) as ck:  # warm-up: caches, lazily imported modules
        count = len(ck.tensors())
    samples, floor = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        read_data_pkl(path)
        floor.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ck = open_checkpoint(path)
        ck.tensors()
        samples.append(time.perf_counter() - t0)
        ck.close()
    return {"samples": samples, "floor": floor, "tensors": count, "import_s": import_s,
            "max_rss_mb": max_rss_mb(), "torch_imported": "torch" in sys.modules}


def _torch_like_worker() -> None:
    """Set up torch as the app's statistics worker does (one thread, see PERFORMANCE.md)."""
    import torch

    torch.set_num_threads(1)


def stats_probe(path: str, repeat: int, bins: int) -> dict:
    from inspector.core.formats import open_checkpoint
    from inspector.core.stats import DEFAULT_CHUNK_BYTES
    from tests.benchmarks.bench_stats import stats_samples

    _torch_like_worker()
    warm(path)
    with open_checkpoint(path) as ck:
        storages = unique_storages(ck, [info for _, info in ck.tensors()])
        tensors = len(ck.tensors())
    nbytes = sum(s[2] for s in storages)
    floor = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        numpy_sum_storages(storages)
        floor.append(time.perf_counter() - t0)
    with AnonPeak() as peak:
        progress_bytes, samples = stats_samples(path, repeat, bins)
    return {"samples": samples, "floor": floor, "bytes": nbytes, "progress_bytes": progress_bytes,
            "tensors": tensors, "anon_growth_mb": peak.growth_mb,
            "chunk_mb": DEFAULT_CHUNK_BYTES / 2**20, "max_rss_mb": max_rss_mb()}


def diff_probe(path_a: str, path_b: str, repeat: int) -> dict:
    from inspector.core.diff import align, diff_checkpoints
    from inspector.core.formats import open_checkpoint

    _torch_like_worker()
    warm(path_a)
    warm(path_b)
    with open_checkpoint(path_a) as ca, open_checkpoint(path_b) as cb:
        pairs = [p for p in align(ca, cb).pairs if p.info_a is not None and p.info_b is not None]
        storages = (unique_storages(ca, [p.info_a for p in pairs]) +
                    unique_storages(cb, [p.info_b for p in pairs]))
    nbytes = sum(s[2] for s in storages)
    floor = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        numpy_sum_storages(storages)
        floor.append(time.perf_counter() - t0)
    samples = []
    counts: dict = {}
    with AnonPeak() as peak:
        for _ in range(repeat):
            t0 = time.perf_counter()
            report = diff_checkpoints(path_a, path_b)
            samples.append(time.perf_counter() - t0)
            counts = {k: v for k, v in report.summary.counts().items() if v}
            del report
    return {"samples": samples, "floor": floor, "bytes": nbytes, "pairs": len(pairs),
            "counts": counts, "anon_growth_mb": peak.growth_mb, "max_rss_mb": max_rss_mb()}


# ---- GUI probe
def gui_probe(opts: argparse.Namespace) -> dict:
    """Run the app (or a bare QWidget) offscreen and time its first paints.

    Marks, each in seconds since launch: ``show`` (the main window's Show event),
    ``window_painted`` (the event loop turn after its first Paint event has been handled),
    ``opened`` (``sig_opened``), ``tree_painted`` (after the tree viewport's first paint).
    With ``--gaps`` a 10 ms precise QTimer on the GUI thread records the longest wait
    between its ticks per phase: ``open`` (until the tree is painted), ``stats`` (until
    ``sig_stats_finished``), then ``diff-import`` / ``diff`` while ``diff_checkpoints`` runs
    in a Python thread of the GUI process (the GUI has no compare view yet).
    """
    launch = float(os.environ.get("BENCH_LAUNCH_T", time.monotonic()))
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks.setdefault(name, time.monotonic() - launch)

    from PySide6.QtCore import QEvent, QObject, Qt, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    mark("qt_imported")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    paint_t, show_t = QEvent.Type.Paint, QEvent.Type.Show
    result: dict = {"error": ""}
    state: dict = {"window": None, "phase": "open", "last": None, "last_phase": "open", "gaps": {}}

    def finish() -> None:
        mark("finish")
        win = state["window"]
        if win is not None:
            win.close()
        app.quit()

    if opts.bare:
        w = QWidget()
        w.resize(1400, 900)

        class BareWatch(QObject):
            def eventFilter(self, obj, ev):  # noqa: N802 - Qt override
                if ev.type() == paint_t and "window_paint" not in marks:
                    mark("window_paint")
                    QTimer.singleShot(0, lambda: (mark("window_painted"), finish()))
                return False

        watch = BareWatch()
        w.installEventFilter(watch)
        w.show()
        mark("show")
        app.exec()
        return {"marks": marks, "max_rss_mb": max_rss_mb(), "anon_mb": anon_bytes() / 2**20}

    if opts.no_demo:
        from inspector.ui import resources

        resources.demo_checkpoint = lambda: None  # "no file": the welcome page

    def tick() -> None:
        now = time.monotonic()
        if state["last"] is not None:
            phase = state["last_phase"]  # a gap belongs to the phase in which it began
            gap = now - state["last"]
            gaps = state["gaps"].setdefault(phase, {"max": 0.0, "at": 0.0, "ticks": 0, "over": 0})
            gaps["ticks"] += 1
            gaps["over"] += gap > 0.1
            if gap > gaps["max"]:
                gaps["max"], gaps["at"] = gap, now - launch
        state["last"] = now
        state["last_phase"] = state["phase"]
        if state["phase"] == "done":
            timer.stop()
            finish()

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(tick)

    def run_diff() -> None:
        try:
            import torch

            torch.set_num_threads(1)
            from inspector.core.diff import diff_checkpoints

            state["phase"] = "diff"
            mark("diff_start")
            report = diff_checkpoints(opts.diff[0], opts.diff[1])
            result["diff_counts"] = {k: v for k, v in report.summary.counts().items() if v}
        except Exception as e:  # noqa: BLE001 - reported in the result
            result["error"] = f"diff: {type(e).__name__}: {e}"
        mark("diff_done")
        state["phase"] = "done"

    def on_stats_finished(_path: str, how: str) -> None:
        mark("stats_done")
        result["stats_state"] = how
        if opts.diff:
            state["phase"] = "diff-import"
            threading.Thread(target=run_diff, daemon=True).start()
        else:
            state["phase"] = "done"

    class TreeWatch(QObject):
        def eventFilter(self, obj, ev):  # noqa: N802 - Qt override
            if ev.type() == paint_t and "tree_paint" not in marks:
                mark("tree_paint")
                result["torch_at_tree_paint"] = "torch" in sys.modules
                QTimer.singleShot(0, tree_painted)
            return False

    tree_watch = TreeWatch()

    def tree_painted() -> None:
        mark("tree_painted")
        if opts.gaps:
            if state["phase"] == "open":
                state["phase"] = "stats"
        elif opts.target == "tree":
            finish()

    def on_opened(_path: str) -> None:
        mark("opened")
        view = state["window"].current_document()
        if view is None or view.tree is None:
            result["error"] = "opened, but no tree view"
            finish()
            return
        view.tree.viewport().installEventFilter(tree_watch)

    def on_open_failed(path: str, problem: str) -> None:
        result["error"] = f"open failed: {path}: {problem}"
        finish()

    class AppWatch(QObject):
        """Watches every event until the main window has painted once, then uninstalls."""

        def eventFilter(self, obj, ev):  # noqa: N802 - Qt override
            t = ev.type()
            if t == show_t and state["window"] is None and obj.isWidgetType() and \
                    obj.isWindow() and obj.inherits("QMainWindow"):
                mark("show")
                state["window"] = obj
                obj.sig_opened.connect(on_opened)
                obj.sig_open_failed.connect(on_open_failed)
                obj.sig_stats_finished.connect(on_stats_finished)
                if opts.gaps:
                    timer.start()
            elif t == paint_t and "window_paint" not in marks and state["window"] is not None \
                    and obj.isWidgetType() and obj.window().inherits("QMainWindow"):
                mark("window_paint")
                QTimer.singleShot(0, window_painted)
            return False

    app_watch = AppWatch()

    def window_painted() -> None:
        mark("window_painted")
        app.removeEventFilter(app_watch)
        if opts.target == "window":
            if opts.idle_ms:
                state["phase"] = "idle"
                timer.start()
                QTimer.singleShot(opts.idle_ms, lambda: state.update(phase="done"))
            else:
                finish()

    app.installEventFilter(app_watch)
    QTimer.singleShot(int(opts.timeout * 1000),
                      lambda: (result.update(error=f"timed out after {opts.timeout} s"), finish()))
    from inspector.ui.app import run_gui

    argv = [*opts.files, "--size", "1400x900"]
    if not opts.gaps:
        argv.append("--no-stats")
    code = run_gui(argv)
    result.update(marks=marks, code=code, max_rss_mb=max_rss_mb(), anon_mb=anon_bytes() / 2**20,
                  gaps=state["gaps"])
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="One benchmark measurement (run by the suite).")
    sub = ap.add_subparsers(dest="kind", required=True)
    p = sub.add_parser("open")
    p.add_argument("file")
    p.add_argument("--repeat", type=int, default=5)
    p = sub.add_parser("stats")
    p.add_argument("file")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--bins", type=int, default=64)
    p = sub.add_parser("diff")
    p.add_argument("file_a")
    p.add_argument("file_b")
    p.add_argument("--repeat", type=int, default=5)
    p = sub.add_parser("gui")
    p.add_argument("files", nargs="*")
    p.add_argument("--bare", action="store_true", help="a plain QWidget, not the app")
    p.add_argument("--no-demo", action="store_true", help="start without the bundled demo")
    p.add_argument("--target", choices=("window", "tree"), default="tree")
    p.add_argument("--gaps", action="store_true", help="statistics on; time the GUI's timer gaps")
    p.add_argument("--diff", nargs=2, metavar=("A", "B"), help="with --gaps: diff in a thread")
    p.add_argument("--idle-ms", type=int, default=0,
                   help="with --target window: measure timer gaps in the idle window this long")
    p.add_argument("--timeout", type=float, default=240.0)
    args = ap.parse_args(argv)
    if args.kind == "open":
        out = open_probe(args.file, args.repeat)
    elif args.kind == "stats":
        out = stats_probe(args.file, args.repeat, args.bins)
    elif args.kind == "diff":
        out = diff_probe(args.file_a, args.file_b, args.repeat)
    else:
        out = gui_probe(args)
    print(RESULT_PREFIX + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

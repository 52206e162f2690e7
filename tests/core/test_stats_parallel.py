"""Statistics on several threads, and from pieces merged in any order, equal the serial
reference path (``compute_stats(workers=1)``) value for value, bit for bit."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from inspector.core.formats import open_checkpoint
from inspector.core.stats import compute_stats, iter_stats
from inspector.core.stats import parallel as parallel_mod
from inspector.core.stats import pieces as P

CHUNK = 4096  # bytes: a few thousand blocks, so every tensor is many pieces


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    g = torch.Generator().manual_seed(7)
    big = torch.randn(300, 257, generator=g) * 3 + 0.5
    with_nan = torch.randn(40_000, generator=g, dtype=torch.float64)
    with_nan[::97] = float("nan")
    with_nan[5::1001] = float("inf")
    with_nan[7::1003] = -float("inf")
    late_nan = torch.randn(20_000, generator=g)
    late_nan[:5000] = float("nan")  # the first blocks hold no finite value
    sd = {
        "f32": big,
        "f32_T": big.T,  # strided view
        "f32_cols": big[:, ::3],
        "f64_nan": with_nan,
        "late_nan": late_nan,
        "all_nan": torch.full((9000,), float("nan")),
        "const": torch.full((30_000,), 2.5),
        "zeros": torch.zeros(30_000),
        "int32": torch.randint(-1000, 1000, (50_000,), generator=g, dtype=torch.int32),
        "int64_pos": torch.randint(0, 10**12, (20_000,), generator=g),
        "uint8": torch.randint(0, 255, (70_000,), generator=g, dtype=torch.uint8),
        "bf16": (torch.randn(60_000, generator=g) * 0.02).to(torch.bfloat16),
        "f16": torch.randn(40_000, generator=g).half(),
        "c64": torch.randn(20_000, generator=g, dtype=torch.complex64),
        "bcast": torch.randn(1, 500, generator=g).expand(64, 500),
        "huge_range": torch.tensor([-1.7e308, 1.7e308, 0.0] * 3000, dtype=torch.float64),
        "small": torch.randn(50, generator=g),
        "empty": torch.zeros(0, 3),
        "scalar": torch.tensor(3.0),
    }
    path = tmp_path_factory.mktemp("par") / "mixed.pth"
    torch.save(sd, path)
    return path


def _same(a, b) -> bool:
    return repr(a) == repr(b)  # repr of a float round-trips: equal text, equal bits


@pytest.fixture(scope="module")
def reference(mixed):
    with open_checkpoint(mixed) as ck:
        return {p: compute_stats(ck, info, chunk_bytes=CHUNK, workers=1)
                for p, info in ck.tensors()}


@pytest.mark.parametrize("processes", [True, False])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_iter_stats_equals_serial_for_any_worker_count(mixed, reference, workers, processes,
                                                       monkeypatch):
    """Worker processes (forked) and threads alike."""
    monkeypatch.setattr(P, "PIECE_BYTES", 3 * CHUNK)  # many pieces per tensor
    monkeypatch.setattr(parallel_mod, "PROCESSES", processes)
    monkeypatch.setattr(parallel_mod, "INLINE_BYTES", 0)  # every tensor to the workers
    with open_checkpoint(mixed) as ck:
        items = list(iter_stats(ck, chunk_bytes=CHUNK, workers=workers))
    assert [i.path for i in items] == list(reference)
    for item in items:
        assert item.error is None, item
        assert _same(item.stats, reference[item.path]), item.path


@pytest.mark.parametrize("bins", [0, 7])
def test_other_bin_counts_and_the_one_pass_path(mixed, bins, monkeypatch):
    """bins=0 reads each tensor once (no min/max pass first): still the serial results."""
    monkeypatch.setattr(P, "PIECE_BYTES", 3 * CHUNK)
    calls = []
    real = P.fused_piece

    def fused(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(P, "fused_piece", fused)
    with open_checkpoint(mixed) as ck:
        want = {p: compute_stats(ck, info, bins=bins, chunk_bytes=CHUNK, workers=1)
                for p, info in ck.tensors()}
        items = list(iter_stats(ck, bins=bins, chunk_bytes=CHUNK, workers=2))
    for item in items:
        assert _same(item.stats, want[item.path]), item.path
    assert bool(calls) == (bins == 0)


def test_compute_stats_parallel_equals_serial(mixed, reference):
    with open_checkpoint(mixed) as ck:
        for p, info in ck.tensors():
            got = compute_stats(ck, info, chunk_bytes=CHUNK, workers=4)
            assert _same(got, reference[p]), p


def test_pieces_merged_in_any_order_equal_serial(mixed, reference):
    rng = random.Random(3)
    with open_checkpoint(mixed) as ck:
        for p, info in ck.tensors():
            lay = P.layout(ck, info, CHUNK)
            pieces = P.tensor_pieces(ck, info, chunk_bytes=CHUNK, piece_bytes=5 * CHUNK)
            order = pieces[:]
            rng.shuffle(order)
            scans = [P.scan_piece(ck, info, piece, chunk_bytes=CHUNK) for piece in order]
            scan = P.merge_scans(scans)
            part = None
            if P.needs_binning(scan):
                rng.shuffle(order)
                parts = [P.bin_piece(ck, info, piece, scan, chunk_bytes=CHUNK) for piece in order]
                # merging is associative: merge halves, then the halves
                half = len(parts) // 2
                halves = [P.merge_bins(parts[:half]), P.merge_bins(parts[half:])] if half else parts
                part = P.merge_bins(halves)
            got = P.finish_stats(ck, info, scan, part, chunk_bytes=CHUNK, lay=lay)
            assert _same(got, reference[p]), p


def test_piece_cuts_do_not_depend_on_workers(mixed):
    with open_checkpoint(mixed) as ck:
        info = dict(ck.tensors())[("f32",)]
        pieces = P.tensor_pieces(ck, info, chunk_bytes=CHUNK, piece_bytes=8 * CHUNK)
        assert len(pieces) >= 8
        assert pieces[0].start == 0 and all(a.stop == b.start for a, b in zip(pieces, pieces[1:]))
        assert pieces == P.tensor_pieces(ck, info, chunk_bytes=CHUNK, piece_bytes=8 * CHUNK)


def test_processes_are_used_when_forking_is_safe(mixed, monkeypatch):
    monkeypatch.setattr(parallel_mod, "PROCESSES", True)
    monkeypatch.setattr(P, "PIECE_BYTES", 3 * CHUNK)
    used = []
    real = parallel_mod.Engine._submit_child

    def counting(self, *a, **kw):
        used.append(1)
        return real(self, *a, **kw)

    monkeypatch.setattr(parallel_mod.Engine, "_submit_child", counting)
    with open_checkpoint(mixed) as ck:
        items = list(iter_stats(ck, chunk_bytes=CHUNK, workers=2))
    assert all(i.error is None for i in items)
    assert used or not parallel_mod.fork_is_safe()


def test_workers_default_to_the_affinity(monkeypatch):
    monkeypatch.setattr(parallel_mod.os, "sched_getaffinity", lambda _pid: {0, 2, 5})
    assert parallel_mod.usable_cores() == 3
    assert parallel_mod.resolve_workers(None) == 3
    assert parallel_mod.resolve_workers(1) == 1


def test_cancel_stops_the_pool(mixed):
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 20

    with open_checkpoint(mixed) as ck:
        got = list(iter_stats(ck, chunk_bytes=CHUNK, workers=2, cancel=stop))
    assert len(got) < len(dict(ck.tensors()))


def test_pieces_pickle(mixed):
    import pickle

    with open_checkpoint(mixed) as ck:
        info = dict(ck.tensors())[("f64_nan",)]
        piece = P.tensor_pieces(ck, info, chunk_bytes=CHUNK)[0]
        scan = P.scan_piece(ck, info, piece, chunk_bytes=CHUNK)
        part = P.bin_piece(ck, info, piece, scan, chunk_bytes=CHUNK)
    for obj in (piece, scan, part):
        back = pickle.loads(pickle.dumps(obj))
        assert type(back) is type(obj)
    assert np.array_equal(pickle.loads(pickle.dumps(part)).dev_sums, part.dev_sums)


CHILD_SCRIPT = """
import os, sys
import inspector.core.stats.pieces as P
from inspector.core.stats import parallel
from inspector.core.formats import open_checkpoint
from inspector.core.stats import iter_stats
P.PIECE_BYTES = 4096
parallel.PROCESSES = True
ck = open_checkpoint(sys.argv[1])
print(os.getpid(), flush=True)
while True:
    for _ in iter_stats(ck, chunk_bytes=4096, workers=2):
        pass
"""


def _children(pid: int) -> set[int]:
    import os

    kids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.add(int(entry))
    return kids


@pytest.mark.skipif(not parallel_mod.fork_is_safe(), reason="worker processes need fork")
def test_worker_processes_end_when_their_parent_is_killed(mixed):
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", CHILD_SCRIPT, str(mixed)],
                            stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        deadline = time.monotonic() + 60
        kids: set[int] = set()
        while not kids and time.monotonic() < deadline:
            kids = _children(pid)
            time.sleep(0.05)
        assert kids, "no worker process started"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    deadline = time.monotonic() + 10  # a worker polls its parent every PARENT_POLL_S
    while time.monotonic() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.1)
    assert not any(_alive(k) for k in kids), "a worker outlived its parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

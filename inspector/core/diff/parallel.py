"""Tensor pairs compared on every core: the statistics' thread pool running diff pieces.

A :class:`PairJob` checks its pieces for bit-for-bit equality first (each piece stops at its
first differing chunk), then - when some differ - computes every piece's metrics and merges
them exactly (module ``pieces``); the result is the same for any worker count.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import inspector.core.diff.pieces as D
from inspector.core.checkpoint import Checkpoint, CheckpointError
from inspector.core.diff.results import DiffCancelled, TensorComparison
from inspector.core.stats.parallel import INLINE_BYTES, Engine, unwrap
from inspector.core.stats.results import StatsCancelled


class PairJob:
    """One pair's comparison moving through its phases; ``result`` when done."""

    def __init__(self, engine: DiffEngine, ck_a: Checkpoint, ck_b: Checkpoint,
                 plan: D.PairPlan, tol):
        self.engine, self.ck_a, self.ck_b, self.plan, self.tol = engine, ck_a, ck_b, plan, tol
        self.pieces = D.diff_pieces(plan)
        self.result: TensorComparison | None = None
        self.error: CheckpointError | None = None
        self.futures = []
        if plan.same_dtype:
            self.phase = "equal"
            self._submit(D.equal_piece)
        else:
            self.phase = "diff"
            self._submit(D.diff_piece, tol=tol)

    def _submit(self, fn: Callable, **kw) -> None:
        e = self.engine
        # a one-piece pair is compared right here when a hand-off costs more than it saves
        # (always for threads; below 1 MiB for worker processes)
        small = len(self.pieces) == 1 and e.work is None and (
            not e.forking or math.prod(self.plan.shape) * 4 < INLINE_BYTES)
        submit = e.run_here if small else e.submit
        self.futures = [submit(fn, self.ck_a, self.ck_b, self.plan, p, **kw)
                        for p in self.pieces]

    @property
    def done(self) -> bool:
        return self.result is not None

    def advance(self) -> bool:
        if self.result is not None or not all(f.done() for f in self.futures):
            return False
        try:
            outs = unwrap([f.result() for f in self.futures])
        except CheckpointError as e:  # raised when the caller reaches this pair, in order
            self.error, self.futures = e, []
            self.result = TensorComparison(identical=False)
            return True
        self.futures = []
        if self.phase == "equal":
            if all(outs):
                self.result = D.finish_diff(self.plan, None, self.tol)
            else:
                self.phase = "diff"
                self._submit(D.diff_piece, tol=self.tol)
        else:
            self.result = D.finish_diff(self.plan, D.merge_diff(outs), self.tol)
        return True


class DiffEngine(Engine):
    """The statistics engine's pool and scheduling, for pair jobs."""

    CHILD_FUNCTIONS = ("equal_piece", "diff_piece")
    CHILD_MODULE = "inspector.core.diff.pieces"
    CHECKPOINT_ARGS = 2

    def __init__(self, workers: int | None, stop: Callable[[], bool], device: str = "cpu",
                 ck_a: Checkpoint | None = None, ck_b: Checkpoint | None = None):
        self.ck_a, self.ck_b = ck_a, ck_b
        super().__init__(None, 0, 0, workers, stop,
                         processes=False if device != "cpu" or ck_a is None else None)
        self.device = device
        self.work = None
        if device != "cpu":
            from inspector.core.diff.device import DeviceDiff

            self.work = DeviceDiff(device)

    def child_state(self) -> dict:
        return {"ck_a": self.ck_a, "ck_b": self.ck_b}

    def checkpoints(self) -> list:
        return [self.ck_a, self.ck_b]

    def submit(self, fn: Callable, *args, **kw):
        if self.work is not None and fn in (D.diff_piece, D.equal_piece):
            from inspector.core.diff.device import on_device

            if on_device(args[2]):
                return self.work.submit(self, fn, *args, **kw)
        return super().submit(fn, *args, **kw)

    def wait_for(self, job: PairJob, others: list) -> TensorComparison:
        try:
            while not job.done:
                self.step([job, *(o for o in others if not o.done)])
        except StatsCancelled:
            raise DiffCancelled("comparison cancelled") from None
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        super().close()
        if self.work is not None:
            self.work.close()

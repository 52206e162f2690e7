"""How much memory a run may take for what the file claims (torch-free).

A checkpoint's metadata can describe tensors far larger than the bytes it stores: stride-0
views repeat one element, meta tensors have no storage at all. Sizes inferred from such a
tensor (a built-in's width), the tensors cloned out of the file, and the sample input are
checked against :data:`MAX_RUN_BYTES` before anything is allocated.
"""

from __future__ import annotations

from inspector.core.inference.errors import InferenceError
from inspector.core.text import format_bytes

MAX_RUN_BYTES = 4 * 1024**3  # what a run may materialize: weights to load, model, input


def check_run_bytes(nbytes: int, what: str, limit: int = MAX_RUN_BYTES) -> None:
    """Raise :class:`InferenceError` naming the cap when ``what`` would take more than
    ``limit`` bytes in memory."""
    if nbytes > limit:
        raise InferenceError(f"{what} would take {format_bytes(nbytes)} in memory, more than "
                             f"the {format_bytes(limit)} a run may use")

"""Checkpoint Inspector: open, compare and run PyTorch checkpoints safely.

The Python API (:mod:`inspector.api`) is reachable from here: ``inspector.open``,
``inspector.diff``, ``inspector.convert``, ``inspector.scan``. It loads on first use, so
``import inspector`` stays light (no torch, no Qt).
"""

__version__ = "0.1.0"

__all__ = ["CheckpointError", "CheckpointFile", "TensorEntry", "__version__", "convert",
           "diff", "open", "scan"]

_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str):
    if name in _API:
        from inspector import api

        return getattr(api, name)
    raise AttributeError(f"module 'inspector' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)

"""Checkpoint Inspector: open, compare and run PyTorch checkpoints safely."""

__version__ = "0.1.0"

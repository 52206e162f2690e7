"""Errors of building, loading and running a model (torch-free).

Each error's ``message`` is one neutral sentence: it never names a command-line flag or a
widget. ``hint`` says what the user could change to get past it (one of the ``HINT_*``
values, or ``""``); each front end turns that into its own advice (``--input-shape`` on the
command line, the Shape field in the app).
"""

from __future__ import annotations

import traceback

HINT_GIVE_INPUT_SHAPE = "give-input-shape"  # no input shape could be derived: ask for one
HINT_CHANGE_INPUT_SHAPE = "change-input-shape"  # the forward pass rejected the input shape
HINT_ARCHITECTURE = "architecture"  # no built-in fits: ask for the user's own architecture
HINT_TRUST = "trust"  # the file's own code would run: trust it, or choose an architecture
HINT_RANDOM_INIT = "random-init"  # weights missing or mismatched: allow random init to go on
HINT_EXTRA_ARGS = "extra-args"  # forward() needs another argument: give it as extra arguments


class ModelError(Exception):
    """A model that cannot be built, loaded or run; ``message`` says why in one sentence,
    ``traceback_text`` carries the user code's traceback (may be empty) and ``hint`` what to
    change (a ``HINT_*`` value or ``""``)."""

    def __init__(self, message: str, traceback_text: str = "", hint: str = ""):
        super().__init__(message)
        self.message = message
        self.traceback_text = traceback_text
        self.hint = hint


class ModelCodeError(ModelError):
    """User code failed (syntax error, import error, exception in ``__init__`` or ``forward``).

    ``traceback_text`` holds the formatted traceback, to be shown as data.
    """


class InferenceError(ModelError):
    """The model could not be run as asked (device, dtype, input shape, size, …)."""


class TrustRequiredError(ModelError):
    """Running this file's own architecture would execute code from it; ``globals`` names it."""

    def __init__(self, path: str, globals_: list[str], kind: str):
        self.path = path
        self.globals = list(globals_)
        self.kind = kind
        named = ", ".join(globals_) if globals_ else "the code stored in the file"
        super().__init__(
            f"this file is a {kind} that carries its own architecture; loading it runs code from "
            f"the file ({named}). Only do that for a file you trust, or load its weights into "
            f"a known architecture instead", hint=HINT_TRUST)


class RandomInitError(InferenceError):
    """The checkpoint lacks weights the model needs (missing keys, shape mismatches): running
    would use random initial values for ``keys``; the caller may allow that explicitly."""

    def __init__(self, keys: list[str], missing: int, mismatched: int, architecture: str):
        self.keys = list(keys)
        shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
        parts = []
        if missing:
            parts.append(f"{missing} weight{'s' if missing != 1 else ''} the model needs "
                         f"{'are' if missing != 1 else 'is'} missing from the file")
        if mismatched:
            parts.append(f"{mismatched} weight{'s' if mismatched != 1 else ''} "
                         f"{'have' if mismatched != 1 else 'has'} another shape in the file")
        super().__init__(
            f"{' and '.join(parts)} for {architecture}: running would use random values for "
            f"{shown}, so the outputs would mean little; run anyway only if that is what you "
            f"want", hint=HINT_RANDOM_INIT)


def format_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` as text, to be shown as data."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

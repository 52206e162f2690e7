"""Run a checkpoint's model in train and in eval mode on a chosen device, and compare.

The point is to show what ``model.eval()`` changes: Dropout stops dropping, BatchNorm uses its
running statistics. :func:`iter_run_demo` is a generator that yields :class:`RunProgress`
steps (so a Qt worker can show progress and cancel by no longer pulling) and finally yields
the :class:`RunResult`; :func:`run_demo` is the blocking form.

Guarantees: the file is never written (tensors are cloned out of a private mapping); the
train-mode passes run on a ``copy.deepcopy`` of the model, so the loaded weights and the
BatchNorm running statistics stay bit-identical (checked and reported as
``weights_unchanged``); global state (RNG, grad mode, thread count) is left as it was.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from inspector.core.architectures import (
    KIND_TEXT,
    ModelCodeError,
    ModelError,
    ShapeMismatch,
    TrustRequiredError,
    build_model,
    format_traceback,
    is_exported_program,
    load_trusted_model,
    locate_state_dict,
    match_keys,
    model_kind,
    model_shapes,
    propose_architecture,
    resolve_architecture,
    strip_shared_prefixes,
)
from inspector.core.checkpoint import CheckpointError
from inspector.core.devices import DeviceError, check_device

DEFAULT_RUNS = 20
DEFAULT_BATCH = 4
DEFAULT_IMAGE_SIDE = 32
DEFAULT_SEQUENCE = 16
MIN_PROPOSAL_SCORE = 0.5


class InferenceError(ModelError):
    """The model could not be run as asked (device, dtype, input shape, …)."""


# ---------------------------------------------------------------------------------------------
# Plain data


@dataclass
class RunConfig:
    """What to run. ``architecture`` is a spec for :func:`resolve_architecture` (None: propose
    a built-in); ``input_shape`` is one sample's shape, without the batch dimension;
    ``trust`` allows running a file's own architecture (whole-model pickle, TorchScript)."""

    path: str
    architecture: str | None = None
    arch_kwargs: dict[str, Any] | None = None
    device: str = "cpu"
    dtype: str = "float32"
    runs: int = DEFAULT_RUNS
    batch_size: int = DEFAULT_BATCH
    seed: int = 0
    input_shape: tuple[int, ...] | None = None
    trust: bool = False
    container: tuple | None = None  # key path of the state_dict inside the file


@dataclass(frozen=True)
class RunProgress:
    """One step of a run: ``text`` for a status bar, ``done`` of ``total`` steps."""

    text: str
    done: int
    total: int


@dataclass
class LoadReport:
    """What loading the weights did. Key fixes are applied in memory only, never to the file."""

    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    shape_mismatches: list[ShapeMismatch] = field(default_factory=list)
    fixes_applied: list[str] = field(default_factory=list)
    loaded_keys: int = 0
    container: tuple = ()

    def to_json(self) -> dict:
        return {"missing_keys": list(self.missing_keys),
                "unexpected_keys": list(self.unexpected_keys),
                "shape_mismatches": [m.to_json() for m in self.shape_mismatches],
                "fixes_applied": list(self.fixes_applied)}


@dataclass(frozen=True)
class ModeSensitiveLayer:
    """A layer that behaves differently in train and eval mode, and how."""

    name: str
    type: str
    explanation: str


@dataclass
class LoadedModel:
    """A model with its weights loaded (on the CPU, float32 as stored), ready to run."""

    model: nn.Module
    architecture: str
    load: LoadReport
    notes: list[str] = field(default_factory=list)


@dataclass
class ModeResult:
    """``runs`` forward passes in one mode. ``outputs`` has shape (runs, *output_shape),
    float32 on the CPU: per-output values of each run, for plots."""

    runs: int
    spread: float  # mean over output elements of the std across runs
    max_run_diff: float  # largest |difference| between any two runs, over all elements
    ms_per_run: float
    outputs: np.ndarray

    def to_json(self) -> dict:
        return {"runs": self.runs, "spread": _finite(self.spread),
                "max_run_diff": _finite(self.max_run_diff),
                "ms_per_run": round(self.ms_per_run, 4)}


@dataclass
class RunResult:
    """Everything a front end shows after a run; :meth:`to_json` is the CLI's document."""

    device: str
    dtype: str
    architecture: str
    load: LoadReport
    mode_sensitive_layers: list[ModeSensitiveLayer]
    input_shape: tuple[int, ...]
    input_description: str
    output_shape: tuple[int, ...]
    train: ModeResult
    eval: ModeResult
    eval_vs_train_mean: float  # mean |eval output - mean of the train outputs|
    bn_running_stats_drift: float  # largest change the train passes made to running stats
    weights_unchanged: bool
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "device": self.device, "dtype": self.dtype, "architecture": self.architecture,
            "load": self.load.to_json(),
            "mode_sensitive_layers": [{"name": m.name, "type": m.type}
                                      for m in self.mode_sensitive_layers],
            "input_shape": list(self.input_shape), "output_shape": list(self.output_shape),
            "train": self.train.to_json(), "eval": self.eval.to_json(),
            "eval_vs_train_mean": _finite(self.eval_vs_train_mean),
            "bn_running_stats_drift": _finite(self.bn_running_stats_drift),
            "weights_unchanged": self.weights_unchanged,
        }


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


# ---------------------------------------------------------------------------------------------
# Loading


def load_model(config: RunConfig) -> LoadedModel:
    """Build the model and load the checkpoint's weights (see :class:`LoadReport`)."""
    from inspector.core.formats import open_checkpoint

    try:
        ckpt = open_checkpoint(config.path)
    except CheckpointError:
        if not is_exported_program(config.path):
            raise
        if not config.trust:
            raise TrustRequiredError(config.path, [], KIND_TEXT["exported-program"]) from None
        model = load_trusted_model(config.path, trusted=True)
        report = LoadReport(fixes_applied=[
            f"instantiated the {KIND_TEXT['exported-program']} by running its code "
            f"(trusted by you)"], loaded_keys=len(model.state_dict()))
        return LoadedModel(model, "exported program (from the file, trusted)", report)
    try:
        kind = model_kind(ckpt)
        if kind != "state_dict" and config.architecture is None and config.container is None:
            if not config.trust:
                raise TrustRequiredError(ckpt.path, list(ckpt.unsafe_globals), KIND_TEXT[kind])
            model = load_trusted_model(ckpt.path, trusted=True)
            report = LoadReport(fixes_applied=[
                f"instantiated the {KIND_TEXT[kind]} by running its code (trusted by you)"],
                loaded_keys=len(model.state_dict()))
            return LoadedModel(model, f"{type(model).__name__} (from the file, trusted)", report)

        source = locate_state_dict(ckpt, config.container)
        if not source.entries:
            raise InferenceError("the file contains no tensors that could be model weights")
        notes: list[str] = []
        if config.architecture is None:
            proposal = propose_architecture(source)
            if proposal is None or proposal.score < MIN_PROPOSAL_SCORE:
                best = (f" (closest built-in: {proposal.architecture.name}, "
                        f"{proposal.score:.0%} of keys match)" if proposal else "")
                raise InferenceError(
                    f"no built-in architecture matches this checkpoint's weights{best}; "
                    f"give one: --arch path/to/model.py:ClassName (and --arch-kwargs JSON)")
            arch = proposal.architecture
            kwargs = {**proposal.kwargs, **(config.arch_kwargs or {})}
            note = (f"proposed the built-in {arch.name!r}: {proposal.score:.0%} of keys match "
                    f"with {proposal.kwargs}")
            if config.arch_kwargs:
                note += f"; your kwargs make it {kwargs}"
            notes.append(note)
        else:
            arch = resolve_architecture(config.architecture)
            kwargs = dict(config.arch_kwargs or {})
            if arch.infer_kwargs is not None:
                inferred = arch.infer_kwargs(strip_shared_prefixes(source.shapes())) or {}
                kwargs = {**inferred, **kwargs}
        with torch.random.fork_rng(devices=[]):  # initial values of missing keys: reproducible
            torch.manual_seed(config.seed)
            model = build_model(arch, kwargs)
        match = match_keys(model_shapes(model), source.shapes())
        state = {}
        for key, ck in match.mapping.items():
            info = source.entries[ck]
            if info.layout not in ("strided", "sharded"):  # sharded: DCP, assembled on demand
                raise InferenceError(f"weight {ck!r} is a {info.layout} tensor; only dense "
                                     f"tensors can be loaded into a model")
            # clone: the model must never hold views of the file mapping
            state[key] = ckpt.tensor(info).clone()
        model.load_state_dict(state, strict=False)
        report = LoadReport(
            missing_keys=list(match.missing_keys), unexpected_keys=list(match.unexpected_keys),
            shape_mismatches=list(match.shape_mismatches),
            fixes_applied=list(source.fixes) + list(match.fixes_applied),
            loaded_keys=len(state), container=source.container)
        return LoadedModel(model, arch.name, report, notes)
    finally:
        ckpt.close()


# ---------------------------------------------------------------------------------------------
# Mode-sensitive layers


def _type_name(module: nn.Module) -> str:
    return getattr(module, "original_name", None) or type(module).__name__


def mode_sensitive_layers(model: nn.Module) -> list[ModeSensitiveLayer]:
    """The layers whose behaviour depends on ``model.training``, each with a sentence on how."""
    found = []
    for name, m in model.named_modules():
        t = _type_name(m)
        text = None
        if isinstance(m, nn.modules.dropout._DropoutNd) or t.endswith("Dropout") or t in (
                "Dropout1d", "Dropout2d", "Dropout3d"):
            p = getattr(m, "p", None)
            rate = f"p={p:g}" if isinstance(p, float) else "probability p"
            if "Alpha" in t:
                text = (f"in train mode it randomly sets activations ({rate}) to the SELU "
                        f"saturation value keeping mean and variance; in eval mode it passes "
                        f"the input through unchanged")
            else:
                what = "whole channels" if t[-2:] in ("1d", "2d", "3d") else "elements"
                text = (f"in train mode it zeroes random {what} ({rate}) and scales the rest "
                        f"by 1/(1-p); in eval mode it passes the input through unchanged")
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) or "BatchNorm" in t:
            if getattr(m, "track_running_stats", True):
                text = ("in train mode it normalizes with the current batch's mean and variance "
                        "and updates its running statistics; in eval mode it uses the stored "
                        "running statistics, so outputs no longer depend on the batch")
        elif isinstance(m, nn.modules.instancenorm._InstanceNorm) or "InstanceNorm" in t:
            if getattr(m, "track_running_stats", False):
                text = ("in train mode it normalizes each sample with its own statistics and "
                        "updates running statistics; in eval mode it uses the running statistics")
        elif isinstance(m, nn.RReLU) or t == "RReLU":
            text = ("in train mode the negative slope is drawn at random for each element; in "
                    "eval mode it is fixed at (lower+upper)/2")
        elif isinstance(m, nn.MultiheadAttention) and m.dropout > 0:
            text = (f"in train mode it drops attention weights (p={m.dropout:g}); in eval mode "
                    f"attention is deterministic")
        elif isinstance(m, nn.RNNBase) and m.dropout > 0 and m.num_layers > 1:
            text = (f"in train mode it applies dropout (p={m.dropout:g}) between stacked "
                    f"layers; in eval mode it does not")
        if text:
            found.append(ModeSensitiveLayer(name or "(model)", t, text))
    return found


# ---------------------------------------------------------------------------------------------
# Sample input


def _first_layer(model: nn.Module) -> tuple[str, nn.Module] | None:
    for name, m in model.named_modules():
        t = _type_name(m)
        if t in ("Conv1d", "Conv2d", "Conv3d", "Linear", "Embedding", "LazyLinear", "Bilinear",
                 "EmbeddingBag", "RNN", "LSTM", "GRU") or isinstance(
                m, nn.modules.conv._ConvNd | nn.Linear | nn.Embedding | nn.EmbeddingBag
                | nn.RNNBase):
            return name, m
    return None


def sample_input(model: nn.Module, batch_size: int = DEFAULT_BATCH, seed: int = 0,
                 input_shape: tuple[int, ...] | None = None) -> tuple[torch.Tensor, str]:
    """A reproducible random input for ``model`` (CPU, float32 or int64 token ids) and a
    sentence saying how its shape was chosen.

    The shape is ``input_shape`` if given (one sample, no batch dimension), else the model's
    ``example_input_shape`` attribute, else derived from the first layer: Conv2d → (C, 32, 32),
    Conv1d → (C, 64), Conv3d → (C, 16, 16, 16), Linear → (in_features,), Embedding → 16 ids.
    """
    if batch_size < 1:
        raise InferenceError(f"batch size must be at least 1, got {batch_size}")
    gen = torch.Generator().manual_seed(seed)
    first = _first_layer(model)
    token_range: int | None = None
    if first is not None and _type_name(first[1]) in ("Embedding", "EmbeddingBag"):
        token_range = int(first[1].num_embeddings)
    how = ""
    if input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
        how = "the shape you gave"
    elif getattr(model, "example_input_shape", None):
        shape = tuple(int(s) for s in model.example_input_shape)
        how = "the architecture's example_input_shape"
    elif first is None:
        raise InferenceError("cannot tell the input shape: the model has no Conv, Linear, "
                             "Embedding or RNN layer; give one with --input-shape")
    else:
        name, m = first
        t = _type_name(m)
        if t.startswith("Conv"):
            dims = {"Conv1d": (64,), "Conv2d": (DEFAULT_IMAGE_SIDE, DEFAULT_IMAGE_SIDE),
                    "Conv3d": (16, 16, 16)}.get(t, (DEFAULT_IMAGE_SIDE, DEFAULT_IMAGE_SIDE))
            shape = (int(m.in_channels), *dims)
        elif t in ("Embedding", "EmbeddingBag"):
            shape = (DEFAULT_SEQUENCE,)
        elif t in ("RNN", "LSTM", "GRU"):
            shape = (DEFAULT_SEQUENCE, int(m.input_size))
            if not getattr(m, "batch_first", False):
                raise InferenceError(f"first layer {name!r} is a {t} without batch_first; give "
                                     f"the input shape with --input-shape")
        else:
            shape = (int(m.in_features),)
        how = f"the first layer, {t} {name!r}"
    if any(s < 1 for s in shape):
        raise InferenceError(f"input shape {list(shape)} has a dimension below 1")
    full = (batch_size, *shape)
    if token_range is not None:
        x = torch.randint(0, token_range, full, generator=gen)
        how += f" (random token ids below {token_range})"
    else:
        x = torch.randn(full, generator=gen)
    return x, f"input {list(full)} from {how}, seed {seed}"


# ---------------------------------------------------------------------------------------------
# Running


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        for key in ("logits", "out", "output"):
            if isinstance(out.get(key), torch.Tensor):
                return out[key]
        values = out.values()
    elif isinstance(out, list | tuple):
        values = out
    else:
        values = [getattr(out, "logits", None)]
    for v in values:
        t = _first_tensor(v)
        if t is not None:
            return t
    return None


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(a.detach().reshape(-1).contiguous().view(torch.uint8),
                       b.detach().reshape(-1).contiguous().view(torch.uint8))


def _running_stats(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().float().clone() for k, v in model.named_buffers()
            if k.endswith(("running_mean", "running_var"))}


@contextmanager
def _seeded(device: torch.device, seed: int) -> Iterator[None]:
    """Seed the RNGs a forward pass on ``device`` uses, and restore them afterwards."""
    kind = device.type if device.type in ("cuda", "mps") else "cuda"
    devices = [device.index or 0] if device.type in ("cuda", "mps") else []
    with torch.random.fork_rng(devices=devices, device_type=kind):
        torch.random.default_generator.manual_seed(seed)
        if device.type == "cuda":
            torch.cuda.default_generators[device.index or 0].manual_seed(seed)
        elif device.type == "mps":
            torch.mps.manual_seed(seed)
        yield


def _forward(model: nn.Module, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """One forward pass under inference_mode; user-code failures become ModelCodeError."""
    try:
        with torch.inference_mode():
            out = model(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
    except BaseException as e:  # noqa: BLE001 - user code may raise anything
        if isinstance(e, KeyboardInterrupt):
            raise
        raise _forward_error(e, x) from None
    t = _first_tensor(out)
    if t is None:
        raise InferenceError(f"the model returned {type(out).__name__} with no tensor in it")
    return t.detach().float().cpu()


def _forward_error(e: BaseException, x: torch.Tensor) -> ModelError:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    tb = format_traceback(e)
    low = msg.lower()
    if "more than 1 value per channel" in low:
        return InferenceError(f"train-mode BatchNorm needs more than one value per channel: "
                              f"{msg}; use a batch size of 2 or more", tb)
    if "not implemented for" in low and ("half" in low or "bfloat16" in low):
        return InferenceError(f"{x.dtype} is not supported for this model on {x.device}: "
                              f"{msg}; try float32", tb)
    if isinstance(e, RuntimeError) and ("shape" in low or "size" in low or "expected" in low):
        return ModelCodeError(f"forward pass with input {list(x.shape)} failed: {msg} "
                              f"(give another shape with --input-shape)", tb)
    return ModelCodeError(f"the model's forward raised {type(e).__name__}: {msg}", tb)


def _set_mode(model: nn.Module, train: bool) -> None:
    try:
        model.train(train)
    except NotImplementedError as e:  # e.g. a torch.export program is fixed to one mode
        raise InferenceError(f"this model cannot be switched to {'train' if train else 'eval'} "
                             f"mode ({e}); a torch.export program keeps the mode it was "
                             f"exported in") from None


def _mode_result(outputs: list[torch.Tensor], seconds: float) -> ModeResult:
    stack = torch.stack(outputs)
    n = stack.shape[0]
    if n > 1:
        spread = float(stack.std(dim=0, correction=0).mean())
        diff = float((stack.amax(dim=0) - stack.amin(dim=0)).max()) if stack.numel() else 0.0
    else:
        spread = diff = 0.0
    return ModeResult(runs=n, spread=spread, max_run_diff=diff,
                      ms_per_run=1000.0 * seconds / max(n, 1), outputs=stack.numpy())


def iter_run_model(loaded: LoadedModel, config: RunConfig
                   ) -> Generator[RunProgress | RunResult, None, RunResult]:
    """Run ``loaded`` in train mode (on a deep copy) and eval mode; yields progress, then the
    :class:`RunResult` (which is also the generator's return value)."""
    if config.runs < 1:
        raise InferenceError(f"runs must be at least 1, got {config.runs}")
    try:
        check_device(config.device, config.dtype)
    except DeviceError as e:
        raise InferenceError(str(e)) from None
    device = torch.device("cuda:0" if config.device == "cuda" else config.device)
    dtype = getattr(torch, config.dtype)
    total = 2 * config.runs + 4
    done = 0

    def step(text: str) -> RunProgress:
        nonlocal done
        done += 1
        return RunProgress(text, min(done, total), total)

    model = loaded.model
    yield step(f"moving the model to {device} ({config.dtype})")
    try:
        model.to(device=device, dtype=dtype)
    except (RuntimeError, TypeError) as e:
        raise InferenceError(f"cannot move the model to {device} as {config.dtype}: {e}") from None
    x, input_description = sample_input(model, config.batch_size, config.seed, config.input_shape)
    x = x.to(device) if not x.is_floating_point() else x.to(device=device, dtype=dtype)
    layers = mode_sensitive_layers(model)
    before = _snapshot(model)

    yield step("warm-up pass (eval mode)")
    _set_mode(model, False)
    with _seeded(device, config.seed):
        first = _forward(model, x, device)

    trainee = copy.deepcopy(model)
    _set_mode(trainee, True)
    stats_before = _running_stats(trainee)
    train_out: list[torch.Tensor] = []
    elapsed = 0.0
    for i in range(config.runs):
        yield step(f"train pass {i + 1}/{config.runs}")
        with _seeded(device, config.seed + i):
            t0 = time.perf_counter()
            train_out.append(_forward(trainee, x, device))
            elapsed += time.perf_counter() - t0
    train = _mode_result(train_out, elapsed)
    stats_after = _running_stats(trainee)
    drift = max((float((stats_after[k] - v).abs().max()) for k, v in stats_before.items()
                 if v.numel()), default=0.0)
    del trainee

    eval_out: list[torch.Tensor] = []
    elapsed = 0.0
    _set_mode(model, False)
    for i in range(config.runs):
        yield step(f"eval pass {i + 1}/{config.runs}")
        with _seeded(device, config.seed + i):
            t0 = time.perf_counter()
            eval_out.append(_forward(model, x, device))
            elapsed += time.perf_counter() - t0
    evaluation = _mode_result(eval_out, elapsed)

    yield step("checking that the loaded weights are unchanged")
    after = model.state_dict()
    unchanged = before.keys() == after.keys() and all(
        _bits_equal(before[k], after[k]) for k in before)
    diff = float((torch.stack(eval_out).mean(0) - torch.stack(train_out).mean(0)).abs().mean()) \
        if first.numel() else 0.0
    notes = list(loaded.notes)
    if config.dtype != "float32":
        notes.append(f"ran in {config.dtype}; outputs were converted to float32 for comparison")
    result = RunResult(
        device=str(device), dtype=config.dtype, architecture=loaded.architecture,
        load=loaded.load, mode_sensitive_layers=layers, input_shape=tuple(x.shape),
        input_description=input_description, output_shape=tuple(first.shape),
        train=train, eval=evaluation, eval_vs_train_mean=diff,
        bn_running_stats_drift=drift, weights_unchanged=unchanged, notes=notes)
    yield result
    return result


def iter_run_demo(config: RunConfig) -> Generator[RunProgress | RunResult, None, RunResult]:
    """Load the checkpoint and run it: yields :class:`RunProgress` steps, then the
    :class:`RunResult`. Stop iterating to cancel (between passes).

    Raises CheckpointError (file problems), TrustRequiredError, ModelCodeError (user code,
    with ``traceback_text``) or InferenceError.
    """
    yield RunProgress(f"opening {config.path} and building the model", 0, 1)
    loaded = load_model(config)
    result = yield from iter_run_model(loaded, config)
    return result


def run_demo(config: RunConfig) -> RunResult:
    """Blocking form of :func:`iter_run_demo`."""
    result = None
    for item in iter_run_demo(config):
        if isinstance(item, RunResult):
            result = item
    assert result is not None
    return result


@dataclass(frozen=True)
class RunFailure:
    """A run that stopped on an error the user can act on, as plain picklable data.

    ``message`` is one sentence; ``traceback_text`` the user code's traceback (may be empty);
    ``kind`` the error's class name (``"ModelCodeError"``, ``"TrustRequiredError"``, …);
    ``globals`` the code a trust decision would run (TrustRequiredError only).
    """

    message: str
    traceback_text: str = ""
    kind: str = "InferenceError"
    globals: tuple[str, ...] = ()


def iter_run_demo_plain(path: str, architecture: str | None = None,
                        arch_kwargs: dict[str, Any] | None = None, device: str = "cpu",
                        dtype: str = "float32", runs: int = DEFAULT_RUNS,
                        batch_size: int = DEFAULT_BATCH, seed: int = 0,
                        input_shape: tuple[int, ...] | list[int] | None = None,
                        trust: bool = False, container: tuple | list | None = None
                        ) -> Iterator[dict[str, Any]]:
    """:func:`iter_run_demo` for a worker process: plain arguments in, plain dicts out.

    Yields :func:`plain` forms of :class:`RunProgress` steps, then of a :class:`RunResult` or
    a :class:`RunFailure`. Plain dicts (and numpy arrays) unpickle without torch or this
    module, so the receiving GUI process never has to import torch. Expected errors become a
    RunFailure because some of them (TrustRequiredError) cannot be unpickled, and a
    ModelCodeError's traceback would be lost on the way.
    """
    config = RunConfig(
        path=str(path), architecture=architecture, arch_kwargs=dict(arch_kwargs or {}),
        device=device, dtype=dtype, runs=int(runs), batch_size=int(batch_size), seed=int(seed),
        input_shape=tuple(int(s) for s in input_shape) if input_shape is not None else None,
        trust=bool(trust), container=tuple(container) if container is not None else None)
    try:
        for item in iter_run_demo(config):
            yield plain(item)
    except ModelError as e:
        yield plain(RunFailure(e.message, e.traceback_text, type(e).__name__,
                               tuple(getattr(e, "globals", ()) or ())))
    except CheckpointError as e:
        yield plain(RunFailure(f"cannot read {e.path}: {e.problem}", "", "CheckpointError"))


def plain(item: Any) -> dict[str, Any]:
    """A dataclass as nested dicts/lists/tuples (arrays stay numpy), with ``"item"`` set to
    its class name: data another process can unpickle without importing torch."""
    out = dataclasses.asdict(item)
    out["item"] = type(item).__name__
    return out


@dataclass(frozen=True)
class ArchitectureChoice:
    """A built-in as a front end offers it for one checkpoint: ``score`` is the share of keys
    that match (0 when it cannot hold these weights), ``kwargs`` the sizes inferred from the
    weights, ``input_shape`` one sample's automatic input shape with those sizes (or None)."""

    name: str
    description: str
    score: float
    kwargs: dict[str, Any]
    input_shape: tuple[int, ...] | None


@dataclass(frozen=True)
class InferenceOptions:
    """What a front end offers for running one checkpoint, read from metadata only.

    ``kind`` is :func:`model_kind` (``"state_dict"``, ``"whole-model"``, ``"torchscript"``,
    ``"exported-program"``); for the others, ``globals`` names the code that trusting the file
    would run. ``proposed`` is the built-in preselected (None when none matches well enough).
    ``problem`` is set when the file cannot be read.
    """

    kind: str
    kind_text: str
    globals: tuple[str, ...]
    architectures: tuple[ArchitectureChoice, ...]
    proposed: str | None
    devices: tuple
    problem: str = ""


def inference_options(path: str) -> InferenceOptions:
    """The :class:`InferenceOptions` for ``path``; never runs code from the file."""
    from inspector.core.architectures import BUILTINS, rank_architectures
    from inspector.core.devices import list_devices
    from inspector.core.formats import open_checkpoint

    devices = tuple(list_devices())
    try:
        ckpt = open_checkpoint(path)
    except CheckpointError as e:
        if is_exported_program(path):
            kind = "exported-program"
            return InferenceOptions(kind, KIND_TEXT[kind], (), (), None, devices)
        return InferenceOptions("state_dict", "", (), (), None, devices, e.problem)
    try:
        kind = model_kind(ckpt)
        globals_ = tuple(ckpt.unsafe_globals)
        source = locate_state_dict(ckpt)
        ranked = {p.architecture.name: p for p in rank_architectures(source)} \
            if source.entries else {}
    finally:
        ckpt.close()
    choices = []
    for arch in BUILTINS.values():
        p = ranked.get(arch.name)
        kwargs = dict(p.kwargs) if p is not None else {}
        shape = None
        if p is not None:
            try:
                with torch.device("meta"), torch.random.fork_rng(devices=[]):
                    model = build_model(arch, kwargs)
                x, _how = sample_input(model, batch_size=1)
                shape = tuple(int(s) for s in x.shape[1:])
            except (ModelError, RuntimeError, ValueError, TypeError):
                shape = None
        choices.append(ArchitectureChoice(arch.name, arch.description,
                                          p.score if p is not None else 0.0, kwargs, shape))
    best = max(ranked.values(), key=lambda p: p.score, default=None)
    proposed = best.architecture.name if best is not None and \
        best.score >= MIN_PROPOSAL_SCORE else None
    return InferenceOptions(kind, KIND_TEXT.get(kind, ""), globals_, tuple(choices), proposed,
                            devices)


def iter_inference_options(path: str) -> Iterator[dict[str, Any]]:
    """:func:`inference_options` for a worker process: one :func:`plain` dict."""
    yield plain(inference_options(path))


__all__ = [
    "ArchitectureChoice", "InferenceOptions", "inference_options", "iter_inference_options",
    "plain",
    "CheckpointError", "InferenceError", "LoadReport", "LoadedModel", "ModeResult",
    "ModeSensitiveLayer", "ModelCodeError", "ModelError", "RunConfig", "RunFailure",
    "RunProgress", "RunResult", "TrustRequiredError", "iter_run_demo", "iter_run_demo_plain",
    "iter_run_model", "load_model", "mode_sensitive_layers", "run_demo", "sample_input",
]

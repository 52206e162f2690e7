"""Run a checkpoint's model in train and in eval mode on a chosen device, and compare.

The point is to show what ``model.eval()`` changes: Dropout stops dropping, BatchNorm uses its
running statistics. :func:`iter_run_demo` is a generator that yields
:class:`~inspector.core.jobs.JobProgress` steps (a worker can show progress and cancel by no
longer pulling) and finally the :class:`RunResult`; :func:`run_demo` is the blocking form and
:func:`iter_run_job` the worker-process target.

Guarantees: the file is never written (tensors are cloned out of a private mapping); the
train-mode passes run on a ``copy.deepcopy`` of the model, so the loaded weights and the
BatchNorm running statistics stay bit-identical (checked and reported as
``weights_unchanged``); global state (RNG, grad mode, thread count) is left as it was; what
the file's metadata claims is checked against
:data:`~inspector.core.inference.limits.MAX_RUN_BYTES` before it is allocated.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from inspector.core.checkpoint import CheckpointError
from inspector.core.devices import DeviceError, check_device
from inspector.core.inference.architectures import build_model, resolve_architecture
from inspector.core.inference.config import RunConfig
from inspector.core.inference.errors import (
    HINT_ARCHITECTURE,
    HINT_CHANGE_INPUT_SHAPE,
    HINT_EXTRA_ARGS,
    InferenceError,
    ModelCodeError,
    ModelError,
    RandomInitError,
    TrustRequiredError,
    format_traceback,
)
from inspector.core.inference.layers import mode_sensitive_layers, sample_input
from inspector.core.inference.limits import check_run_bytes
from inspector.core.inference.matching import (
    build_on_meta,
    locate_state_dict,
    match_keys,
    model_shapes,
    propose_architecture,
)
from inspector.core.inference.results import (
    InferenceFailure,
    LoadReport,
    ModeResult,
    RunResult,
)
from inspector.core.inference.trust import (
    KIND_TEXT,
    is_exported_program,
    load_trusted_model,
    model_kind,
)
from inspector.core.inference.zoo.build import LibraryModel
from inspector.core.inference.zoo.inputs import (
    ModelInput,
    embedding_cosine,
    make_input,
    npy_input,
    predictions,
    reduce_output,
)
from inspector.core.inference.zoo.libraries import missing_note
from inspector.core.inference.zoo.load import library_architecture, proposed_model
from inspector.core.inference.zoo.task import OUT_EMBEDDING, OUT_MASKED, OUT_NEXT_TOKEN, ModelTask
from inspector.core.jobs import JobProgress
from inspector.core.state_dict import strip_wrapper_prefixes
from inspector.core.text import percent_text

MIN_PROPOSAL_SCORE = 0.5  # below this share of matching keys a built-in is not proposed


@dataclass
class LoadedModel:
    """A model with its weights loaded (on the CPU, as stored), ready to run."""

    model: nn.Module
    architecture: str
    load: LoadReport
    notes: list[str] = field(default_factory=list)
    task: ModelTask | None = None  # a library model's input and output (None: random tensor)
    random_init_keys: tuple[str, ...] = ()  # model keys left with random initial values


def _share(score: float) -> str:
    return percent_text(round(100 * score), 100)


def _state_bytes(model: nn.Module) -> int:
    """Bytes of the model's parameters and buffers as they would be materialized."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def _trusted(path: str, kind: str) -> LoadedModel:
    """The file's own model, instantiated by running its code (the caller checked trust)."""
    model = load_trusted_model(path, trusted=True)
    check_run_bytes(_state_bytes(model), "the model in the file")
    report = LoadReport(
        fixes_applied=(f"instantiated the {KIND_TEXT[kind]} by running its code "
                       f"(trusted by you)",), loaded_keys=len(model.state_dict()))
    name = ("exported program" if kind == "exported-program" else type(model).__name__)
    return LoadedModel(model, f"{name} (from the file, trusted)", report)


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
        return _trusted(config.path, "exported-program")
    try:
        kind = model_kind(ckpt)
        if kind != "state_dict" and config.architecture is None and config.container is None:
            if not config.trust:
                raise TrustRequiredError(ckpt.path, list(ckpt.unsafe_globals), KIND_TEXT[kind])
            return _trusted(ckpt.path, kind)

        source = locate_state_dict(ckpt, config.container)
        if not source.entries:
            raise InferenceError("the file contains no tensors that could be model weights")
        shapes = source.shapes()
        library_model = library_architecture(config, ckpt, shapes)
        if library_model is None:
            model, name, notes = _builtin_or_proposal(config, source)
            if isinstance(model, LibraryModel):
                library_model = model
        if library_model is not None:
            name = library_model.name
            match = library_model.match(shapes)
            optional = library_model.optional_keys
        else:
            match = match_keys(model_shapes(model), shapes)
            optional = frozenset()
        random_keys = tuple([k for k in match.missing_keys if k not in optional]
                            + [m.key for m in match.shape_mismatches])
        if random_keys and library_model is not None and library_model.shard_folder:
            raise InferenceError(
                f"this file is one of several weight files of the model in "
                f"{library_model.shard_folder}: {len(random_keys)} of its weights are in the "
                f"others; open the folder to load every shard")
        if random_keys and not config.allow_random_init:
            raise RandomInitError(list(random_keys), len(random_keys) - len(
                match.shape_mismatches), len(match.shape_mismatches), name)
        if library_model is not None:  # built on the CPU now that the weights fit
            library_model = library_model.materialize(
                init=bool(match.missing_keys or match.shape_mismatches))
            model, notes = library_model.model, list(library_model.notes)
        if random_keys:
            notes.append(f"ran with random initial values for {len(random_keys)} weight"
                         f"{'s' if len(random_keys) != 1 else ''} (you allowed it)")
        for ck in match.mapping.values():
            info = source.entries[ck]
            if info.layout not in ("strided", "sharded"):  # sharded: DCP, assembled on demand
                raise InferenceError(f"weight {ck!r} is a {info.layout} tensor; only dense "
                                     f"tensors can be loaded into a model")
        check_run_bytes(sum(source.entries[ck].nbytes for ck in match.mapping.values()),
                        "the weights to load")
        # clone: the model must never hold views of the file mapping
        state = {key: ckpt.tensor(source.entries[ck]).clone()
                 for key, ck in match.mapping.items()}
        model.load_state_dict(state, strict=False)
        report = LoadReport(
            missing_keys=match.missing_keys, unexpected_keys=match.unexpected_keys,
            shape_mismatches=match.shape_mismatches,
            fixes_applied=source.fixes + match.fixes_applied,
            loaded_keys=len(state), container=source.container)
        return LoadedModel(model, name, report, notes,
                           library_model.task if library_model is not None else None,
                           random_keys)
    finally:
        ckpt.close()


def _builtin_or_proposal(config: RunConfig, source) -> tuple[Any, str, list[str]]:
    """(model, name, notes) for a built-in or the user's code; for a bare state_dict that no
    built-in fits exactly, (LibraryModel, name, notes) when a library architecture fits
    better."""
    notes: list[str] = []
    if config.architecture is None:
        proposal = propose_architecture(source)
        if proposal is None or proposal.score < 1.0:
            found = _library_proposal(config, source)
            if found is not None and (proposal is None or found[1] > proposal.score):
                return found[0], found[0].name, []
        if proposal is None or proposal.score < MIN_PROPOSAL_SCORE:
            best = (f" (closest built-in: {proposal.architecture.name}, "
                    f"{_share(proposal.score)} of keys match)" if proposal else "")
            note = missing_note()
            raise InferenceError(
                f"no built-in or library architecture matches this checkpoint's weights{best}"
                + (f"; {note}" if note else ""), hint=HINT_ARCHITECTURE)
        arch = proposal.architecture
        kwargs = {**proposal.kwargs, **(config.arch_kwargs or {})}
        note = (f"proposed the built-in {arch.name!r}: {_share(proposal.score)} of keys match "
                f"with {proposal.kwargs}")
        if config.arch_kwargs:
            note += f"; your kwargs make it {kwargs}"
        notes.append(note)
    else:
        arch = resolve_architecture(config.architecture)
        kwargs = dict(config.arch_kwargs or {})
        if arch.infer_kwargs is not None:
            inferred = arch.infer_kwargs(strip_wrapper_prefixes(source.shapes())) or {}
            kwargs = {**inferred, **kwargs}
    if arch.infer_kwargs is not None:  # a built-in sized by the file: check before building
        check_run_bytes(_state_bytes(build_on_meta(arch, kwargs)),
                        f"the {arch.name} model these weights describe")
    with torch.random.fork_rng(devices=[]):  # initial values of missing keys: reproducible
        torch.manual_seed(config.seed)
        model = build_model(arch, kwargs)
    return model, arch.name, notes


def _library_proposal(config: RunConfig, source) -> tuple[LibraryModel, float] | None:
    """The best library architecture for a bare state_dict, or None (no library, no match)."""
    try:
        found = proposed_model(config, source.shapes())
    except ModelError:
        return None
    if found is None or found[1] < MIN_PROPOSAL_SCORE:
        return None
    return found


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


def _forward(model: nn.Module, inp: ModelInput, device: torch.device,
             task: ModelTask | None = None) -> torch.Tensor:
    """One forward pass under inference_mode; user-code failures become ModelCodeError.
    A library model's output is reduced to what its task compares (logits, an embedding)."""
    try:
        with torch.inference_mode():
            out = model(*inp.args, **inp.kwargs)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
    except BaseException as e:  # noqa: BLE001 - user code may raise anything
        if isinstance(e, KeyboardInterrupt):
            raise
        raise _forward_error(e, inp.main) from None
    t = reduce_output(task, out) if task is not None else None
    if t is None:
        t = _first_tensor(out)
    if t is None:
        raise InferenceError(f"the model returned {type(out).__name__} with no tensor in it")
    return t.detach().float().cpu()


def _model_input(loaded: LoadedModel, config: RunConfig, device: torch.device,
                 dtype: torch.dtype) -> ModelInput:
    """The input per the model's task (image, text, audio), a .npy file, or a random tensor
    (built-ins, the user's code); moved to ``device``, floats in ``dtype``; with the extra
    forward() arguments."""
    inp = None
    if loaded.task is not None:
        inp = make_input(loaded.task, config)
    elif config.input_npy:
        inp = npy_input(config.input_npy, None)
    if inp is None:
        x, how = sample_input(loaded.model, config.batch_size, config.seed, config.input_shape)
        inp = ModelInput((x,), {}, how)

    def move(t: Any) -> Any:
        if not isinstance(t, torch.Tensor):
            return t
        return t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device)

    inp.args = tuple(move(a) for a in inp.args)
    inp.kwargs = {k: move(v) for k, v in inp.kwargs.items()}
    for key, value in (config.extra_args or {}).items():
        inp.kwargs[key] = value
    if config.extra_args:
        inp.description += f"; extra forward() arguments {dict(config.extra_args)}"
    return inp


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
    missing = _missing_argument(msg)
    if missing:
        return ModelCodeError(f"the model's forward() needs the argument {missing!r}, which "
                              f"the run does not give: {msg}", tb, hint=HINT_EXTRA_ARGS)
    if isinstance(e, RuntimeError) and ("shape" in low or "size" in low or "expected" in low):
        return ModelCodeError(f"forward pass with input {list(x.shape)} failed: {msg}", tb,
                              hint=HINT_CHANGE_INPUT_SHAPE)
    return ModelCodeError(f"the model's forward raised {type(e).__name__}: {msg}", tb)


_MISSING_ARG = (
    re.compile(r"forward\(\) is missing value for argument '(\w+)'"),  # TorchScript
    re.compile(r"forward\(\) missing \d+ required (?:positional|keyword-only) arguments?: "
               r"'(\w+)'"),  # Python
)


def _missing_argument(message: str) -> str:
    """The argument name of a "forward() is missing an argument" message, or ""."""
    for rx in _MISSING_ARG:
        m = rx.search(message)
        if m:
            return m.group(1)
    return ""


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
                   ) -> Generator[JobProgress | RunResult, None, RunResult]:
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

    def step(text: str) -> JobProgress:
        nonlocal done
        done += 1
        return JobProgress(min(done, total), total, text)

    model = loaded.model
    yield step(f"moving the model to {device} ({config.dtype})")
    try:
        model.to(device=device, dtype=dtype)
    except (RuntimeError, TypeError) as e:
        raise InferenceError(f"cannot move the model to {device} as {config.dtype}: {e}") from None
    inp = _model_input(loaded, config, device, dtype)
    task = loaded.task
    layers = mode_sensitive_layers(model)
    before = _snapshot(model)

    yield step("warm-up pass (eval mode)")
    _set_mode(model, False)
    with _seeded(device, config.seed):
        first = _forward(model, inp, device, task)

    trainee = copy.deepcopy(model)
    _set_mode(trainee, True)
    stats_before = _running_stats(trainee)
    train_out: list[torch.Tensor] = []
    elapsed = 0.0
    for i in range(config.runs):
        yield step(f"train pass {i + 1}/{config.runs}")
        with _seeded(device, config.seed + i):
            t0 = time.perf_counter()
            train_out.append(_forward(trainee, inp, device, task))
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
            eval_out.append(_forward(model, inp, device, task))
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
    preds = cosine = None
    if task is not None:
        preds = predictions(task, inp.tokenizer, evaluation.outputs, train.outputs)
        cosine = embedding_cosine(task, evaluation.outputs, train.outputs)
        if task.output == OUT_NEXT_TOKEN:
            notes.append("outputs compared: the logits of the last token (next-token scores)")
        elif task.output == OUT_MASKED:
            notes.append(f"outputs compared: the logits at {task.mask_token or 'the masked'} "
                         f"position (token {(task.mask_position or 0) + 1}): the model's guesses "
                         "for the masked word")
        elif task.output == OUT_EMBEDDING:
            notes.append("outputs compared: the embedding (hidden states averaged over "
                         "positions)")
    result = RunResult(
        device=str(device), dtype=config.dtype, architecture=loaded.architecture,
        load=loaded.load, mode_sensitive_layers=tuple(layers),
        input_shape=tuple(inp.main.shape), input_description=inp.description,
        output_shape=tuple(first.shape), train=train, eval=evaluation,
        eval_vs_train_mean=diff, bn_running_stats_drift=drift, weights_unchanged=unchanged,
        notes=tuple(notes), predictions=preds, embedding_cosine=cosine,
        random_init_keys=loaded.random_init_keys,
        input_kind=task.input_kind if task is not None and not config.input_npy else "tensor")
    yield result
    return result


def iter_run_demo(config: RunConfig) -> Generator[JobProgress | RunResult, None, RunResult]:
    """Load the checkpoint and run it: yields :class:`~inspector.core.jobs.JobProgress`
    steps, then the :class:`RunResult`. Stop iterating to cancel (between passes).

    Raises CheckpointError (file problems), TrustRequiredError, ModelCodeError (user code,
    with ``traceback_text``) or InferenceError.
    """
    yield JobProgress(0, 1, f"opening {config.path} and building the model")
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


def iter_run_job(config: RunConfig) -> Iterator[JobProgress | RunResult | InferenceFailure]:
    """:func:`iter_run_demo` as a worker-process job target.

    Errors the user can act on end the job with an :class:`InferenceFailure` item, which
    carries the user code's traceback (not the worker's) and the hint as data; anything else
    propagates, and the job runner reports it as a :class:`~inspector.core.jobs.JobFailure`.
    """
    try:
        yield from iter_run_demo(config)
    except ModelError as e:
        yield InferenceFailure(type(e).__name__, e.message, e.traceback_text, e.hint,
                               tuple(getattr(e, "keys", ())))
    except CheckpointError as e:
        yield InferenceFailure(type(e).__name__, f"cannot read {e.path}: {e.problem}", "")


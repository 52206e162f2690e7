"""Running a conversion: plan, write to temporary files, verify them, rename into place.

:func:`iter_convert` is a generator (progress items, then one :class:`ConvertReport`), so the
GUI runs it as a job and cancels it by no longer pulling; :func:`convert` runs it to the end.
The source is read with our own non-executing readers only: a file whose pickle references
unsafe globals converts like any other, and nothing from it runs.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from inspector.core.checkpoint import Checkpoint
from inspector.core.convert import plan as planning
from inspector.core.convert.plan import (
    PTH,
    SAFETENSORS,
    SHARDED,
    ConversionPlan,
    ConvertError,
    ConvertOptions,
    plan_conversion,
)
from inspector.core.convert.pth_out import write_pth
from inspector.core.convert.reading import BLOCK_BYTES, BlockReader, NotConvertible
from inspector.core.convert.safetensors_out import (
    INDEX_NAME,
    SHARD_NAME,
    SINGLE_NAME,
    index_bytes,
    shard,
    shard_metadata,
    shard_names,
    write_safetensors,
)
from inspector.core.convert.verify import (
    VerifyItem,
    VerifyReport,
    VerifyResult,
    iter_verify,
    merge_results,
    split_pieces,
    verify_piece,
)
from inspector.core.jobs import JobProgress
from inspector.core.text import dotted_path, safe_str

Cancel = Callable[[], bool] | None
PROGRESS_S = 0.1  # at most this often a progress item
_PTH_SUFFIXES = (".pth", ".pt", ".bin")
_RESERVED = frozenset({"format", "source", "source_format", "weights", "converted_by", "dtype"})


class ConvertCancelled(Exception):
    """The conversion was cancelled; nothing was written."""


@dataclass(frozen=True)
class ConvertReport:
    """What a conversion did. ``files`` are the files written (empty when verification
    failed: nothing is left behind then); ``aliases`` maps each tied tensor left out to the
    tensor written in its place; ``left_out`` counts the source's tensors not converted per
    top-level entry (optimizer state, …); ``skipped`` says why tensors could not be written."""

    source: str
    source_format: str
    destination: str
    kind: str
    files: tuple[str, ...]
    weights: str
    tensors: int
    tensor_bytes: int
    dtype: str | None = None
    cast: int = 0
    stripped: int = 0
    aliases: tuple[tuple[str, str], ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    left_out: tuple[tuple[str, int], ...] = ()
    notes: tuple[str, ...] = ()
    unsafe_globals: tuple[str, ...] = ()
    verify: VerifyReport | None = None

    @property
    def ok(self) -> bool:
        """Written, and verified when verification ran."""
        return bool(self.files) and (self.verify is None or self.verify.ok)

    def to_json(self) -> dict:
        """The stable ``convert --json`` document."""
        return {
            "ok": self.ok, "source": self.source, "source_format": self.source_format,
            "destination": self.destination, "kind": self.kind, "files": list(self.files),
            "weights": self.weights, "tensors": self.tensors, "tensor_bytes": self.tensor_bytes,
            "dtype": self.dtype, "cast": self.cast, "stripped": self.stripped,
            "aliases": dict(self.aliases),
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
            "left_out": [{"entry": e, "tensors": c} for e, c in self.left_out],
            "notes": list(self.notes), "unsafe_globals_not_run": list(self.unsafe_globals),
            "verify": self.verify.to_json() if self.verify is not None else None,
        }


@dataclass
class _Output:
    final: str
    write: Callable  # (fh, reader) -> Iterator[int]
    items: list[VerifyItem]
    temp: str = ""
    renamed: bool = False


@dataclass
class _Progress:
    total: int
    done: int = 0
    last: float = field(default_factory=time.monotonic)

    def add(self, n: int, text: str, force: bool = False) -> JobProgress | None:
        self.done += n
        now = time.monotonic()
        if force or now - self.last >= PROGRESS_S:
            self.last = now
            return JobProgress(min(self.done, self.total), self.total, text)
        return None


def output_kind(dst: str | os.PathLike, options: ConvertOptions) -> str:
    """The output format: as asked, else sharded when a shard size is given, else from the
    destination's name (``.safetensors``; ``.pth``/``.pt``/``.bin``; a folder: sharded)."""
    if options.kind is not None:
        if options.kind not in planning.KINDS:
            raise ValueError(f"unknown output kind {options.kind!r}")
        return options.kind
    dst = os.fspath(dst)
    if options.max_shard_size is not None:
        return SHARDED
    lower = dst.lower()
    if lower.endswith(".safetensors"):
        return SAFETENSORS
    if lower.endswith(_PTH_SUFFIXES):
        return PTH
    if os.path.isdir(dst) or dst.endswith(os.sep):
        return SHARDED
    raise ConvertError(dst, "cannot tell which format to write: name the file .safetensors or "
                            ".pth, or give a folder for sharded safetensors")


def iter_convert(src: str | os.PathLike, dst: str | os.PathLike,
                 options: ConvertOptions | None = None, cancel: Cancel = None,
                 block_bytes: int = BLOCK_BYTES) -> Iterator[JobProgress | ConvertReport]:
    """Convert ``src`` to ``dst``: yields :class:`JobProgress` items, then the report.

    Raises :class:`ConvertError` (a :class:`CheckpointError`) for anything the user can fix.
    Stopping early (``cancel`` or closing the generator) removes every temporary file.
    """
    from inspector.core.formats import open_checkpoint

    options = options or ConvertOptions()
    src, dst = os.fspath(src), os.fspath(dst)
    kind = output_kind(dst, options)
    with open_checkpoint(src) as ckpt:
        plan = plan_conversion(ckpt, options, kind)
        outputs, made_dir = _outputs(ckpt, plan, dst, kind, options)
        total = plan.total_bytes * (2 if options.verify else 1)
        progress = _Progress(total)
        yield JobProgress(0, total, "writing")
        results: list[VerifyResult] = []
        try:
            with BlockReader(ckpt, block_bytes) as reader:
                for out in outputs:
                    for n in _write(out, reader):
                        item = progress.add(n or 0, f"writing {os.path.basename(out.final)}",
                                            force=n is None)
                        if item is not None:
                            yield item
                        if cancel is not None and cancel():
                            return
            if options.verify and options.scheduler:
                for n, piece_results in _verify_on_cluster(ckpt, plan, outputs,
                                                           options.scheduler, cancel):
                    results += piece_results
                    yield progress.add(n, "verifying on the cluster", force=True)
                if cancel is not None and cancel():
                    return
            elif options.verify:
                for out in (o for o in outputs if o.items):
                    for r in iter_verify(ckpt, out.temp, out.items, cancel, block_bytes):
                        if isinstance(r, int):
                            item = progress.add(r, "verifying")
                            if item is not None:
                                yield item
                        else:
                            results.append(r)
                    if cancel is not None and cancel():
                        return
            verify = merge_results(results) if options.verify else None
            if verify is None or verify.ok:
                for out in outputs:
                    os.replace(out.temp, out.final)
                    out.renamed = True
                if kind == SHARDED and options.overwrite:
                    _remove_stale_shards(dst, {o.final for o in outputs})
            yield JobProgress(total, total, "done")
            yield _report(ckpt, plan, dst, kind, options, outputs, verify)
        except NotConvertible as e:  # the plan rules these out; a file may still surprise
            raise ConvertError(src, f"a tensor cannot be read: {e}") from None
        finally:
            for out in outputs:
                if out.temp and not out.renamed:
                    _remove(out.temp)
            if made_dir and not any(o.renamed for o in outputs):
                try:
                    os.rmdir(dst)
                except OSError:
                    pass


def convert(src: str | os.PathLike, dst: str | os.PathLike,
            options: ConvertOptions | None = None, cancel: Cancel = None) -> ConvertReport:
    """Run :func:`iter_convert` to the end and return its report; raises
    :class:`ConvertCancelled` when ``cancel`` stopped it."""
    report = None
    for item in iter_convert(src, dst, options, cancel):
        if isinstance(item, ConvertReport):
            report = item
    if report is None:
        raise ConvertCancelled("the conversion was cancelled; nothing was written")
    return report


def convert_job(src: str, dst: str, options: ConvertOptions) -> Iterator[JobProgress
                                                                         | ConvertReport]:
    """The conversion as a worker-process job (see :mod:`inspector.core.jobs`)."""
    from inspector.core.jobs import cancel_requested

    yield from iter_convert(src, dst, options, cancel=cancel_requested)


JOB_TARGET = "inspector.core.convert.run:convert_job"


def _verify_on_cluster(ckpt: Checkpoint, plan: ConversionPlan, outputs: list[_Output],
                       address: str, cancel: Cancel
                       ) -> Iterator[tuple[int, list[VerifyResult]]]:
    """The verify step as pieces on a Dask cluster: (bytes compared, results) per piece as
    pieces finish. The workers open the source and the temporary files by their paths."""
    from inspector.core.cluster import iter_pieces

    sizes = {t.name: t.nbytes for t in plan.tensors}
    sizes |= {alias: sizes.get(kept, 0) for alias, kept in plan.aliases.items()}
    pieces = []
    for out in (o for o in outputs if o.items):
        pieces += split_pieces(os.path.abspath(ckpt.path), os.path.abspath(out.temp),
                               out.items, [sizes.get(i.name, 0) for i in out.items])
    for index, piece_results in iter_pieces(
            address, verify_piece, pieces, cancel=cancel,
            describe=lambda p: f"verifying {len(p.items)} tensor(s) of {p.output}"):
        yield pieces[index].nbytes, piece_results


# ---- Private API: destinations
def _outputs(ckpt: Checkpoint, plan: ConversionPlan, dst: str, kind: str,
             options: ConvertOptions) -> tuple[list[_Output], bool]:
    meta = _metadata(ckpt, plan, options)
    aliases = {a: k for a, k in plan.aliases.items()}
    made_dir = False
    if kind == SHARDED:
        groups = shard(plan.tensors, options.max_shard_size or 5 * 10**9)
        names = shard_names(len(groups))
        finals = [os.path.join(dst, n) for n in names]
        if len(groups) > 1:
            finals.append(os.path.join(dst, INDEX_NAME))
        _check_destination(ckpt, dst, finals, options.overwrite, folder=True)
        if not os.path.isdir(dst):
            try:
                os.makedirs(dst)
            except OSError as e:
                raise ConvertError(dst, f"cannot create the folder ({e.strerror or e})") from None
            made_dir = True
        outputs = []
        for group, final in zip(groups, finals):
            m = shard_metadata(group, meta, aliases, _RESERVED.__contains__)
            outputs.append(_Output(final, _safetensors_writer(group, m), _items(group)))
        if len(groups) > 1:
            data = index_bytes(groups, names, meta, aliases)
            outputs.append(_Output(finals[-1], _bytes_writer(data), []))
        return outputs, made_dir
    _check_destination(ckpt, dst, [dst], options.overwrite, folder=False)
    if kind == SAFETENSORS:
        m = shard_metadata(plan.tensors, meta, aliases, _RESERVED.__contains__)
        return [_Output(dst, _safetensors_writer(plan.tensors, m), _items(plan.tensors))], False
    items = _items(plan.tensors)
    dtype_of = {t.name: t.dtype for t in plan.tensors}
    items += [VerifyItem(a, plan.alias_sources[a], dtype_of[k]) for a, k in aliases.items()]
    return [_Output(dst, lambda fh, reader: write_pth(fh, reader, plan.tensors, aliases),
                    items)], False


def _check_destination(ckpt: Checkpoint, dst: str, finals: list[str], overwrite: bool,
                       folder: bool) -> None:
    """Never write over a file the conversion reads, nor into a folder it reads."""
    read_files, read_dirs = _read_set(ckpt)
    targets = [os.path.realpath(f) for f in finals]
    if folder:
        targets.append(os.path.realpath(dst))
        if os.path.exists(dst) and not os.path.isdir(dst):
            raise ConvertError(dst, "exists and is not a folder")
    for target in targets:
        if target in read_files or any(_same_file(target, f) for f in read_files):
            raise ConvertError(dst, "is the checkpoint being converted (or one of its files); "
                                    "choose another destination")
        for d in read_dirs:
            if target == d or target.startswith(d.rstrip(os.sep) + os.sep):
                raise ConvertError(dst, f"lies inside the folder being read ({d}); choose a "
                                        "destination outside it")
    parent = os.path.dirname(os.path.abspath(dst if folder else finals[0]))
    if not folder and not os.path.isdir(parent):
        raise ConvertError(dst, "its folder does not exist")
    if not overwrite:
        for f in finals:
            if os.path.lexists(f):
                raise ConvertError(f, "already exists; choose another name or allow overwriting")
        if folder and os.path.isdir(dst) and _model_files(dst):
            raise ConvertError(dst, f"already holds a converted model ({_model_files(dst)[0]}); "
                                    "choose another folder or allow overwriting")
    for f in finals:
        if os.path.isdir(f):
            raise ConvertError(f, "is a folder")


def _read_set(ckpt: Checkpoint) -> tuple[set[str], set[str]]:
    names = {ckpt.path}
    for _, info in ckpt.tensors():
        for st in (info.storage, *info.extra_storages, *(c.view.storage for c in info.chunks)):
            if st is not None:
                names.add(st.file)
    files = {os.path.realpath(n) for n in names}
    dirs: set[str] = set()
    if os.path.isdir(ckpt.path):
        dirs.add(os.path.realpath(ckpt.path))
        files.discard(os.path.realpath(ckpt.path))
    if ckpt.format in ("hf-sharded", "hf-folder", "dcp"):
        dirs |= {os.path.dirname(f) for f in files}
    return files, dirs


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


_SHARD_PATTERN = re.compile(SHARD_NAME.replace(".", r"\.").replace("{i:05d}", r"\d{5}")
                           .replace("{n:05d}", r"\d{5}") + "$")


def _model_files(folder: str) -> list[str]:
    """The files of a converted model in ``folder``: shards, model.safetensors, the index."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(n for n in names if _SHARD_PATTERN.match(n) or n in (SINGLE_NAME, INDEX_NAME))


def _remove_stale_shards(folder: str, written: set[str]) -> None:
    """Files of an earlier conversion into the same folder (another shard count)."""
    for name in _model_files(folder):
        path = os.path.join(folder, name)
        if path not in written and os.path.isfile(path):
            _remove(path)


# ---- Private API: writing
def _metadata(ckpt: Checkpoint, plan: ConversionPlan, options: ConvertOptions) -> dict[str, str]:
    meta = {"format": "pt", "source": safe_str(os.path.basename(ckpt.path.rstrip(os.sep))
                                               or ckpt.path),
            "source_format": ckpt.format,
            "weights": dotted_path(plan.container) if plan.container is not None else plan.label,
            "converted_by": "checkpoint-inspector"}
    if options.dtype is not None:
        meta["dtype"] = str(options.dtype)
    clash = [a for a in plan.aliases if a in _RESERVED]
    if clash:
        plan.notes.append(f"alias(es) {', '.join(clash)} not recorded in the metadata (the "
                          "name is one of its own entries)")
    return meta


def _items(tensors) -> list[VerifyItem]:
    return [VerifyItem(t.name, t.source, t.dtype) for t in tensors]


def _safetensors_writer(tensors, metadata):
    return lambda fh, reader: write_safetensors(fh, reader, tensors, metadata)


def _bytes_writer(data: bytes):
    def write(fh, reader) -> Iterator[int]:
        fh.write(data)
        yield 0
    return write


def _write(out: _Output, reader: BlockReader) -> Iterator[int | None]:
    folder, base = os.path.split(os.path.abspath(out.final))
    out.temp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.partial")
    try:
        fd = os.open(out.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as e:
        out.temp = ""
        raise ConvertError(out.final, f"cannot write here ({e.strerror or e})") from None
    with os.fdopen(fd, "wb") as fh:
        yield None  # the temporary file exists: a progress item names the file
        yield from out.write(fh, reader)
        fh.flush()
        os.fsync(fh.fileno())


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _report(ckpt: Checkpoint, plan: ConversionPlan, dst: str, kind: str,
            options: ConvertOptions, outputs: list[_Output], verify: VerifyReport | None
            ) -> ConvertReport:
    return ConvertReport(
        source=ckpt.path, source_format=ckpt.format, destination=dst, kind=kind,
        files=tuple(o.final for o in outputs if o.renamed), weights=plan.label,
        tensors=len(plan.tensors), tensor_bytes=plan.total_bytes,
        dtype=options.dtype, cast=plan.cast, stripped=plan.stripped,
        aliases=tuple(plan.aliases.items()), skipped=tuple(plan.skipped),
        left_out=tuple(plan.left_out), notes=tuple(plan.notes),
        unsafe_globals=tuple(ckpt.unsafe_globals), verify=verify)


__all__ = ["JOB_TARGET", "ConvertCancelled", "ConvertReport", "convert", "convert_job",
           "iter_convert", "output_kind"]

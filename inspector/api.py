"""The Python API: the objects the command line and the app use, for scripts and notebooks.

>>> import inspector
>>> ck = inspector.open("model.pth")          # metadata only; nothing from the file runs
>>> ck.summary().num_parameters
>>> [t.name for t in ck.tensors()][:3]
>>> w = ck.tensor("model_state_dict.fc.weight")          # numpy array, read on demand
>>> report = inspector.convert("model.pth", "model.safetensors")

Everything here is importable from the package itself (``inspector.open``); ``__all__`` is
the stable surface. Paths in a checkpoint are written as dotted strings
(``model_state_dict.fc.weight``; a key that itself contains dots, such as ``fc.weight``,
is found as one key) or as a tuple of keys (``("model_state_dict", "fc.weight")``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from inspector.core.checkpoint import Checkpoint, CheckpointError, Node, TensorInfo
from inspector.core.text import dotted_path, format_bytes, format_count, html_text, shape_text

if TYPE_CHECKING:
    import numpy as np
    import torch

    from inspector.core.convert import ConvertReport
    from inspector.core.diff.results import DiffReport
    from inspector.core.safety import ScanResult
    from inspector.core.state_dict import Weights
    from inspector.core.stats import StatsItem
    from inspector.core.summary import CheckpointSummary

HTML_ROWS = 20  # tensors listed by _repr_html_

__all__ = ["CheckpointError", "CheckpointFile", "TensorEntry", "convert", "diff", "open", "scan"]


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a checkpoint: its dotted ``name``, its key ``path`` and its metadata
    (``info``, the core :class:`~inspector.core.model.TensorInfo`)."""

    name: str
    path: tuple
    info: TensorInfo

    @property
    def dtype(self) -> str:
        return self.info.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.info.shape)

    @property
    def numel(self) -> int:
        return self.info.numel

    @property
    def nbytes(self) -> int:
        return self.info.nbytes


class CheckpointFile:
    """An opened checkpoint (metadata in memory, tensor bytes left in the file until asked).

    Wraps the core :class:`~inspector.core.checkpoint.Checkpoint` (``.checkpoint``) that the
    command line and the app use. Close it (or use ``with``) to release the file.
    """

    def __init__(self, checkpoint: Checkpoint):
        self.checkpoint = checkpoint
        self._summary: CheckpointSummary | None = None

    # ---- metadata
    @property
    def path(self) -> str:
        return self.checkpoint.path

    @property
    def format(self) -> str:
        """The detected format (``torch-zip``, ``safetensors``, ``dcp``, ``hf-sharded``, …)."""
        return self.checkpoint.format

    @property
    def tree(self) -> Node:
        """The root of the checkpoint's tree (core :class:`~inspector.core.model.Node`)."""
        return self.checkpoint.root

    @property
    def unsafe_globals(self) -> list[str]:
        """Globals the file's pickle references outside the allow-list (never executed)."""
        return list(self.checkpoint.unsafe_globals)

    @property
    def warnings(self) -> list[str]:
        return list(self.checkpoint.warnings)

    def summary(self) -> CheckpointSummary:
        """The checkpoint at a glance: parameters, dtypes, optimizer, epoch, hints."""
        if self._summary is None:
            from inspector.core.summary import summarize

            self._summary = summarize(self.checkpoint)
        return self._summary

    def weights(self) -> Weights:
        """Where the model weights are and their state_dict names (core ``Weights``)."""
        from inspector.core.state_dict import find_weights

        return find_weights(self.checkpoint)

    def tensors(self) -> list[TensorEntry]:
        """Every tensor in file order."""
        return [TensorEntry(dotted_path(p), p, info) for p, info in self.checkpoint.tensors()]

    def keys(self) -> list[str]:
        """The dotted names of every tensor."""
        return [t.name for t in self.tensors()]

    def find(self, name: str | Sequence) -> Node:
        """The tree node at ``name`` (dotted string or tuple of keys); KeyError if none."""
        from inspector.core.convert.paths import as_path

        path = as_path(self.checkpoint.root, name)
        node = self.checkpoint.find(path) if path is not None else None
        if node is None:
            raise KeyError(f"no entry {name!r} in {self.path}")
        return node

    # ---- values, read on demand
    def tensor(self, name: str | Sequence, *, as_: Literal["numpy", "torch"] = "numpy"
               ) -> np.ndarray | torch.Tensor:
        """The values of one tensor, read from the file now (a copy: the file stays closed
        to writes). ``as_="numpy"``: a numpy array (bfloat16 and float8 values, which numpy
        cannot hold, come as float32); ``as_="torch"``: a torch tensor of the stored dtype."""
        node = self.find(name)
        if node.tensor is None:
            raise KeyError(f"{name!r} in {self.path} is not a tensor ({node.kind})")
        info = node.tensor
        if as_ == "torch":
            return self.checkpoint.tensor(info).clone()
        if as_ != "numpy":
            raise ValueError(f"as_ must be 'numpy' or 'torch', not {as_!r}")
        return _numpy_values(self.checkpoint, info)

    def stats(self, names: Iterable[str | Sequence] | None = None, bins: int = 64
              ) -> list[StatsItem]:
        """Statistics (min, max, mean, std, NaN/Inf, histogram) of every tensor, or of
        ``names``, streamed from the file: core ``StatsItem(path, stats, error)`` items."""
        from inspector.core.stats import iter_stats

        paths = None
        if names is not None:
            paths = [self.find(n).path() for n in names]
        return list(iter_stats(self.checkpoint, paths=paths, bins=bins))

    # ---- life cycle and display
    def close(self) -> None:
        self.checkpoint.close()

    def __enter__(self) -> CheckpointFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        totals = self.checkpoint.totals()
        return (f"<CheckpointFile {os.path.basename(self.path) or self.path!r} {self.format}, "
                f"{totals['num_tensors']} tensors, "
                f"{format_bytes(totals['unique_storage_bytes'])}>")

    def _repr_html_(self) -> str:
        """A compact table for Jupyter; every string from the file is escaped."""
        totals = self.checkpoint.totals()
        rows = []
        for t in self.tensors()[:HTML_ROWS]:
            rows.append(f"<tr><td style='text-align:left'><code>{html_text(t.name)}</code></td>"
                        f"<td>{html_text(t.dtype)}</td><td>{html_text(shape_text(t.shape))}</td>"
                        f"<td>{format_bytes(t.nbytes)}</td></tr>")
        more = totals["num_tensors"] - min(totals["num_tensors"], HTML_ROWS)
        if more:
            rows.append(f"<tr><td colspan='4' style='text-align:left'>… {more} more</td></tr>")
        unsafe = ""
        if self.checkpoint.unsafe_globals:
            unsafe = ("<div><b>Unsafe globals (not executed):</b> "
                      + html_text(", ".join(self.checkpoint.unsafe_globals)) + "</div>")
        return (f"<div><b>{html_text(os.path.basename(self.path) or self.path)}</b> "
                f"({html_text(self.format)}): {format_count(totals['num_tensors'])} tensors, "
                f"{format_count(totals['total_numel'])} elements, "
                f"{format_bytes(totals['unique_storage_bytes'])}</div>{unsafe}"
                "<table><tr><th style='text-align:left'>name</th><th>dtype</th><th>shape</th>"
                f"<th>size</th></tr>{''.join(rows)}</table>")


def open(path: str | os.PathLike) -> CheckpointFile:  # noqa: A001 - the API's name for it
    """Open a checkpoint file or folder of any supported format (metadata only; nothing
    from the file runs). Raises :class:`CheckpointError` naming the file and the problem."""
    from inspector.core.formats import open_checkpoint

    return CheckpointFile(open_checkpoint(path))


def diff(a: str | os.PathLike, b: str | os.PathLike, *, strip_prefixes: Sequence[str] = (),
         atol: float | None = None, rtol: float | None = None) -> DiffReport:
    """Compare two checkpoints tensor by tensor (core ``DiffReport``: ``entries`` with
    per-tensor metrics, ``summary``, ``scalars``)."""
    from inspector.core.diff.report import diff_checkpoints

    return diff_checkpoints(a, b, strip_prefixes=strip_prefixes, atol=atol, rtol=rtol)


def convert(src: str | os.PathLike, dst: str | os.PathLike, *,
            to: Literal["safetensors", "sharded", "pth"] | None = None,
            key: str | Sequence | None = None, include_optimizer: bool = False,
            strip_prefix: str | Sequence[str] = (), dtype: str | None = None,
            max_shard_size: int | str | None = None, verify: bool = True,
            overwrite: bool = False) -> ConvertReport:
    """Convert ``src`` to safetensors (``dst`` ending in ``.safetensors``), Hugging Face
    shards (a folder, or ``max_shard_size`` such as ``"5GB"``) or a weights-only ``.pth``,
    streaming in bounded memory and running nothing from ``src``. Returns the core
    ``ConvertReport`` (``report.ok``, ``report.files``, ``report.verify``)."""
    from inspector.core.convert import ConvertOptions, parse_size
    from inspector.core.convert import convert as run_conversion

    prefixes = (strip_prefix,) if isinstance(strip_prefix, str) else tuple(strip_prefix)
    size = parse_size(max_shard_size) if max_shard_size is not None else None
    options = ConvertOptions(kind=to, key=tuple(key) if key is not None and not isinstance(
        key, str) else key, include_optimizer=include_optimizer, strip_prefixes=prefixes,
        dtype=dtype, max_shard_size=size, verify=verify, overwrite=overwrite)
    return run_conversion(src, dst, options)


def scan(path: str | os.PathLike) -> ScanResult:
    """The globals a file's pickles reference and a verdict (``clean``, ``unsafe``,
    ``unreadable``). A label, not permission: nothing is loaded either way."""
    from inspector.core.safety import scan as scan_file

    return scan_file(path)


# ---- Private API
def _numpy_values(ckpt: Checkpoint, info: TensorInfo) -> Any:
    import numpy as np

    from inspector.core.convert.reading import (
        BlockReader,
        NotConvertible,
        cast_block,
        value_dtype,
    )
    from inspector.core.dtypes import canonical

    dtype = canonical(info.dtype)
    native = value_dtype(dtype).kind != "u" or dtype.startswith("uint")
    if dtype == "bfloat16" or native:
        try:
            with BlockReader(ckpt) as reader:
                blocks = list(reader.blocks(info))
        except NotConvertible:
            pass
        else:
            flat = np.concatenate(blocks) if blocks else np.empty(0, value_dtype(dtype))
            if dtype == "bfloat16":
                flat = cast_block(flat, "bfloat16", "float32")
            return flat.reshape(info.shape)
    t = ckpt.tensor(info)  # everything else goes through torch (float8, quantized, sparse)
    if t.dtype.is_floating_point and t.element_size() < 4:
        t = t.float()
    return t.detach().clone().numpy()

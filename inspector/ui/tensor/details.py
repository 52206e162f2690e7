"""The tensor panel's text: a tensor's layout fields, a non-tensor item's summary, and the
captions of the value slices (no Qt here; every string is shown as plain text)."""

from __future__ import annotations

import math
import os

from inspector.core.checkpoint import (
    BYTES,
    CONTAINER_KINDS,
    NONE,
    OBJECT,
    REF,
    STRING,
    TENSOR,
    TRUNCATED,
    Checkpoint,
    Node,
    TensorInfo,
)
from inspector.core.dtypes import DTYPES
from inspector.core.summary import optimizer_param_labels
from inspector.core.tensor_view import ExportDone, HeatmapSlice, KernelsSlice, ValuesSlice
from inspector.core.text import format_bytes, format_count, format_value, path_text, safe_str

MAX_CHILDREN_LISTED = 200

STAT_FIELDS = (("mean", "Mean"), ("std", "Std"), ("min", "Min"), ("max", "Max"),
               ("abs_mean", "Abs mean"), ("l2", "L2 norm"), ("zeros", "Zeros"),
               ("nan", "NaN"), ("inf", "Inf"))
TENSOR_FIELDS = (("dtype", "Dtype"), ("shape", "Shape"), ("numel", "Elements"),
                 ("bytes", "Bytes"), ("stride", "Strides"), ("offset", "Storage offset"),
                 ("storage", "Storage"), ("shared", "Sharing"), ("device", "Saved on"),
                 ("layout", "Layout"), ("kind", "Kind"), ("optimizer", "Optimizer state of"),
                 ("note", "Note"))


def unreadable_reason(info: TensorInfo) -> str | None:
    """Why a tensor's values cannot be shown (None when they can)."""
    if info.layout == "meta":
        return "This tensor has no data: it was saved on the meta device (shape only)."
    if info.storage is None and not (info.layout == "sharded" and info.chunks):
        return "This tensor has no data in the file" + (f" ({info.note})." if info.note else ".")
    if info.note in ("view exceeds its storage", "negative stride"):
        return f"The values cannot be read: {info.note} (the file looks corrupt)."
    return None


def tensor_subtitle(node: Node, info: TensorInfo) -> str:
    return (f"{safe_str(node.type_name or 'Tensor')} · {info.dtype} {list(info.shape)} · "
            f"{format_count(info.numel)} elements · {format_bytes(info.nbytes)}")


class ItemDetails:
    """What the panel says about the items of one checkpoint: tensor fields with sharing and
    optimizer names (looked up once per file), and summaries of other items."""

    def __init__(self, ckpt: Checkpoint):
        self.ckpt = ckpt
        self._labels = optimizer_param_labels(ckpt)

    def tensor_fields(self, node: Node, info: TensorInfo) -> dict[str, str]:
        """Text per :data:`TENSOR_FIELDS` key ("" hides the row)."""
        ckpt = self.ckpt
        st = info.storage
        if st is not None:
            elsewhere = os.path.realpath(st.file) != os.path.realpath(ckpt.path)
            storage = (f"record {safe_str(st.key)!r}: {st.numel:,} × {st.dtype}, "
                       f"{format_bytes(st.nbytes)}"
                       + (f" in {safe_str(os.path.basename(st.file))}" if elsewhere else ""))
        else:
            storage = "none (no data in the file)"
        return {
            "dtype": info.dtype + (f" ({DTYPES[info.dtype].kind})" if info.dtype in DTYPES else ""),
            "shape": f"{list(info.shape)}  ({len(info.shape)}-D)",
            "numel": f"{info.numel:,}",
            "bytes": f"{format_bytes(info.nbytes)} ({info.nbytes:,} B, {info.itemsize} B each)",
            "stride": f"{list(info.stride)}  "
                      f"({'contiguous' if info.is_contiguous() else 'not contiguous'})",
            "offset": f"{info.storage_offset:,} elements",
            "storage": storage,
            "shared": self._sharing_text(node, info),
            "device": safe_str(info.device) + ("  (loads on CPU here; use map_location elsewhere)"
                                               if info.device not in ("cpu", "") else ""),
            "layout": info.layout,
            "kind": ("Parameter" if info.is_parameter else "Tensor")
                    + (", requires_grad" if info.requires_grad else ""),
            "optimizer": self._optimizer_text(node),
            "note": safe_str(info.note),
        }

    def describe_node(self, node: Node) -> tuple[str, list[tuple[str, str]], str]:
        """A non-tensor item: (subtitle, form rows, text for the text box)."""
        kind = node.kind
        rows: list[tuple[str, str]] = [("Type", safe_str(node.type_name or kind))]
        if kind == STRING:
            return f"str · {len(node.value):,} characters", rows, safe_str(node.value)
        if kind == BYTES:
            data = node.value or b""
            hexed = " ".join(f"{b:02x}" for b in data)
            return f"{safe_str(node.type_name)} (first {len(data)} bytes shown)", rows, hexed
        if kind == NONE:
            return "None", rows, ""
        if kind == REF:
            rows.append(("Same object as", safe_str(node.value)))
            return "a second reference to an object shown elsewhere", rows, ""
        if kind == TRUNCATED:
            return "nested too deeply to show", rows, ""
        if kind not in CONTAINER_KINDS:
            rows.append(("Value", format_value(node.value)))
            return (f"{safe_str(node.type_name)} · {format_value(node.value)}", rows,
                    _repr(node.value))
        return self._describe_container(node, rows)

    # ---- Private API
    def _describe_container(self, node: Node, rows: list[tuple[str, str]]
                            ) -> tuple[str, list[tuple[str, str]], str]:
        kind = node.kind
        n = len(node.children)
        tensors = numel = nbytes = 0
        seen: set = set()
        for d in node.walk():
            if d.kind == TENSOR and d.tensor is not None:
                tensors += 1
                numel += d.tensor.numel
                st = d.tensor.storage
                ident = st.ident if st is not None else id(d)
                if ident not in seen:
                    seen.add(ident)
                    nbytes += st.nbytes if st is not None else 0
        rows.append(("Items", f"{n:,}"))
        if tensors:
            rows.append(("Tensors inside", f"{tensors:,} · {format_count(numel)} elements · "
                                           f"{format_bytes(nbytes)} of storage"))
        label = self._labels.get(node.path())
        if label:
            rows.append(("Optimizer state of", label))
        lines = [f"{safe_str(c.key)}: {child_summary(c)}"
                 for c in node.children[:MAX_CHILDREN_LISTED]]
        if n > MAX_CHILDREN_LISTED:
            lines.append(f"… {n - MAX_CHILDREN_LISTED:,} more")
        text = "\n".join(lines)
        if kind == OBJECT:
            value = safe_str(node.value) if node.value else ""
            rows.insert(1, ("Object", value or safe_str(node.type_name)))
            text = (f"{value}\n\n" if value else "") + text
            sub = f"object of class {safe_str(node.type_name)} (not executed) · {n:,} attributes"
        else:
            sub = f"{safe_str(node.type_name or kind)} · {n:,} item{'s' if n != 1 else ''}"
        return sub, rows, text

    def _sharing_text(self, node: Node, info: TensorInfo) -> str:
        others, count = self.ckpt.shared_with(node.path(), limit=6)
        if not others:
            return "own storage" if info.storage is not None else ""
        parts = []
        for p in others:
            other = self.ckpt.find(p)
            same = (other is not None and other.tensor is not None
                    and other.tensor.storage_offset == info.storage_offset
                    and tuple(other.tensor.shape) == tuple(info.shape)
                    and tuple(other.tensor.stride) == tuple(info.stride))
            parts.append(path_text(p) + ("" if same else " (a different view)"))
        more = f" and {count - 6} more" if count > 6 else ""
        return "shares storage with " + ", ".join(parts) + more + " (stored once)"

    def _optimizer_text(self, node: Node) -> str:
        path = node.path()
        for cut in (len(path), len(path) - 1):
            name = self._labels.get(path[:cut])
            if name is not None:
                return safe_str(name) + (f" ({safe_str(path[-1])})" if cut < len(path) else "")
        return ""


def child_summary(c: Node) -> str:
    """One line about a child of a container."""
    if c.kind == TENSOR and c.tensor is not None:
        return f"{c.tensor.dtype} {list(c.tensor.shape)}"
    if c.kind in ("list", "tuple") and 0 < len(c.children) <= 8 and all(
            g.kind in ("scalar", "none") for g in c.children):
        return format_value(tuple(g.value for g in c.children) if c.kind == "tuple"
                            else [g.value for g in c.children])
    if c.kind in CONTAINER_KINDS:
        return f"{safe_str(c.type_name or c.kind)} ({len(c.children)} items)"
    if c.kind == STRING:
        return repr(format_value(c.value))
    if c.kind == NONE:
        return "None"
    if c.kind == REF:
        return f"→ {safe_str(c.value)}"
    return format_value(c.value)


def _repr(v: object) -> str:
    try:
        return repr(v)
    except Exception:  # noqa: BLE001 - a value from a file may fail to print in any way
        return safe_str(v)


# ---- Captions of the value slices
def _layout_note(layout: str, sparse: str, quantized: str) -> str:
    if layout.startswith("sparse"):
        return sparse
    if layout == "quantized":
        return quantized
    return ""


def values_caption(s: ValuesSlice, layout: str) -> str:
    shown_r, shown_c = s.block.shape
    if s.dims <= 1:
        text = f"Values 0–{shown_r - 1:,} of {s.total_rows:,}" if shown_r else "No values"
    else:
        text = (f"Rows 0–{shown_r - 1:,} of {s.total_rows:,} × columns 0–{shown_c - 1:,} "
                f"of {s.total_cols:,}")
        if s.dims > 2:
            text += " (flattened to 2-D by the last dimension; rows show the leading index)"
    note = _layout_note(layout, "stored values of a sparse tensor (indices not shown)",
                        "integer representation (scale and zero point not applied)")
    for part in (note, s.note):
        if part:
            text += f" · {part}"
    return text


def heatmap_caption(s: HeatmapSlice) -> str:
    text = f"{s.rows:,} × {s.cols:,}"
    if s.row_step > 1 or s.col_step > 1:
        text += (f" · downsampled: 1 in {s.row_step} rows, 1 in {s.col_step} columns "
                 f"({s.data.shape[0]:,}×{s.data.shape[1]:,} shown)")
    if s.is_complex:
        text += " · magnitude of complex values"
    return text + " · colour range: 0.5–99.5th percentile"


def kernels_caption(s: KernelsSlice) -> str:
    n = s.images.shape[0]
    per_row = max(1, math.ceil(math.sqrt(n)))  # as kernel_mosaic lays them out
    return (f"{n} of {s.filters} filters, {s.kernel_height}×{s.kernel_width} each, "
            f"{per_row} per row, filter 0 at top left · {s.note}")


def export_caption(done: ExportDone, layout: str) -> str:
    note = done.note
    extra = _layout_note(layout, "stored values of a sparse tensor only",
                         "integer representation (no scale/zero point)")
    if extra:
        note = (note + "; " if note else "") + extra
    return f"Exported {os.path.basename(done.dest)}" + (f" ({note})" if note else "") + "."

"""Facts about torch dtypes that the readers need without importing torch.

Names are torch's, without the ``torch.`` prefix. ``numpy`` is the numpy dtype string that
holds the same bits (None where numpy has no equivalent, e.g. bfloat16 and the float8s).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DType:
    name: str
    itemsize: int
    kind: str  # "float", "complex", "int", "uint", "bool", "quantized", "bits"
    numpy: str | None


_TABLE = [
    DType("float64", 8, "float", "<f8"),
    DType("float32", 4, "float", "<f4"),
    DType("float16", 2, "float", "<f2"),
    DType("bfloat16", 2, "float", None),
    DType("float8_e4m3fn", 1, "float", None),
    DType("float8_e4m3fnuz", 1, "float", None),
    DType("float8_e5m2", 1, "float", None),
    DType("float8_e5m2fnuz", 1, "float", None),
    DType("float8_e8m0fnu", 1, "float", None),
    DType("float4_e2m1fn_x2", 1, "float", None),
    DType("complex128", 16, "complex", "<c16"),
    DType("complex64", 8, "complex", "<c8"),
    DType("complex32", 4, "complex", None),
    DType("int64", 8, "int", "<i8"),
    DType("int32", 4, "int", "<i4"),
    DType("int16", 2, "int", "<i2"),
    DType("int8", 1, "int", "i1"),
    DType("uint64", 8, "uint", "<u8"),
    DType("uint32", 4, "uint", "<u4"),
    DType("uint16", 2, "uint", "<u2"),
    DType("uint8", 1, "uint", "u1"),
    DType("bool", 1, "bool", "?"),
    DType("qint8", 1, "quantized", "i1"),
    DType("quint8", 1, "quantized", "u1"),
    DType("qint32", 4, "quantized", "<i4"),
    DType("quint4x2", 1, "quantized", "u1"),
    DType("quint2x4", 1, "quantized", "u1"),
    DType("bits8", 1, "bits", "u1"),
    DType("bits16", 2, "bits", "<u2"),
    DType("bits1x8", 1, "bits", "u1"),
    DType("bits2x4", 1, "bits", "u1"),
    DType("bits4x2", 1, "bits", "u1"),
    *[DType(f"uint{n}", 1, "uint", None) for n in range(1, 8)],
    *[DType(f"int{n}", 1, "int", None) for n in range(1, 8)],
]

DTYPES: dict[str, DType] = {d.name: d for d in _TABLE}

# Aliases torch accepts as attribute names (``torch.float`` is ``torch.float32``).
DTYPE_ALIASES = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "cfloat": "complex64",
    "cdouble": "complex128",
    "chalf": "complex32",
    "long": "int64",
    "int": "int32",
    "short": "int16",
    "bit": "uint1",
}

# Legacy typed-storage class names, as they appear in pickles (``torch.FloatStorage``).
STORAGE_TYPES: dict[str, str] = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64",
    "QInt8Storage": "qint8",
    "QUInt8Storage": "quint8",
    "QInt32Storage": "qint32",
    "QUInt4x2Storage": "quint4x2",
    "QUInt2x4Storage": "quint2x4",
}

# safetensors header dtype names.
SAFETENSORS_DTYPES: dict[str, str] = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2FNUZ": "float8_e5m2fnuz",
    "F8_E8M0": "float8_e8m0fnu",
    "C64": "complex64",
    "C128": "complex128",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U64": "uint64",
    "U32": "uint32",
    "U16": "uint16",
    "U8": "uint8",
    "BOOL": "bool",
}


# safetensors dtypes narrower than a byte: code -> (torch dtype holding them, bits each).
# F4 pairs fill torch's float4_e2m1fn_x2 (the last dimension halves, as safetensors.torch
# loads them); torch has no 6-bit dtype, so F6 data is shown as its raw bytes.
SAFETENSORS_SUBBYTE: dict[str, tuple[str | None, int]] = {
    "F4": ("float4_e2m1fn_x2", 4),
    "F6_E2M3": (None, 6),
    "F6_E3M2": (None, 6),
}


def dtype_info(name: str) -> DType:
    """Return the facts for a torch dtype name; unknown names raise KeyError."""
    return DTYPES[DTYPE_ALIASES.get(name, name)]


def canonical(name: str) -> str:
    """``float`` -> ``float32``; names already canonical come back unchanged."""
    return DTYPE_ALIASES.get(name, name)

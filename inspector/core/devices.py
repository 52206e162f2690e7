"""The devices this machine can run a model on: ``cpu``, each ``cuda:N``, and ``mps``.

Only devices that are actually available are listed, so a front end can offer exactly these.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class Device:
    """One device a model can run on.

    ``name`` is what torch accepts (``"cpu"``, ``"cuda:0"``, ``"mps"``); ``memory_bytes`` is
    the device's total memory (system memory for the CPU; None when unknown).
    ``dtypes`` lists the floating-point dtypes worth offering on it, and ``notes`` says why
    a dtype may misbehave there.
    """

    name: str
    description: str
    memory_bytes: int | None
    dtypes: tuple[str, ...] = DTYPES
    notes: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        d["dtypes"] = list(self.dtypes)
        return d


class DeviceError(ValueError):
    """A device or dtype that this machine cannot use; the message says what to pick instead."""


def _system_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_description() -> str:
    import platform

    name = platform.processor() or platform.machine() or "CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name} ({os.cpu_count() or '?'} logical cores)"


def list_devices() -> list[Device]:
    """Every available device, CPU first."""
    import torch

    devices = [Device(
        name="cpu", description=_cpu_description(), memory_bytes=_system_memory(),
        notes={"float16": "float16 on the CPU is slow and a few operators do not support it",
               "bfloat16": "bfloat16 on the CPU is emulated on processors without native support"})]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            dtypes = DTYPES
            notes = {}
            try:
                bf16 = torch.cuda.is_bf16_supported()
            except Exception:  # noqa: BLE001 - a driver quirk must not hide the device
                bf16 = False
            if not bf16:
                dtypes = ("float32", "float16")
                notes["bfloat16"] = "this GPU does not support bfloat16"
            devices.append(Device(
                name=f"cuda:{i}",
                description=f"{props.name} (compute capability {props.major}.{props.minor})",
                memory_bytes=int(props.total_memory), dtypes=dtypes, notes=notes))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        memory = None
        try:
            memory = int(torch.mps.recommended_max_memory())
        except Exception:  # noqa: BLE001 - older torch or macOS
            memory = None
        devices.append(Device(name="mps", description="Apple Metal (MPS)", memory_bytes=memory,
                              notes={"bfloat16": "bfloat16 on MPS needs macOS 14 or later"}))
    return devices


def check_device(name: str, dtype: str = "float32") -> Device:
    """The listed device called ``name`` if ``dtype`` can be used on it; DeviceError otherwise."""
    if dtype not in DTYPES:
        raise DeviceError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    devices = list_devices()
    wanted = "cuda:0" if name == "cuda" else name
    for dev in devices:
        if dev.name == wanted:
            if dtype not in dev.dtypes:
                why = dev.notes.get(dtype, f"{dtype} is not supported there")
                raise DeviceError(f"{dtype} cannot be used on {dev.name}: {why}; "
                                  f"choose one of {', '.join(dev.dtypes)}")
            return dev
    names = ", ".join(d.name for d in devices)
    if wanted.startswith("cuda"):
        hint = "no CUDA device is available" if not any(
            d.name.startswith("cuda") for d in devices) else "no such CUDA device"
    elif wanted == "mps":
        hint = "MPS (Apple Metal) is not available on this machine"
    else:
        hint = "unknown device"
    raise DeviceError(f"device {name!r} cannot be used: {hint}; available: {names}")

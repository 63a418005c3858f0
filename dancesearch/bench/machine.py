"""The machine a benchmark ran on: CPU, cores, memory, GPU, library versions, load at the start."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("numpy", "torch", "faiss-cpu", "faiss-gpu", "fastapi", "uvicorn", "httpx", "sqlalchemy",
             "transformers", "zpe-mocap")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _gpus() -> dict[str, Any]:
    import torch

    from search.ann.faiss_backend import gpu_count

    info: dict[str, Any] = {"faiss_gpus": gpu_count(), "torch_cuda": bool(torch.cuda.is_available())}
    if info["torch_cuda"]:
        info["torch_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def describe_machine() -> dict[str, Any]:
    """Cores (logical, and usable by this process), CPU model, RAM, GPUs, load, versions."""
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = _gpus()
    return {
        "cpu_model": _cpu_model(), "logical_cores": os.cpu_count(), "usable_cores": usable,
        "memory_bytes": _memory_bytes(), "gpu": bool(gpus["faiss_gpus"] or gpus["torch_cuda"]), "gpus": gpus,
        "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
        "platform": platform.platform(), "load_average_at_start": list(load) if load else None,
        "versions": _versions(),
    }

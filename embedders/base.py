"""Saving and loading of every trainable module, sentence-transformers style, and small shared helpers.

A module is described by a typed config dataclass. `module.save(dir, NAME)` writes `NAME.json`
(`{"class": ..., "config": {...}}`) and `NAME.safetensors` side by side; `Cls.load(dir, NAME)`
rebuilds `Cls(Cls.Config(**config))` and loads the weights strictly, reporting missing, unexpected
and mis-shaped tensors in a :class:`ModelLoadError` that names the file. Nothing is ever pickled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

log = logging.getLogger(__name__)

M = TypeVar("M", bound="SavableModule")


class ModelLoadError(Exception):
    """A saved module cannot be loaded: missing file, bad config, or weights that do not match."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SavableModule(nn.Module):
    """An `nn.Module` built from one config dataclass (`Config`) and saved as JSON + safetensors."""

    Config: ClassVar[type[Any]]

    def __init__(self, config: Any) -> None:
        super().__init__()
        if not isinstance(config, self.Config):
            raise TypeError(f"{type(self).__name__} needs a {self.Config.__name__}, got {type(config).__name__}")
        self.config = config

    def save(self, directory: Path | str, name: str) -> None:
        """Write `directory/name.json` (class and config) and `directory/name.safetensors`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"class": type(self).__name__, "config": asdict(self.config)}
        (directory / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(directory / f"{name}.safetensors"))

    @classmethod
    def load(cls: type[M], directory: Path | str, name: str, device: str | torch.device = "cpu") -> M:
        """Rebuild the module saved under `name` in `directory`; strict weight load, eval mode."""
        directory = Path(directory)
        model = cls(cls._read_config(directory / f"{name}.json"))
        weights = directory / f"{name}.safetensors"
        if not weights.is_file():
            raise ModelLoadError(weights, "weights file not found")
        try:
            state = load_file(str(weights))
        except Exception as exc:  # safetensors raises several types for corrupt files
            raise ModelLoadError(weights, f"cannot read safetensors: {exc}") from exc
        model._load_strict(state, weights)
        return model.to(device).eval()

    @classmethod
    def _read_config(cls, path: Path) -> Any:
        if not path.is_file():
            raise ModelLoadError(path, "config file not found")
        try:
            meta = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelLoadError(path, f"not valid JSON: {exc}") from exc
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise ModelLoadError(path, "expected an object with a 'config' object")
        if meta.get("class") != cls.__name__:
            raise ModelLoadError(path, f"holds a {meta.get('class')!r}, not a {cls.__name__}")
        known = {f.name for f in fields(cls.Config)}
        unknown = sorted(set(meta["config"]) - known)
        if unknown:
            raise ModelLoadError(path, f"unknown config keys {unknown} for {cls.__name__}")
        try:
            return cls.Config(**meta["config"])
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(path, f"invalid config: {exc}") from exc

    def _load_strict(self, state: dict[str, torch.Tensor], path: Path) -> None:
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        shapes = sorted(f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
                        for k, v in own.items() if k in state and state[k].shape != v.shape)
        problems = [f"{label}: {items}" for label, items in
                    (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes))
                    if items]
        if problems:
            raise ModelLoadError(path, "weights do not match the config; " + "; ".join(problems))
        self.load_state_dict(state, strict=True)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """`device` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def module_device(module: nn.Module) -> torch.device:
    """Device of a module's first parameter (CPU for a module without parameters)."""
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


@torch.no_grad()
def batched_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 1024,
                  device: torch.device | None = None) -> torch.Tensor:
    """Apply `fn` to `x` in chunks of `batch_size` rows (moved to `device`); result on the CPU."""
    if x.shape[0] == 0:
        return fn(x.to(device or x.device)).float().cpu()  # keeps the output's trailing shape
    outs = [fn(x[i:i + batch_size].to(device or x.device)).float().cpu()
            for i in range(0, x.shape[0], batch_size)]
    return torch.cat(outs)


def copy_matching(target: nn.Module, source: nn.Module, prefix_map: dict[str, str] | None = None) -> list[str]:
    """Copy into `target` every tensor of `source` whose (mapped) name and shape match; returns names."""
    src = source.state_dict()
    own = target.state_dict()
    copied = []
    for key, value in own.items():
        src_key = key
        for new, old in (prefix_map or {}).items():
            if key.startswith(new):
                src_key = old + key[len(new):]
        if src_key in src and src[src_key].shape == value.shape:
            own[key] = src[src_key].clone()
            copied.append(key)
    target.load_state_dict(own)
    log.debug("copied %d tensors into %s", len(copied), type(target).__name__)
    return copied

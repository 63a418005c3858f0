"""The text encoder alone, PyTorch against ONNX Runtime (embedders/onnx_text.py): p50 per new sentence and
the largest difference between their embeddings. Both encoders answer the same texts, interleaved.

    .venv/bin/python scripts/bench_text_encoder.py --texts 300
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--texts", type=int, default=300)
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    args = ap.parse_args()
    import numpy as np
    import torch

    from dancesearch.bench.queries import text_queries
    from embedders.text import FrozenMiniLM

    torch.set_num_threads(2)
    eager, fast = FrozenMiniLM(), FrozenMiniLM(fast=True)
    if fast.onnx is None:
        raise SystemExit("the ONNX path is not available (see the log)")
    texts = text_queries(args.corpus, 5)[:args.texts]
    eager.encode(["warm up"]), fast.encode(["warm up"])
    times: dict[str, list[float]] = {"pytorch": [], "onnxruntime": []}
    diff = 0.0
    for i, text in enumerate(texts):
        order = (("pytorch", eager), ("onnxruntime", fast)) if i % 2 else (("onnxruntime", fast), ("pytorch", eager))
        out = {}
        for name, enc in order:
            start = time.perf_counter()
            out[name] = enc.encode([text])
            times[name].append((time.perf_counter() - start) * 1000.0)
        diff = max(diff, float((out["pytorch"] - out["onnxruntime"]).abs().max()))
    doc = {k: {"p50_ms": round(float(np.median(v)), 2), "p95_ms": round(float(np.percentile(v, 95)), 2)}
           for k, v in times.items()}
    doc["texts"], doc["max_abs_difference"] = len(texts), diff
    print(json.dumps(doc))


if __name__ == "__main__":
    main()

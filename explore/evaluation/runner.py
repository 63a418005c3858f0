"""``dancesearch eval-capabilities``: calibrate on ``val`` (``--calibrate``), report on a split.

Calibration writes ``capabilities.json`` (:mod:`explore.settings`) and ``capabilities_negatives.npy``
(the concept learner's negative bank of train window vectors) into the model directory; the weights are
not touched. The report (``report.json`` + ``report.md`` in ``--out``) has one section per capability.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from embedders.runtime import DanceSearchModel
from explore.evaluation import classification, concepts, generation, interpolation, stylization
from explore.evaluation.data import EncodedWindows, encode_split, work_library
from explore.settings import NEGATIVES, CapabilitySettings, load_negatives

log = logging.getLogger(__name__)


@dataclass
class CapabilityEvalOptions:
    model: Path
    corpus: Path
    split: str
    out: Path
    work: Path
    calibrate: bool = False
    sections: tuple[str, ...] = ("classify", "interpolate", "stylize", "concepts", "generation")


def calibrate(model: DanceSearchModel, train: EncodedWindows, val: EncodedWindows) -> tuple[CapabilitySettings,
                                                                                           dict[str, Any]]:
    """Every setting chosen on val; the tables that chose them."""
    notes: dict[str, Any] = {}
    s = CapabilitySettings(chosen_on="val")
    cls = classification.calibrate(model, val, train)
    s = replace(s, prompt=str(cls["prompt"]), temperature=round(float(cls["temperature"]), 5))  # type: ignore[arg-type]
    notes["classify"] = cls
    s = stylization.style_statistics(train, s)
    s.bone_lengths = generation.reference_lengths(train)
    s, notes["stylize"] = stylization.calibrate(model, val, train, s)
    negatives = concepts.negative_bank(train)
    s, notes["concepts"] = concepts.calibrate(model, val, negatives, s)
    s, notes["generation"] = generation.calibrate(model, val, s)
    s.notes = {"how": "dancesearch eval-capabilities --calibrate --split val"}
    np.save(Path(model.directory) / NEGATIVES, negatives.astype(np.float16))
    s.save(model.directory)
    return s, notes


def evaluate(opts: CapabilityEvalOptions) -> dict[str, Any]:
    """Calibrate (optionally), measure every section on ``opts.split``, write the report."""
    from explore.evaluation.report import write_report

    t0 = time.perf_counter()
    model = DanceSearchModel(opts.model)
    lib = work_library(opts.corpus, opts.work, ("train", "val", opts.split))
    train = encode_split(model, lib, "train", opts.work)
    report: dict[str, Any] = {"model": str(opts.model), "model_version": model.version, "split": opts.split}
    if opts.calibrate:
        val = encode_split(model, lib, "val", opts.work)
        settings, report["calibration"] = calibrate(model, train, val)
    else:
        settings = CapabilitySettings.load(opts.model)
    report["settings"] = {k: v for k, v in settings.__dict__.items()
                          if k not in ("style_means", "style_global", "style_stds", "style_classifier", "style_pose",
                                        "style_pose_classifier", "bone_lengths", "notes")}
    data = encode_split(model, lib, opts.split, opts.work)
    if "classify" in opts.sections:
        report["classify"] = classification.evaluate(model, data, train, settings.prompt, settings.temperature)
    if "interpolate" in opts.sections:
        report["interpolate"] = interpolation.evaluate(model, data, settings)
    if "stylize" in opts.sections:
        report["stylize"] = stylization.evaluate(model, data, train, settings)
    if "concepts" in opts.sections:
        negatives = load_negatives(opts.model)
        report["concepts"] = concepts.run(model, data, negatives if negatives is not None
                                          else concepts.negative_bank(train), settings)
    if "generation" in opts.sections:
        report["generation"] = generation.run(model, data, settings)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "report.json").write_text(json.dumps(report, indent=1, default=float), encoding="utf-8")
    write_report(report, opts.out / "report.md")
    return report

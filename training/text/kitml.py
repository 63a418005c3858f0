"""KIT Motion-Language sentences (``CORPUS/text/``), used only to teach the text side how motion is described.

The corpus ships the KIT-ML annotations as packaged by TMR (``kitml_annotations.json``:
``{id: {path, duration, annotations: [{seg_id, text, start, end}]}}``) with id lists per split under
``kitml_splits/``. The motions themselves are not available, so these sentences can only serve text-only
objectives (register of motion descriptions, extra negatives). Only the train and val splits are exposed:
the test split is never used for training or tuning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

KITML_DIR = "text"
ANNOTATION_FILE = "kitml_annotations.json"
SPLIT_DIR = "kitml_splits"

KitMLSplit = Literal["train", "val"]


class KitMLError(ValueError):
    """A KIT-ML file is missing or malformed; the message names the file."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class KitMLSentence:
    """One annotated sentence of a KIT-ML motion (times in seconds; the motion itself is absent)."""

    motion_id: str
    text: str
    start: float
    end: float


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KitMLError(path, f"cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise KitMLError(path, f"not valid JSON: {exc}") from exc


def read_split_ids(corpus_dir: Path, split: KitMLSplit) -> list[str]:
    """The motion ids of one KIT-ML split (``kitml_splits/<split>.txt``, one id a line)."""
    if split not in ("train", "val"):
        raise ValueError(f"KIT-ML split must be 'train' or 'val' (the test split is never used), not {split!r}")
    path = Path(corpus_dir) / KITML_DIR / SPLIT_DIR / f"{split}.txt"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise KitMLError(path, f"cannot read: {exc.strerror or exc}") from exc
    ids = [line.strip() for line in lines if line.strip()]
    if not ids:
        raise KitMLError(path, "lists no motion ids")
    return ids


def _sentences_of(path: Path, motion_id: str, record: object) -> list[KitMLSentence]:
    if not isinstance(record, dict) or not isinstance(record.get("annotations"), list):
        raise KitMLError(path, f"motion {motion_id!r} has no 'annotations' list")
    out = []
    for ann in record["annotations"]:
        text = ann.get("text") if isinstance(ann, dict) else None
        if not isinstance(text, str):
            raise KitMLError(path, f"motion {motion_id!r} has an annotation without a 'text' string")
        try:
            start, end = float(ann.get("start", 0.0)), float(ann.get("end", record.get("duration", 0.0)))
        except (TypeError, ValueError) as exc:
            raise KitMLError(path, f"motion {motion_id!r}: start/end are not numbers") from exc
        if " ".join(text.split()):
            out.append(KitMLSentence(motion_id, " ".join(text.split()), start, end))
    return out


def load_kitml(corpus_dir: Path, split: KitMLSplit = "train") -> list[KitMLSentence]:
    """Every annotated sentence of the motions in ``split``, in split-file order.

    Raises :class:`KitMLError` naming the file for a missing/malformed file or a split id without
    annotations.
    """
    ids = read_split_ids(corpus_dir, split)
    path = Path(corpus_dir) / KITML_DIR / ANNOTATION_FILE
    data = _read_json(path)
    if not isinstance(data, dict):
        raise KitMLError(path, "expected a JSON object keyed by motion id")
    missing = [i for i in ids if i not in data]
    if missing:
        raise KitMLError(path, f"{len(missing)} ids of the {split} split have no annotations, e.g. {missing[:3]}")
    return [s for motion_id in ids for s in _sentences_of(path, motion_id, data[motion_id])]


def kitml_sentences(corpus_dir: Path, split: KitMLSplit = "train", unique: bool = True) -> list[str]:
    """The sentence texts of ``split``; with ``unique`` exact duplicates (mirrored motions) are dropped."""
    texts = [s.text for s in load_kitml(corpus_dir, split)]
    return list(dict.fromkeys(texts)) if unique else texts

"""Regenerate the bundled sample library (``samples/``) from the shared corpus.

The sample library is what ``dancesearch demo`` ingests on a fresh machine: a few MB of real motion
capture from every corpus source, in each publisher's own format, gzip-compressed as in the corpus.
Files are copied byte for byte, except ballroom sequences longer than :data:`MAX_BALLROOM_FRAMES`,
whose JSON is rewritten with only the first frames (their ``sha256``, ``frames`` and frame-range
``split`` are updated to match). ``samples/manifest.json`` is written in the corpus manifest format
with ``file`` relative to ``samples/``. ``samples/README.md`` is maintained by hand.

Usage: ``python scripts/make_samples.py [--corpus ../shared/corpus] [--out samples]``
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger("make_samples")

MAX_BALLROOM_FRAMES = 1500
"""Ballroom sequences are cut to their first 60 s (25 fps) to keep the folder small."""

BALLROOM = ("ballroom/DANCE_W_24", "ballroom/DANCE_C_8", "ballroom/DANCE_R_8", "ballroom/DANCE_T_5")
PERFUME = ("perfume/aachan", "perfume/kashiyuka", "perfume/nocchi")
CMU = ("cmu/005_03", "cmu/005_06", "cmu/005_08", "cmu/005_11", "cmu/005_14", "cmu/005_15", "cmu/005_16",
       "cmu/007_12", "cmu/002_02")
BANDAI_1 = (
    "bandai/dataset-1_dance-short_normal_001", "bandai/dataset-1_kick_normal_001",
    "bandai/dataset-1_punch_normal_001", "bandai/dataset-1_slash_normal_001",
    "bandai/dataset-1_bow_proud_001", "bandai/dataset-1_bye_childish_001",
    "bandai/dataset-1_byebye_happy_001", "bandai/dataset-1_dash_angry_001",
    "bandai/dataset-1_guide_feminine_001", "bandai/dataset-1_walk_sad_001",
)
BANDAI_2_CONTENTS = ("walk", "walk-turn-left", "walk-turn-right", "run", "wave-both-hands", "wave-left-hand",
                     "wave-right-hand", "raise-up-both-hands", "raise-up-left-hand", "raise-up-right-hand")
BANDAI_2_STYLES = ("active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful")
BANDAI_2_PER_CONTENT = 2
LICENSES = ("bandai/dataset-1/LICENSE", "bandai/dataset-2/LICENSE", "perfume/LICENSE")


class SampleError(RuntimeError):
    """The corpus lacks an entry or file the selection names."""


def bandai_2_selection(sequences: list[dict[str, Any]]) -> list[str]:
    """Two dataset-2 clips per content, styles rotating so every style appears (first ids by name)."""
    by_combo: dict[tuple[str, str], list[str]] = {}
    for s in sequences:
        if s["source"] == "bandai-2":
            by_combo.setdefault((s["labels"]["content"], s["labels"]["style"]), []).append(s["id"])
    picks = []
    for i, content in enumerate(BANDAI_2_CONTENTS):
        for j in range(BANDAI_2_PER_CONTENT):
            style = BANDAI_2_STYLES[(i * BANDAI_2_PER_CONTENT + j) % len(BANDAI_2_STYLES)]
            ids = sorted(by_combo.get((content, style), []))
            if not ids:
                raise SampleError(f"no bandai-2 clip of {content} x {style} in the corpus manifest")
            picks.append(ids[0])
    return picks


def cut_ballroom(src: Path, dst: Path, max_frames: int) -> tuple[int, str]:
    """Write the first ``max_frames`` frames of a ballroom JSON (gzip, reproducible); (frames, sha256)."""
    with gzip.open(src, "rt", encoding="utf-8") as fh:
        doc = json.load(fh)
    n = min(int(doc["length"]), max_frames)
    doc = {"length": n, "center": doc["center"][:n], "skeletons": doc["skeletons"][:n]}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    with open(dst, "wb") as out, gzip.GzipFile(filename="skeletons.json", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw)
    return n, hashlib.sha256(raw).hexdigest()


def cut_split(split: Any, frames: int) -> Any:
    """A frame-range split clipped to the first ``frames`` frames (a single range becomes its name)."""
    if not isinstance(split, dict):
        return split
    kept = {name: [a, min(b, frames)] for name, (a, b) in split.items() if a < frames}
    return next(iter(kept)) if len(kept) == 1 else kept


def copy_entry(entry: dict[str, Any], corpus: Path, out: Path) -> dict[str, Any]:
    """Copy one sequence's file into ``out`` (cutting long ballroom sequences); its manifest entry."""
    src = corpus / entry["file"]
    if not src.is_file():
        raise SampleError(f"{src}: file named by the corpus manifest is missing")
    dst = out / entry["file"]
    dst.parent.mkdir(parents=True, exist_ok=True)
    new = dict(entry)
    if entry["source"] == "ballroom" and int(entry.get("frames") or 0) > MAX_BALLROOM_FRAMES:
        new["frames"], new["sha256"] = cut_ballroom(src, dst, MAX_BALLROOM_FRAMES)
        new["split"] = cut_split(entry["split"], new["frames"])
        new["cut"] = f"first {new['frames']} of {entry['frames']} frames"
    else:
        shutil.copyfile(src, dst)
    return new


def make_samples(corpus: Path, out: Path) -> list[dict[str, Any]]:
    """Rebuild ``out`` (motion files, licences, manifest.json) from ``corpus``; the manifest entries."""
    sequences = json.loads((corpus / "manifest.json").read_text())["sequences"]
    by_id = {s["id"]: s for s in sequences}
    wanted = [*BALLROOM, *PERFUME, *CMU, *BANDAI_1, *bandai_2_selection(sequences)]
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise SampleError(f"not in {corpus / 'manifest.json'}: {', '.join(missing)}")
    for folder in ("ballroom", "bandai", "cmu", "perfume"):
        shutil.rmtree(out / folder, ignore_errors=True)
    entries = [copy_entry(by_id[i], corpus, out) for i in wanted]
    for lic in LICENSES:
        shutil.copyfile(corpus / lic, out / lic)
    manifest = {"version": 1, "sequences": entries}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--corpus", type=Path, default=root.parent / "shared" / "corpus")
    parser.add_argument("--out", type=Path, default=root / "samples")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    entries = make_samples(args.corpus, args.out)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    log.info("%d sequences, %.1f MB in %s", len(entries), size / 1e6, args.out)


if __name__ == "__main__":
    main()

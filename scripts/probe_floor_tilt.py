"""Floor-tilt levelling (:func:`motion.orientation.level_tilt`) on real motion: how often it would fire on the
corpus, whose floors are level, and whether tilted copies of travelling test-split walks come back level.

1. Every corpus clip through the product's canonicalisation (rig files and recognition both level a
   tilt): any levelling there is a false one, the corpus floors being level.
2. The test split's bandai-2 walk-turn clips (the first ``--walks``), written on the Mixamo rig with the
   whole scene tilted (pitch or roll) and read back through recognition: the tilt found and the largest
   pelvis-relative joint error against the untilted clip.

    .venv/bin/python scripts/probe_floor_tilt.py --corpus ../shared/corpus
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TILTS = (("pitch", 8.0), ("roll", 15.0), ("pitch", -25.0))
AXES = {"pitch": "X", "roll": "Z"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--walks", type=int, default=12)
    args = ap.parse_args()
    from motion.bvh import read_bvh_text
    from motion.canonical import to_canonical
    from motion.conventions import CONVENTIONS, convention_bvh
    from motion.data import Motion
    from motion.fk import axis_rotation
    from motion.formats import load_motion
    from motion.skeleton import JOINTS, PARENTS

    entries = json.loads((args.corpus / "manifest.json").read_text())["sequences"]
    levelled = []
    for e in entries:
        tilt = float(to_canonical(load_motion(args.corpus / e["file"])).meta["detected"].get("floor_tilt_deg", 0.0))
        if tilt:
            levelled.append((e["file"], round(tilt, 2)))
    print(f"corpus clips that would be levelled: {len(levelled)} of {len(entries)} {levelled}")

    walks = [e["file"] for e in entries if e["split"] == "test" and "walk-turn" in e["file"]][: args.walks]
    found = {t: 0 for t in TILTS}
    for f in walks:
        m = to_canonical(load_motion(args.corpus / f)).slice_frames(0, 150)
        row = []
        for kind, deg in TILTS:
            moved = Motion(m.positions @ axis_rotation(AXES[kind], np.float64(deg)).T, m.fps, list(JOINTS), list(PARENTS))
            back = to_canonical(read_bvh_text(convention_bvh(CONVENTIONS["mixamo"], moved)))
            n = min(back.n_frames, m.n_frames)
            err = np.abs((back.positions[:n] - back.positions[:n, :1]) - (m.positions[:n] - m.positions[:n, :1])).max()
            tilt = float(back.meta["detected"]["floor_tilt_deg"])
            found[(kind, deg)] += abs(tilt - abs(deg)) < 0.5
            row.append(f"{kind} {abs(deg):g}: found {tilt:4.1f}, error {err:.3f} m")
        print(f"{Path(f).name}: " + "; ".join(row))
    print("levelled within 0.5 deg: " + ", ".join(f"{k} {abs(d):g} deg {found[(k, d)]}/{len(walks)}"
                                                  for k, d in TILTS))


if __name__ == "__main__":
    main()

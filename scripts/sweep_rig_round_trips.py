"""Exhaustive rig round trips: every convention x units x up axis x root mode x rest pose x body scale, on
the two test bodies of ``tests/test_recognise.py``, written by :func:`motion.conventions.convention_bvh` and
read back by the product's readers; then every convention with its joints renamed ``b000``... (no name
helps). Prints the failures by cause and, for the nameless rigs, each convention's worst joint.

    .venv/bin/python scripts/sweep_rig_round_trips.py          # ~3 min on 2 cores

The hypothesis test in tests/test_recognise.py samples 20 of these cases on the smaller body; this sweep
found the two 2026-12-01 fixes (the cm / inch prior, the collar in the nameless head search).
"""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

UNITS = ("m", "cm", "mm", "inch")
SCALES = (0.7, 1.0, 1.2)


def main() -> None:
    from motion.bvh import read_bvh_text
    from motion.canonical import to_canonical
    from motion.conventions import CONVENTIONS, convention_bvh
    from motion.formats import load_motion
    from motion.skeleton import JOINTS
    from tests import test_recognise as rt

    bodies = [to_canonical(load_motion(rt.CORPUS / f)).slice_frames(0, 60) for f in rt.CLIPS]
    fails, n = [], 0
    for name, units, up, root, pose, scale in itertools.product(sorted(CONVENTIONS), UNITS, ("y", "z"),
                                                                ("absolute", "offset+absolute", "delta"),
                                                                ("T", "A"), SCALES):
        for k, body in enumerate(bodies):
            n += 1
            try:
                rt._check_round_trip(CONVENTIONS[name], body, units=units, up=up, root_mode=root, pose=pose,
                                     body_scale=scale)
            except Exception as exc:  # noqa: BLE001 - counted and shown, the sweep goes on
                fails.append((name, units, scale, k, f"{type(exc).__name__}: {str(exc)[:120]}"))
    print(f"named rigs: {n} round trips, {len(fails)} failures")
    for key, count in Counter((f[0], f[1], f[2], f[3]) for f in fails).most_common():
        print(f"  {count:3d} x {key[0]} in {key[1]}, body {key[3]} at {key[2]}x")
    print("nameless rigs (joints renamed b000...), worst joint per body, checked joints in brackets:")
    for name in sorted(CONVENTIONS):
        row = []
        for body in bodies:
            back = to_canonical(read_bvh_text(rt._opaque(convention_bvh(CONVENTIONS[name], body))))
            s = float(back.meta["detected"]["body_scaled"])  # type: ignore[index]
            err = np.abs((back.positions - back.positions[:, [0]]) - s * (body.positions - body.positions[:, [0]]))
            per_joint = err.max(axis=(0, 2))
            checked = np.abs(rt._relative(back.positions) - s * rt._relative(body.positions)).max()
            j = int(per_joint.argmax())
            row.append(f"{JOINTS[j]} {per_joint[j] * 100:.1f} cm ({checked * 100:.1f})")
        print(f"  {name:16s} " + " | ".join(row))


if __name__ == "__main__":
    main()

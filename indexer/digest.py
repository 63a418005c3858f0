"""What an ingest produced, independent of row ids, timing and worker order: for comparing two
libraries built from the same folder (local pool vs Ray, a resumed run vs an uninterrupted one).

``library_digest(lib)`` maps each clip's path to its content hash, motion store key, source, format,
rig, frame counts and rates, labels, description, split, the canonicaliser's details and its windows
(start, end, split); open ingest errors are kept as ``(path, reason)``. Two libraries hold the same
ingest result exactly when their digests are equal; :func:`compare_digests` says how they differ.
"""

from __future__ import annotations

import json
from typing import Any

from db.library import Library


def library_digest(lib: Library) -> dict[str, Any]:
    """The comparable content of `lib` (see the module docstring); raises if a path is stored twice."""
    windows: dict[int, list[tuple[int, int, str | None]]] = {}
    for w in lib.iter_windows():
        windows.setdefault(w.clip_id, []).append((w.start, w.end, w.split))
    clips: dict[str, dict[str, Any]] = {}
    hashes: set[str] = set()
    for c in lib.list_clips():
        if c.path in clips or c.content_hash in hashes:
            raise ValueError(f"{c.path}: stored twice (clip {c.id})")
        hashes.add(c.content_hash)
        clips[c.path] = {
            "content_hash": c.content_hash, "motion_key": c.motion_key, "source": c.source,
            "format": c.format, "rig": c.rig, "orig_fps": c.orig_fps, "orig_frames": c.orig_frames,
            "frames": c.frames, "labels": c.labels, "description": c.description, "split": c.split,
            "details": json.loads(json.dumps(c.details, sort_keys=True, default=str)),
            "windows": sorted(windows.get(c.id, [])),
        }
    errors = sorted({(e.path, e.reason) for e in lib.list_errors()})
    return {"clips": clips, "errors": errors}


def compare_digests(a: dict[str, Any], b: dict[str, Any], limit: int = 10) -> list[str]:
    """Differences between two digests, one line each (at most `limit`); empty when identical."""
    out: list[str] = []
    ca, cb = a["clips"], b["clips"]
    out += [f"only in the first: {p}" for p in sorted(set(ca) - set(cb))]
    out += [f"only in the second: {p}" for p in sorted(set(cb) - set(ca))]
    for p in sorted(set(ca) & set(cb)):
        fields = [k for k in ca[p] if ca[p][k] != cb[p].get(k)]
        if fields:
            out.append(f"{p}: {', '.join(fields)} differ")
    if a["errors"] != b["errors"]:
        out.append(f"open errors differ: {sorted(set(a['errors']) ^ set(b['errors']))[:limit]}")
    return out[:limit]


def digest_counts(d: dict[str, Any]) -> tuple[int, int, int]:
    """(clips, windows, open errors) of a digest."""
    return len(d["clips"]), sum(len(c["windows"]) for c in d["clips"].values()), len(d["errors"])

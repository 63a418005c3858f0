"""Metadata sidecars for bulk ingest: labels, descriptions, splits and sources of motion files.

Two formats are read:

* a corpus-style ``manifest.json``: ``{"sequences": [{"id", "source", "file", "format", "fps",
  "frames", "labels": {...}, "split", "sha256", "character"}, ...]}`` with ``file`` (and
  ``character``) relative to the manifest's folder;
* a CSV file with a ``file`` column (relative to the CSV's folder) and any other columns as labels;
  ``split`` and ``source`` columns set the split and source, ``fps`` and ``character`` columns the
  frame rate and DeepMimic character file (relative to the CSV's folder), empty cells are left out.

A sidecar's ``fps`` (null or empty where the file's own rate is right) overrides the rate the file
states, e.g. BVH headers that claim 120 fps for a 60 fps capture; ``character`` names the DeepMimic
character file of a clip (see :mod:`motion.deepmimic`).

A ``description`` label also becomes the clip's description. Files are matched by their resolved
absolute path, so it does not matter how the ingest paths were spelled; entries also match by the
sha256 of the uncompressed content where the manifest gives it, so a renamed file keeps its labels.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class MetadataError(ValueError):
    """A sidecar file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class ClipMetadata:
    """What a sidecar says about one motion file."""

    labels: dict[str, Any] = field(default_factory=dict)
    split: Any = None
    source: str | None = None
    sha256: str | None = None
    root: str | None = None
    fps: float | None = None
    character: str | None = None

    @property
    def description(self) -> str | None:
        """The ``description`` label, if it is a non-empty string."""
        d = self.labels.get("description")
        return d if isinstance(d, str) and d.strip() else None


def path_key(path: str | os.PathLike[str]) -> str:
    """The matching key of a file: its absolute path with symlinks resolved."""
    return str(Path(path).expanduser().resolve())


def _check_split(split: Any, where: str) -> Any:
    if split is None or isinstance(split, str):
        return split or None
    if isinstance(split, dict) and all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(x, int | float) for x in v)
            for v in split.values()):
        return split
    raise MetadataError(f"{where}: split must be a name or {{name: [start, end]}}, got {split!r}")


def _check_fps(fps: Any, where: str) -> float | None:
    if fps is None or fps == "":
        return None
    try:
        value = float(fps)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(fps, bool) or not 0 < value < 10000:
        raise MetadataError(f"{where}: fps must be a positive number or empty, got {fps!r}")
    return value


def _character(character: Any, root: Path, where: str) -> str | None:
    if character is None or character == "":
        return None
    if not isinstance(character, str):
        raise MetadataError(f"{where}: character must be a file name, got {character!r}")
    return path_key(root / character)


def _manifest_entry(entry: Any, root: Path, where: str) -> tuple[str, ClipMetadata]:
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not entry["file"]:
        raise MetadataError(f"{where}: each sequence needs a \"file\" string")
    labels = entry.get("labels") or {}
    if not isinstance(labels, dict):
        raise MetadataError(f"{where}: \"labels\" must be an object, got {type(labels).__name__}")
    sha = entry.get("sha256")
    source = entry.get("source")
    meta = ClipMetadata(labels=dict(labels), split=_check_split(entry.get("split"), where),
                        source=str(source) if source else None,
                        sha256=sha.lower() if isinstance(sha, str) and sha else None, root=str(root),
                        fps=_check_fps(entry.get("fps"), where),
                        character=_character(entry.get("character"), root, where))
    return path_key(root / entry["file"]), meta


def load_manifest(path: Path) -> list[tuple[str, ClipMetadata]]:
    """``(path key, metadata)`` of every sequence of a manifest.json; raises :class:`MetadataError`."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetadataError(f"{path}: cannot read manifest: {exc}") from exc
    seqs = doc.get("sequences") if isinstance(doc, dict) else None
    if not isinstance(seqs, list):
        raise MetadataError(f"{path}: a manifest must be an object with a \"sequences\" list")
    root = path.resolve().parent
    return [_manifest_entry(e, root, f"{path}: sequence {i}") for i, e in enumerate(seqs)]


def load_csv(path: Path) -> list[tuple[str, ClipMetadata]]:
    """``(path key, metadata)`` of every row of a CSV with a ``file`` column."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip() for f in (reader.fieldnames or [])]
            if "file" not in fields:
                raise MetadataError(f"{path}: a metadata CSV needs a \"file\" column (found {fields})")
            rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MetadataError(f"{path}: cannot read CSV: {exc}") from exc
    root = path.resolve().parent
    out = []
    for i, row in enumerate(rows, start=2):
        if not row.get("file"):
            raise MetadataError(f"{path}: line {i}: empty \"file\" cell")
        labels = {k: v for k, v in row.items()
                  if v and k not in ("file", "split", "source", "fps", "character")}
        where = f"{path}: line {i}"
        out.append((path_key(root / row["file"]),
                    ClipMetadata(labels=labels, split=row.get("split") or None,
                                 source=row.get("source") or None, root=str(root),
                                 fps=_check_fps(row.get("fps"), where),
                                 character=_character(row.get("character"), root, where))))
    return out


class MetadataIndex:
    """Metadata of many files, from any number of sidecars (later sidecars win on conflicts)."""

    def __init__(self) -> None:
        self._by_path: dict[str, ClipMetadata] = {}
        self._by_hash: dict[str, ClipMetadata] = {}

    def __len__(self) -> int:
        return len(self._by_path)

    def add(self, entries: Iterable[tuple[str, ClipMetadata]]) -> None:
        for key, meta in entries:
            if key in self._by_path:
                log.warning("metadata for %s given twice; the later entry wins", key)
            self._by_path[key] = meta
            if meta.sha256:
                self._by_hash[meta.sha256] = meta

    def lookup(self, path: str | os.PathLike[str], content_hash: str | None = None) -> ClipMetadata | None:
        """Metadata of `path` (matched by resolved path, else by content hash), or None."""
        meta = self._by_path.get(path_key(path))
        if meta is None and content_hash:
            meta = self._by_hash.get(content_hash.lower())
        return meta

    def paths(self) -> Mapping[str, ClipMetadata]:
        return self._by_path


def load_metadata(paths: Iterable[str | os.PathLike[str]]) -> MetadataIndex:
    """Read sidecars (``.json`` manifests or ``.csv`` tables) into one index."""
    index = MetadataIndex()
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise MetadataError(f"{path}: metadata file not found")
        suffix = path.suffix.lower()
        if suffix == ".json":
            index.add(load_manifest(path))
        elif suffix == ".csv":
            index.add(load_csv(path))
        else:
            raise MetadataError(f"{path}: unknown metadata format (expected a .json manifest or a .csv)")
    return index

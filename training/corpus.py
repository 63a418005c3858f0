"""Which corpus files training and evaluation read, and ingesting them into a work library.

Both read the corpus through the product's own ingest (so models see exactly what a user's library
holds); they differ only in the splits they take: training never reads a file whose split is
`test` (a file split by frame ranges, like the one tango, is read and its `test` windows are kept
out by their window split), evaluation reads the files with any part in the evaluated split.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from db.config import LibraryLocation
from db.library import Library

Entry = dict[str, Any]


def manifest_entries(corpus: Path) -> list[Entry]:
    """The `sequences` of the corpus manifest (FileNotFoundError if there is none)."""
    manifest = corpus / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"{corpus}: no manifest.json: is this the dancesearch corpus folder?")
    return list(json.loads(manifest.read_text())["sequences"])


def has_split(entry: Entry, split: str) -> bool:
    """Whether any part of the file is in `split` (a split name, or frame ranges keyed by split)."""
    value = entry["split"]
    return value == split or (isinstance(value, dict) and split in value)


def select_files(corpus: Path, keep: Callable[[Entry], bool], sources: Sequence[str] | None = None,
                 max_per_source: int | None = None) -> list[str]:
    """Paths of the manifest's files that `keep` accepts, from `sources` only, at most N per source."""
    per_source: dict[str, int] = {}
    paths = []
    for e in manifest_entries(corpus):
        if not keep(e) or (sources is not None and e["source"] not in sources):
            continue
        per_source[e["source"]] = n = per_source.get(e["source"], 0) + 1
        if max_per_source is None or n <= max_per_source:
            paths.append(str(corpus / e["file"]))
    return paths


def ingest_files(corpus: Path, paths: Sequence[str], library_dir: Path, workers: int) -> tuple[Library, int]:
    """Ingest `paths` with the corpus manifest as metadata into the library at `library_dir`
    (idempotent: files already there are skipped); returns the library and the failure count."""
    from indexer.ingest import Ingester, IngestOptions
    from indexer.metadata import load_metadata

    lib = Library.open(LibraryLocation.resolve(library_dir))
    options = IngestOptions(workers=workers, metadata=load_metadata([corpus / "manifest.json"]))
    summary = Ingester(lib, options).run(list(paths))
    return lib, summary.failed

"""Training and evaluation read a split in the same order however the library was ingested.

A parallel ingest numbers clips in the order its workers finish, so two ingests of one corpus give the
same clips different ids. `training.data.load_split` orders windows by (source, clip path, start), so the
batches, caption draws and evaluation samples of a seed do not depend on that numbering.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from db.config import LibraryLocation
from db.library import Library
from tests.fixtures import write_valid
from training.data import load_split


def _ingest_one_by_one(files: list[Path], meta: Path, data_dir: Path, cli: Any) -> None:
    for f in files:
        result = cli("ingest", f, "--metadata", meta, "--json", "--data-dir", data_dir, "--workers", "0")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["added"] == 1


def test_split_order_does_not_depend_on_clip_ids(tmp_path: Path, cli: Any) -> None:
    folder = tmp_path / "arch"
    files = write_valid(folder, 4, n_frames=200)
    meta = tmp_path / "meta.csv"
    meta.write_text("file,description,split\n" + "".join(f"arch/{f.name},step {i},train\n" for i, f in enumerate(files)))
    _ingest_one_by_one(files, meta, tmp_path / "forward", cli)
    _ingest_one_by_one(files[::-1], meta, tmp_path / "reverse", cli)
    seen, numbering = [], []
    for name in ("forward", "reverse"):
        with Library.open(LibraryLocation.resolve(tmp_path / name)) as lib:
            split = load_split(lib, "train", 50)
            paths = {c.id: c.path for c in lib.list_clips()}
        numbering.append(paths)
        seen.append(([paths[int(c)] for c in split.clip_ids], split.starts.tolist(),
                     [lab["description"] for lab in split.labels]))
    (paths_f, starts_f, labels_f), (paths_r, starts_r, labels_r) = seen
    assert numbering[0] != numbering[1]  # the two libraries number the clips differently ...
    assert len(set(paths_f)) == 4 and len(paths_f) > 4  # several windows per clip, every clip present
    assert (paths_f, starts_f, labels_f) == (paths_r, starts_r, labels_r)  # ... and the split reads alike
    assert paths_f == sorted(paths_f)
    for clip_path in set(paths_f):  # windows of a clip in time order
        starts = [s for p, s in zip(paths_f, starts_f, strict=True) if p == clip_path]
        assert starts == sorted(starts)

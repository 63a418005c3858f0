"""Bulk ingest end to end through the CLI: corpus slices with the manifest, CSV sidecars,
idempotency, renames, copies, the --json contract, ignored files, clips/info listings."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from db.config import LibraryLocation
from db.library import Library
from indexer.ingest_worker import content_hash
from tests.fixtures import write_ignored, write_valid

SLICE = ["bandai/dataset-1/dataset-1_bow_active_001.bvh.gz", "bandai/dataset-1/dataset-1_walk_happy_001.bvh.gz",
         "cmu/005_02.bvh.gz", "ballroom/DANCE_T_5/skeletons.json.gz"]


def _manifest(corpus: Path) -> dict[str, dict[str, Any]]:
    return {s["file"]: s for s in json.loads((corpus / "manifest.json").read_text())["sequences"]}


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _open(data_dir: Path) -> Library:
    return Library.open(LibraryLocation.resolve(data_dir))


def test_corpus_slice_with_manifest_keeps_every_label(corpus: Path, data_dir: Path, cli: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = _manifest(corpus)
    files = [f for f in SLICE if f in manifest]
    assert len(files) == len(SLICE), "corpus slice files missing from the manifest"
    # Paths given relative to the working directory, the manifest by another relative spelling.
    monkeypatch.chdir(corpus.parent)
    rel = [Path(corpus.name) / f for f in files]
    doc = _json(cli("ingest", *rel, "--metadata", f"./{corpus.name}/../{corpus.name}/manifest.json",
                    "--json", "--data-dir", data_dir, "--workers", "2"))
    assert set(doc) == {"added", "skipped", "failed", "ignored", "frames", "seconds"}
    assert (doc["added"], doc["skipped"], doc["failed"], doc["ignored"]) == (len(files), 0, 0, 0)
    with _open(data_dir) as lib:
        clips = {Path(c.path).relative_to(corpus.resolve()).as_posix(): c for c in lib.list_clips()}
        assert set(clips) == set(files)
        assert doc["frames"] == sum(c.frames for c in clips.values()) > 0
        for f, clip in clips.items():
            entry = manifest[f]
            assert clip.content_hash == entry["sha256"]
            assert clip.labels == entry["labels"]
            assert clip.split == entry["split"]
            assert clip.source == entry["source"]
            assert clip.description == entry["labels"].get("description")
            assert lib.load_motion(clip.id).positions.shape == (clip.frames, 19, 3)
            assert lib.store.has(clip.motion_key)
        tango = clips["ballroom/DANCE_T_5/skeletons.json.gz"]
        wins = list(lib.iter_windows(source="ballroom"))
        boundary = tango.split["train"][1]  # 25 fps source: original frames are canonical frames
        assert {w.split for w in wins} == {"train", "test", "none"}
        for w in wins:
            expected = "train" if w.end <= boundary else "test" if w.start >= boundary else "none"
            assert w.split == expected, (w.start, w.end)
        for f in files[:3]:
            assert {w.split for w in lib.iter_windows() if w.clip_id == clips[f].id} == {manifest[f]["split"]}
    again = _json(cli("ingest", *rel, "--metadata", corpus / "manifest.json", "--json", "--data-dir", data_dir))
    assert (again["added"], again["skipped"], again["failed"]) == (0, len(files), 0)


def test_generated_folder_csv_metadata_source_and_ignored(tmp_path: Path, data_dir: Path, cli: Any) -> None:
    archive = tmp_path / "my_archive"
    files = write_valid(archive / "takes", 3) + write_valid(archive / "more", 2, gz=True, start=3)
    ignored = write_ignored(archive)
    (archive / "labels.csv").write_text(
        "file,description,style,split\n"
        "takes/clip_000.bvh,\"a slow bow, then a turn\",happy,train\n"
        "more/clip_004.bvh.gz,,sad,test\n")
    doc = _json(cli("ingest", archive, "--metadata", archive / "labels.csv", "--json",
                    "--data-dir", data_dir, "--workers", "0"))
    # labels.csv itself is one more ignored file next to the generated ones.
    assert (doc["added"], doc["failed"], doc["ignored"]) == (len(files), 0, len(ignored) + 1)
    with _open(data_dir) as lib:
        clips = {Path(c.path).name: c for c in lib.list_clips()}
        assert {c.source for c in clips.values()} == {"my_archive"}
        first, last = clips["clip_000.bvh"], clips["clip_004.bvh.gz"]
        assert first.description == "a slow bow, then a turn"
        assert first.labels == {"description": "a slow bow, then a turn", "style": "happy"}
        assert (first.split, last.split, last.labels, last.description) == ("train", "test", {"style": "sad"}, None)
        assert clips["clip_001.bvh"].labels == {} and clips["clip_001.bvh"].split is None
        assert last.content_hash == content_hash(files[-1])
        # Every clip has windows covering it.
        for c in clips.values():
            wins = [w for w in lib.iter_windows() if w.clip_id == c.id]
            assert wins and wins[0].start == 0 and wins[-1].end == c.frames


def test_idempotent_rename_copy_and_touch(tmp_path: Path, data_dir: Path, cli: Any) -> None:
    folder = tmp_path / "arch"
    files = write_valid(folder, 4)
    first = _json(cli("ingest", folder, "--json", "--data-dir", data_dir, "--workers", "0"))
    assert (first["added"], first["skipped"]) == (4, 0)
    second = _json(cli("ingest", folder, "--json", "--data-dir", data_dir, "--workers", "0"))
    assert (second["added"], second["skipped"], second["failed"], second["frames"]) == (0, 4, 0, 0)
    renamed = folder / "renamed.bvh"
    files[0].rename(renamed)
    shutil.copy(files[1], folder / "copy_of_1.bvh")
    os.utime(files[2], ns=(1, 1))  # changed mtime: re-read and re-hashed, still the same content
    third = _json(cli("ingest", folder, "--json", "--data-dir", data_dir, "--workers", "2"))
    assert (third["added"], third["skipped"], third["failed"]) == (0, 5, 0)
    with _open(data_dir) as lib:
        paths = {Path(c.path).name for c in lib.list_clips()}
        assert lib.stats().clips == 4
    assert "renamed.bvh" in paths and files[0].name not in paths  # the clip follows its file
    assert "copy_of_1.bvh" not in paths


def test_metadata_given_later_updates_labels(tmp_path: Path, data_dir: Path, cli: Any) -> None:
    folder = tmp_path / "arch"
    write_valid(folder, 2)
    _json(cli("ingest", folder, "--json", "--data-dir", data_dir, "--workers", "0"))
    (tmp_path / "meta.csv").write_text("file,description,split\narch/clip_001.bvh,two steps,val\n")
    doc = _json(cli("ingest", folder, "--metadata", tmp_path / "meta.csv", "--json", "--data-dir", data_dir))
    assert (doc["added"], doc["skipped"]) == (0, 2)
    with _open(data_dir) as lib:
        clip = next(c for c in lib.list_clips() if c.path.endswith("clip_001.bvh"))
        assert (clip.description, clip.split) == ("two steps", "val")
        assert {w.split for w in lib.iter_windows() if w.clip_id == clip.id} == {"val"}


def test_text_output_clips_and_info(tmp_path: Path, data_dir: Path, cli: Any) -> None:
    folder = tmp_path / "arch"
    write_valid(folder, 3)
    result = cli("ingest", folder, "--data-dir", data_dir, "--workers", "0")
    assert result.exit_code == 0 and "added 3 clips" in result.stdout and "failed 0" in result.stdout
    rows = _json(cli("clips", "--json", "--data-dir", data_dir, "--source", "arch", "--limit", "2"))
    assert len(rows) == 2 and {r["source"] for r in rows} == {"arch"}
    assert _json(cli("clips", "--json", "--data-dir", data_dir, "--source", "nope")) == []
    text = cli("clips", "--data-dir", data_dir)
    assert text.exit_code == 0 and text.stdout.count("clip_00") == 3
    stats = _json(cli("info", "--json", "--data-dir", data_dir))
    assert stats["clips"] == 3 and stats["sources"] == {"arch": 3} and stats["windows"] >= 3
    assert "clips 3" in cli("info", "--data-dir", data_dir).stdout


def test_bad_invocations_are_clear_errors(tmp_path: Path, data_dir: Path, cli: Any) -> None:
    missing = cli("ingest", tmp_path / "nowhere", "--data-dir", data_dir)
    assert missing.exit_code == 2 and "nowhere: no such file or folder" in missing.stderr
    bad = tmp_path / "manifest.json"
    bad.write_text("{not json")
    res = cli("ingest", tmp_path, "--metadata", bad, "--data-dir", data_dir)
    assert res.exit_code == 2 and str(bad) in res.stderr and "Traceback" not in res.output
    nocol = tmp_path / "labels.csv"
    nocol.write_text("name,description\na.bvh,x\n")
    res = cli("ingest", tmp_path, "--metadata", nocol, "--data-dir", data_dir)
    assert res.exit_code == 2 and "needs a \"file\" column" in res.stderr
    res = cli("ingest", tmp_path, "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none", "--data-dir", data_dir)
    assert res.exit_code == 1 and "cannot open the library" in res.stderr


def test_manifest_matches_a_renamed_file_by_hash(tmp_path: Path, data_dir: Path, cli: Any) -> None:
    folder = tmp_path / "arch"
    path = write_valid(folder, 1)[0]
    manifest = {"version": 1, "sequences": [
        {"id": "x", "source": "studio", "file": "old_name.bvh", "format": "bvh", "fps": None,
         "labels": {"style": "proud"}, "split": "val", "sha256": content_hash(path)}]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    doc = _json(cli("ingest", folder, "--metadata", folder / "manifest.json", "--json",
                    "--data-dir", data_dir, "--workers", "0"))
    assert (doc["added"], doc["ignored"]) == (1, 1)
    with _open(data_dir) as lib:
        (clip,) = lib.list_clips()
    assert (clip.source, clip.labels, clip.split) == ("studio", {"style": "proud"}, "val")


def test_zip_and_tar_archives_are_unpacked_once_and_ingested(tmp_path: Path, data_dir: Path, cli: Any) -> None:
    """A download as it comes: zips and tarballs (one nested in another) beside loose files, or one zip alone."""
    import io
    import zipfile

    from tests.fixtures import make_bvh, tar_gz_of, zip_of

    folder = tmp_path / "downloads"
    write_valid(folder, 1)
    (folder / "studio_takes.zip").write_bytes(zip_of("walks/take_a.bvh", make_bvh(40, shift=11.0)))
    (folder / "more.tar.gz").write_bytes(tar_gz_of("take_b.bvh", make_bvh(40, shift=12.0)))
    inner = zip_of("deep/take_c.bvh", make_bvh(40, shift=13.0))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("inner.zip", inner)
        z.writestr("README.txt", "takes from the studio\n")
    (folder / "nested.zip").write_bytes(outer.getvalue())
    first = _json(cli("ingest", folder, "--json", "--data-dir", data_dir, "--workers", "0"))
    assert (first["added"], first["failed"], first["ignored"]) == (4, 0, 1)  # the README inside is ignored
    unpacked = data_dir / "archives"
    with _open(data_dir) as lib:
        clips = {Path(c.path).name: c for c in lib.list_clips()}
        assert set(clips) == {"clip_000.bvh", "take_a.bvh", "take_b.bvh", "take_c.bvh"}
        for name, source in (("take_a.bvh", "studio_takes"), ("take_b.bvh", "more"), ("take_c.bvh", "inner")):
            assert Path(clips[name].path).is_relative_to(unpacked) and Path(clips[name].path).is_file()
            assert clips[name].source == source
            assert lib.load_motion(clips[name].id).positions.shape[0] > 0
    marks = sorted(unpacked.glob("*/.unpacked"))
    assert len(marks) == 4  # studio_takes, more, nested, inner
    stamps = [m.stat().st_mtime_ns for m in marks]
    again = _json(cli("ingest", folder, "--json", "--data-dir", data_dir, "--workers", "0"))
    assert (again["added"], again["skipped"], again["failed"]) == (0, 4, 0)
    assert [m.stat().st_mtime_ns for m in sorted(unpacked.glob("*/.unpacked"))] == stamps  # not unpacked again
    alone = tmp_path / "single.zip"
    alone.write_bytes(zip_of("take_d.bvh", make_bvh(40, shift=14.0)))
    one = _json(cli("ingest", alone, "--json", "--data-dir", data_dir, "--workers", "0"))
    assert (one["added"], one["failed"]) == (1, 0)

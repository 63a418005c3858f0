"""Generators of small motion files for tests: valid BVH clips, every class of broken input, and
files that are not motion at all.

Valid clips are cut from one real corpus BVH (Bandai Namco, a rig the readers know), shortened to
a few frames and shifted by a per-file offset so every file has distinct content. Broken files are
made from the same text, each with exactly one defect, so a failure can only come from that defect.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
TEMPLATE = CORPUS / "bandai" / "dataset-1" / "dataset-1_bow_active_001.bvh.gz"


@cache
def _template() -> tuple[str, list[str]]:
    """(HIERARCHY part up to and including MOTION, frame lines) of the template BVH."""
    text = gzip.decompress(TEMPLATE.read_bytes()).decode()
    head, _, motion = text.partition("MOTION")
    lines = [ln for ln in motion.strip().splitlines()[2:] if ln.strip()]
    return head + "MOTION\n", lines


def make_bvh(n_frames: int = 40, shift: float = 0.0, frame_time: str = "0.0333333",
             frames_header: int | None = None) -> str:
    """BVH text with `n_frames` frames (the template's frames, cycled), root moved by `shift` cm."""
    head, lines = _template()
    rows = []
    for i in range(n_frames):
        vals = lines[i % len(lines)].split()
        vals[0] = f"{float(vals[0]) + shift:.4f}"
        rows.append(" ".join(vals))
    count = n_frames if frames_header is None else frames_header
    return head + f"Frames:\t{count}\nFrame Time:\t{frame_time}\n" + "\n".join(rows) + "\n"


def write_valid(folder: Path, n: int, n_frames: int = 40, gz: bool = False, start: int = 0,
                prefix: str = "clip") -> list[Path]:
    """`n` valid, mutually distinct BVH files in `folder` (optionally gzip-compressed)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + n):
        text = make_bvh(n_frames, shift=1.0 + i)
        path = folder / f"{prefix}_{i:03d}.bvh{'.gz' if gz else ''}"
        data = text.encode()
        path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        out.append(path)
    return out


def _replace_value(text: str, row: int, col: int, value: str) -> str:
    head, _, body = text.partition("Frame Time:")
    lines = body.splitlines()
    vals = lines[1 + row].split()
    vals[col] = value
    lines[1 + row] = " ".join(vals)
    return head + "Frame Time:" + "\n".join(lines) + "\n"


def _drop_value(text: str, row: int) -> str:
    head, _, body = text.partition("Frame Time:")
    lines = body.splitlines()
    lines[1 + row] = " ".join(lines[1 + row].split()[:-1])
    return head + "Frame Time:" + "\n".join(lines) + "\n"


def _snake_bvh(n_frames: int) -> str:
    """A rig that is no human body (one chain of six joints: a tail, a rope): neither its names nor the
    shape of its hierarchy give two arms and two legs, so it cannot be recognised."""
    lines = ["HIERARCHY", "ROOT Base", "{", "  OFFSET 0 0 0", "  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"]
    for i in range(1, 6):
        lines += ["  " * i + f"JOINT Segment{i}", "  " * i + "{", "  " * i + "  OFFSET 0 20 0",
                  "  " * i + "  CHANNELS 3 Zrotation Xrotation Yrotation"]
    lines += ["  " * 6 + "End Site", "  " * 6 + "{", "  " * 6 + "  OFFSET 0 10 0", "  " * 6 + "}"]
    lines += ["  " * i + "}" for i in range(5, -1, -1)]
    lines += ["MOTION", f"Frames: {n_frames}", "Frame Time: 0.0333333"]
    lines += [" ".join(["0", "90", "0", f"{10 * (f % 7)}", "0", "0"] + ["5 0 0"] * 5) for f in range(n_frames)]
    return "\n".join(lines) + "\n"


def _zip_of(name: str, text: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, text)
    return out.getvalue()


def _tar_gz_of(name: str, text: str) -> bytes:
    out, data = io.BytesIO(), text.encode()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


# name -> (file name, maker of the file's bytes). Each has exactly one defect.
BROKEN: dict[str, tuple[str, Callable[[], bytes]]] = {
    "truncated": ("truncated.bvh", lambda: make_bvh(30).encode()[: len(make_bvh(30)) - 900]),
    "truncated_header": ("truncated_header.bvh", lambda: make_bvh(30).encode()[:1500]),
    "wrong_channels": ("wrong_channels.bvh", lambda: _drop_value(make_bvh(30), 5).encode()),
    "non_numeric": ("non_numeric.bvh", lambda: _replace_value(make_bvh(30), 3, 7, "abc").encode()),
    "nan": ("nan.bvh", lambda: _replace_value(make_bvh(30), 2, 4, "nan").encode()),
    "inf": ("inf.bvh", lambda: _replace_value(make_bvh(30), 2, 4, "inf").encode()),
    "zero_frames": ("zero_frames.bvh", lambda: make_bvh(0).encode()),
    "absurd_fps": ("absurd_fps.bvh", lambda: make_bvh(30, frame_time="0.0000001").encode()),
    "zero_fps": ("zero_fps.bvh", lambda: make_bvh(30, frame_time="0").encode()),
    "unknown_rig": ("unknown_rig.bvh", lambda: _snake_bvh(30).encode()),
    "binary_junk": ("junk.bvh", lambda: os.urandom(4096)),
    "gz_junk": ("junk.bvh.gz", lambda: gzip.compress(os.urandom(2048))[:-40]),
    "not_gzip": ("fake.bvh.gz", lambda: make_bvh(30).encode()),
    "empty": ("empty.bvh", lambda: b""),
    "bad_json": ("skeletons.json", lambda: b'{"skeletons": [[[1, 2, 3]], '),
    "corrupt_zip": ("takes.zip", lambda: _zip_of("take.bvh", make_bvh(30))[:-60]),  # cut short
    "zip_slip": ("slip.zip", lambda: _zip_of("../escaped.bvh", make_bvh(30))),  # would write outside
    "corrupt_tar": ("takes.tar.gz", lambda: _tar_gz_of("take.bvh", make_bvh(30))[:200]),
    "seven_zip": ("takes.7z", lambda: b"7z\xbc\xaf\x27\x1c" + os.urandom(64)),  # no 7z reader
}


def zip_of(name: str, text: str) -> bytes:
    """A zip archive holding one text file (good takes, packed the way downloads come)."""
    return _zip_of(name, text)


def tar_gz_of(name: str, text: str) -> bytes:
    """A gzip-compressed tar archive holding one text file."""
    return _tar_gz_of(name, text)


def write_broken(folder: Path, names: list[str] | None = None) -> dict[str, Path]:
    """One broken file per defect in `names` (default all of :data:`BROKEN`), in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names or list(BROKEN):
        filename, make = BROKEN[name]
        sub = folder / name if filename == "skeletons.json" else folder
        sub.mkdir(exist_ok=True)
        path = sub / filename
        path.write_bytes(make())
        out[name] = path
    return out


def write_ignored(folder: Path) -> list[Path]:
    """Files an archive typically holds next to motion: docs, licences, sidecars, other data."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "README.md": b"# my archive\n",
        "LICENSE": b"CC BY-NC 4.0\n",
        "manifest.json": b'{"version": 1, "sequences": []}',
        "config.json": b'{"fps": 25}',
        "other.json": b'{"hello": "world"}',
        "notes.csv": b"a,b\n1,2\n",
        "cfg/labels.txt": b"walk\nrun\n",
    }
    out = []
    for name, data in files.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        out.append(p)
    return out

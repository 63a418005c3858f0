"""Zip and tar archives handed to ingest: unpacked into the data directory, then ingested as a folder.

A studio's download, a CMU release or a colleague's export is often one ``.zip`` or ``.tar.gz``. Ingest
unpacks each such archive it meets (given on the command line or inside a folder) into
``DATA_DIR/archives/<first 12 hex of its sha256>/<archive name without suffix>/`` and ingests that folder,
so the clips' paths point at files that stay on disk (re-ingest skips them as unchanged; the folder's name
names the source as a folder given on the command line would). The same archive is unpacked once.

Unpacking refuses what could harm the machine, naming the archive: members that would land outside the
target folder (absolute paths, ``..``, links), and archives whose content would exceed
:data:`MAX_UNPACKED_BYTES` (a zip bomb). 7z and RAR are not read (no library in the dependency set); they
are reported with how to unpack them.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import uuid
import zipfile
from pathlib import Path, PurePosixPath

ARCHIVES_DIR = "archives"
MAX_UNPACKED_BYTES = 20 << 30
"""At most 20 GiB of unpacked content per archive."""
ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_DONE = ".unpacked"


class ArchiveError(Exception):
    """An archive that cannot be unpacked safely; the message says why."""


def unpackable(path: Path) -> bool:
    """True for the archive kinds ingest unpacks itself (zip and tar, compressed or not)."""
    name = path.name.lower()
    return name.endswith(ZIP_SUFFIXES + TAR_SUFFIXES)


def _stem(name: str) -> str:
    lower = name.lower()
    for suffix in sorted(ZIP_SUFFIXES + TAR_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return name[: -len(suffix)] or "archive"
    return name


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _safe_member(name: str) -> PurePosixPath:
    member = PurePosixPath(name.replace("\\", "/"))
    if member.is_absolute() or ".." in member.parts or (member.parts and member.parts[0].endswith(":")):
        raise ArchiveError(f"member {name!r} would be written outside the archive's folder; refused")
    return member


def _unzip(path: Path, into: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        total = sum(i.file_size for i in infos)
        if total > MAX_UNPACKED_BYTES:
            raise ArchiveError(f"would unpack to {total / 1e9:.1f} GB, more than the limit of "
                               f"{MAX_UNPACKED_BYTES / 1e9:.0f} GB")
        for info in infos:
            member = _safe_member(info.filename)
            if info.is_dir() or not member.parts:
                continue
            target = into.joinpath(*member.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def _untar(path: Path, into: Path) -> None:
    with tarfile.open(path) as archive:
        members = archive.getmembers()
        total = sum(m.size for m in members if m.isfile())
        if total > MAX_UNPACKED_BYTES:
            raise ArchiveError(f"would unpack to {total / 1e9:.1f} GB, more than the limit of "
                               f"{MAX_UNPACKED_BYTES / 1e9:.0f} GB")
        for m in members:
            _safe_member(m.name)
            if m.issym() or m.islnk():
                raise ArchiveError(f"member {m.name!r} is a link; refused")
        archive.extractall(into, members=[m for m in members if m.isfile() or m.isdir()], filter="data")


def unpack(path: Path, archives_dir: Path) -> Path:
    """The folder holding ``path``'s unpacked content (unpacking it now unless an earlier run did)."""
    try:
        folder = archives_dir / _digest(path)[:12] / _stem(path.name)
        if (folder.parent / _DONE).is_file():
            return folder
        staging = archives_dir / f".unpacking-{uuid.uuid4().hex}"
        content = staging / _stem(path.name)
        content.mkdir(parents=True)
        try:
            (_unzip if path.name.lower().endswith(ZIP_SUFFIXES) else _untar)(path, content)
            if folder.parent.exists():
                shutil.rmtree(folder.parent)  # an unpacking that was interrupted before it finished
            staging.rename(folder.parent)
            (folder.parent / _DONE).touch()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise ArchiveError(f"cannot unpack the archive ({exc})") from None
    return folder

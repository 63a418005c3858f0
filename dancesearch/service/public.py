"""What the service may show of the server: no absolute paths, no data directory (issue 11).

The engine works with absolute paths (the CLI prints them, tests rely on them); every HTTP response goes
through this module instead:

* a clip's ``source_path`` becomes the path relative to the folder it was ingested from (its source's
  root, recorded at ingest), e.g. ``waltz/take_1.bvh`` for ``/home/ana/mocap/waltz/take_1.bvh``
  ingested as ``dancesearch ingest /home/ana/mocap``; a path outside its root (or without one) is
  reduced to its file name;
* free text (error messages, engine reports) has the server's private folders (data directory, model
  directory) cut off: ``/srv/lib/uploads/x/a.bvh`` -> ``uploads/x/a.bvh``;
* ``/api/status`` leaves out the data directory, the database URL and the index files' locations.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

# Keys of engine reports that only locate server files; they are dropped from responses.
PRIVATE_KEYS = frozenset({"data_dir", "db_url", "path", "source_root"})


def _pure(path: str) -> PurePosixPath | PureWindowsPath:
    return PureWindowsPath(path) if "\\" in path and "/" not in path else PurePosixPath(path)


def relative_source(path: str | None, root: str | None) -> str | None:
    """``path`` relative to ``root`` with ``/`` separators; the file name alone when it is not under
    ``root`` (or there is no root); None stays None. Never absolute."""
    if path is None:
        return None
    pure = _pure(path)
    if root:
        base = _pure(root)
        if type(base) is type(pure) and len(pure.parts) > len(base.parts) \
                and pure.parts[:len(base.parts)] == base.parts:
            return "/".join(pure.parts[len(base.parts):])
    if pure.is_absolute() or ".." in pure.parts:
        return pure.name
    return "/".join(pure.parts)


class Redactor:
    """Cuts the given private folders off any text: ``FOLDER/rest`` -> ``rest``, ``FOLDER`` -> ``<server>``."""

    def __init__(self, folders: Iterable[Path | str | None]) -> None:
        prefixes: set[str] = set()
        for folder in folders:
            if folder is None or str(folder) in ("", "/", "."):
                continue
            p = Path(folder).expanduser()
            for form in (str(p), os.path.abspath(p), str(p.resolve())):
                if form not in ("", "/"):
                    prefixes.add(form.rstrip("/"))
        self.prefixes = sorted(prefixes, key=len, reverse=True)

    def text(self, text: str) -> str:
        for prefix in self.prefixes:
            if prefix in text:
                text = text.replace(prefix + "/", "").replace(prefix, "<server>")
        return text

    def scrub(self, value: Any) -> Any:
        """A JSON-like value with every string redacted and the :data:`PRIVATE_KEYS` dropped."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items() if k not in PRIVATE_KEYS}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value


def public_clip(info: dict[str, Any]) -> dict[str, Any]:
    """An engine ``clip_info`` dict with ``source_path`` relative to its source root (root not shown)."""
    out = {k: v for k, v in info.items() if k != "source_root"}
    out["source_path"] = relative_source(info.get("source_path"), info.get("source_root"))
    return out

"""Quality section: the retrieval figures of the latest ``dancesearch eval`` of the benchmarked model.

Copied, not recomputed (evaluation has its own command and report): the report is ``--eval-report``
when given, else the newest of ``MODEL/eval/report.json``, ``MODEL/report/eval/report.json`` and
``runs/eval/report.json`` (the eval command's default output). A report of another model version
is not used; the section says which file was found and why it was not used, or that none exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMNS = {
    "text_to_motion": ("R@1", "R@5", "R@10", "MedR"),
    "text_to_motion_user": ("R@1", "R@5", "R@10", "MedR"),
    "compositional": ("R@1", "R@5", "R@10", "MedR"),
    "motion_to_text": ("top1", "top5"),
    "motion_to_motion": ("P@10", "perfume_R@1", "perfume_R@5"),
}


def candidates(model: Path, explicit: Path | None) -> list[Path]:
    if explicit is not None:
        return [explicit]
    found = [p for p in (model / "eval" / "report.json", model / "report" / "eval" / "report.json",
                         Path("runs") / "eval" / "report.json") if p.is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def run_quality(model_dir: Path, model_version: str, explicit: Path | None) -> dict[str, Any]:
    """The eval tables of the model, or a ``status`` saying why there are none."""
    notes = []
    for path in candidates(model_dir, explicit):
        try:
            report = json.loads(path.read_text())
            version = report["model"]["version"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            notes.append(f"{path}: unreadable eval report ({exc})")
            continue
        if version != model_version.split(":")[0]:
            notes.append(f"{path}: evaluates model version {version}, not the benchmarked {model_version}")
            continue
        tables = {section: {name: {c: row[section].get(c) for c in cols}
                            for name, row in report["rows"].items() if row.get(section)}
                  for section, cols in COLUMNS.items()}
        return {"status": "copied", "source": str(path), "split": report.get("split"),
                "windows": report.get("windows"), "queries": report.get("queries"), "tables": tables,
                "notes": notes}
    if not notes:
        notes.append(f"no eval report found for {model_dir} (run `dancesearch eval --model {model_dir}`)")
    return {"status": "missing", "notes": notes, "tables": {}}

"""``dancesearch rig FILE...``: explain how each file's rig is read, or print a rig file to edit.

For every file: the rig used (a rig file, or "recognised" with the closest naming convention and
whether names alone decided), which source joint became which canonical joint, the joints filled by
interpolation, the detected units, up axis and root handling, the resulting body size, the plausibility
measures and a confidence. ``--toml`` prints a rig file reproducing the decision, for the user to edit
and drop into ``DATA_DIR/rigs/`` or pass with ``--rigs`` (it then wins over recognition everywhere a
file is read). Exit status 1 if any file could not be mapped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from dancesearch.options import DataDirOpt, JsonOpt


def _toml_value(source: Any) -> str:
    if len(source.names) == 1:
        return json.dumps(source.names[0])
    rounded = [round(w, 6) for w in source.weights[:-1]]
    rounded.append(round(1.0 - sum(rounded), 6))  # rig files demand weights summing to 1
    weights = ", ".join(f"{json.dumps(n)} = {w}" for n, w in zip(source.names, rounded, strict=True))
    return f"{{ weights = {{ {weights} }} }}"


def rig_toml(decision: Any, name: str) -> str:
    """A rig file (motion.rigmap format) reproducing ``decision`` (a :class:`motion.canonical.Decision`)."""
    rig = decision.rig
    up = rig.up if rig.up in ("y", "z") else "y"
    lines = [f"# Rig file written by `dancesearch rig --toml` from {name}; edit and put it in DATA_DIR/rigs/.",
             f"name = {json.dumps('user-' + Path(name).name.split('.')[0].lower())}",
             f"description = {json.dumps(rig.description or rig.name)}",
             f"units = {rig.scale:.6g}",
             f'up = "{up}"',
             f"drop_first_frame = {'true' if rig.drop_first_frame else 'false'}"]
    if up != rig.up:
        lines.insert(1, f"# detected up axis {rig.up!r}: rig files support y or z only; turn the source first")
    lines += ["", "[joints]"]
    lines += [f"{joint} = {_toml_value(source)}" for joint, source in rig.joints.items()]
    return "\n".join(lines) + "\n"


def rig(
    files: Annotated[list[Path], typer.Argument(help="Motion files to explain.")],
    toml: Annotated[bool, typer.Option("--toml", help="Print a rig file (TOML) reproducing the decision.")] = False,
    rigs: Annotated[list[Path] | None, typer.Option("--rigs", help="Extra folder of rig files (*.toml).")] = None,
    json_out: JsonOpt = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Explain how each FILE's skeleton is recognised and mapped onto the canonical skeleton."""
    from db.config import user_rig_dirs
    from motion.canonical import decide, to_canonical
    from motion.data import MotionError
    from motion.formats import load_motion
    from motion.rigmap import load_rigs

    rig_list = load_rigs(user_rig_dirs(data_dir, tuple(rigs or ())))
    failed = 0
    docs = []
    for path in files:
        try:
            motion = load_motion(path)
            decision = decide(motion, rig_list)
            canon = to_canonical(motion, rig_list, check=False)
        except MotionError as exc:
            failed += 1
            message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            docs.append({"file": str(path), "error": message})
            typer.echo(f"error: {message}", err=True)
            continue
        details = dict(canon.meta["detected"])  # type: ignore[call-overload]
        plaus = dict(canon.meta["plausibility"])  # type: ignore[call-overload]
        from motion.plausibility import measure
        failures = list(measure(canon.positions).failures)
        read_notes = list(motion.meta.get("read_notes") or [])  # type: ignore[call-overload]
        if read_notes:
            details["notes"] = read_notes + list(details.get("notes") or [])
        doc = {"file": str(path), "joints_in_file": motion.n_joints, "source_fps": motion.fps, **details,
               "plausibility": plaus, "plausible": not failures, "problems": failures}
        docs.append(doc)
        if toml:
            typer.echo(rig_toml(decision, path.name))
        elif not json_out:
            _print_text(doc)
    if json_out:
        typer.echo(json.dumps(docs if len(docs) != 1 else docs[0], default=str))
    if failed:
        raise typer.Exit(1)


def _print_text(doc: dict[str, Any]) -> None:
    typer.echo(f"{doc['file']}:")
    how = doc.get("recognised_by")
    rig_line = doc["rig"] + (f" (by {how}, confidence {doc['confidence']:.2f})" if how else
                             f" (rig file {doc.get('rig_file', '')})")
    typer.echo(f"  rig            {rig_line}")
    typer.echo(f"  joints         {doc['joints_in_file']} in the file, {doc['source_fps']:g} fps")
    for key in ("units", "up", "metres_per_unit", "root", "floor_shift_m", "floor_tilt_deg", "mirrored_labels",
                "body_scaled"):
        if key in doc:
            typer.echo(f"  {key:<14} {doc[key]}")
    for canonical, source in (doc.get("matched") or {}).items():
        typer.echo(f"    {canonical:<12} <- {source}")
    for canonical, how_filled in (doc.get("interpolated") or {}).items():
        typer.echo(f"    {canonical:<12} ~  {how_filled}")
    for note in doc.get("notes") or []:
        typer.echo(f"  note           {note}")
    p = doc["plausibility"]
    typer.echo(f"  body           {p['body_length_m']:.2f} m legs + spine + head "
               f"(about {p['body_length_m'] * 1.2:.2f} m tall); head above pelvis in {p['head_above_pelvis']:.0%} "
               f"of frames; facing {p['facing']:+.2f}; limb length variation {p['limb_cv']:.1%}")
    typer.echo("  plausible      " + ("yes" if doc["plausible"] else "NO: " + "; ".join(doc["problems"])))


def register(app: typer.Typer) -> None:
    """Attach ``rig`` to the top-level app."""
    app.command("rig")(rig)

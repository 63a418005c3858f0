"""Commands that use the shared space beyond search (issue 13): ``classify``, ``interpolate``,
``stylize``, ``concept learn|list|delete`` and ``eval-capabilities``.

The logic lives in :mod:`explore`; these are thin layers that read inputs (motion files, library clips
``clip:ID``, texts), call it, and write BVH/JSON. Errors end with one ``error: ...`` line and exit 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dancesearch.commands.search import CliInputError, ModelOpt, cli_errors, print_json
from dancesearch.options import DataDirOpt, DbOpt, JsonOpt

if TYPE_CHECKING:

    from explore.model import CapabilityModel

RigOpt = Annotated[str | None, typer.Option(
    "--rig", help="Write BVH on this rig: a convention name (mixamo, smpl, unreal, ...) or a BVH file of the "
                  "user's rig (mapped by its rig file or recognised); default: the canonical skeleton.")]


@contextmanager
def explore_errors() -> Iterator[None]:
    """Bad labels, styles and concept names become CLI input errors (``error: ...``, exit 2)."""
    from explore.classify import LabelError
    from explore.concepts import ConceptError
    from explore.stylize import StyleError

    try:
        yield
    except (LabelError, ConceptError, StyleError) as exc:
        raise CliInputError(str(exc)) from None


def _model(model: Path | None, data_dir: Path | None) -> CapabilityModel:
    from dancesearch.engine_factory import load_model

    return load_model(model, data_dir)  # type: ignore[return-value]


def _motion_arg(spec: str, model: Path | None, data_dir: Path | None, db: str | None) -> tuple[str, Any]:
    """A motion input: ``FILE[@START-END]`` or ``clip:ID[@START-END]`` -> (name, canonical positions)."""
    from explore.inputs import parse_source, read_source

    source = parse_source(spec)
    if source.kind == "text":
        raise CliInputError(f"{spec!r} is neither a motion file nor clip:ID")
    return source.name, read_source(source, data_dir, db)


def classify(
    file: Annotated[str, typer.Argument(help="Motion file, or clip:ID for a library clip (either with "
                                              "@START-END seconds).")],
    labels: Annotated[str, typer.Option("--labels", help="Class names separated by commas, e.g. \"waltz, rumba, cha-cha\".")],
    span: Annotated[float | None, typer.Option("--span", help="Seconds between reported spans (default: calibrated).")] = None,
    json_out: JsonOpt = False, model: ModelOpt = None, data_dir: DataDirOpt = None, db: DbOpt = None,
) -> None:
    """Zero-shot classification: the probability of each label for the motion and for each time span."""
    from explore.classify import classify as run
    from explore.inputs import parse_source, start_seconds

    with cli_errors(), explore_errors():
        _, positions = _motion_arg(file, model, data_dir, db)
        m = _model(model, data_dir)
        result = run(m, positions, labels, m.capabilities, span, start_seconds(parse_source(file).start))
    if json_out:
        print_json(result.to_json())
        return
    for label, p in sorted(result.probabilities.items(), key=lambda kv: -kv[1]):
        typer.echo(f"{p:6.3f}  {label}")
    typer.echo(f"spans ({len(result.spans)}):")
    for s in result.spans:
        typer.echo(f"  {s.start:6.2f}-{s.end:6.2f}s  {s.best:<20} {s.probabilities[s.best]:.3f}")


def interpolate(
    a: Annotated[str, typer.Argument(help="Start: a motion file, clip:ID (optionally @START-END), or a text.")],
    b: Annotated[str, typer.Argument(help="End: a motion file, clip:ID (optionally @START-END), or a text.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for step_NN.bvh/.json and index.json.")],
    steps: Annotated[int, typer.Option("--steps", help="Motions along the path, ends included.")] = 5,
    rig: RigOpt = None, json_out: JsonOpt = False, model: ModelOpt = None, data_dir: DataDirOpt = None,
    db: DbOpt = None,
) -> None:
    """Decode evenly spaced points of the latent path from A to B into motions (BVH + JSON)."""
    from explore.export import write_series
    from explore.inputs import endpoint

    with cli_errors(), explore_errors():
        ea, eb = endpoint(a, data_dir, db), endpoint(b, data_dir, db)
        m = _model(model, data_dir)
        from explore.interpolate import interpolate as run

        try:
            path = run(m, ea, eb, steps, m.capabilities)
        except ValueError as exc:
            raise CliInputError(str(exc)) from None
        index = write_series(out, path.motions, [f"t={t:.2f}" for t in path.ts], rig, data_dir,
                             {"a": ea.name, "b": eb.name, "decoder": path.decoder, "ts": path.ts})
    if json_out:
        print_json(index)
    else:
        typer.echo(f"wrote {len(path.motions)} motions from {ea.name!r} to {eb.name!r} ({path.decoder} decoder) "
                   f"to {out}")


def stylize(
    file: Annotated[str, typer.Argument(help="Motion file, or clip:ID (optionally @START-END).")],
    style: Annotated[str, typer.Option("--style", help="Target style, e.g. sad, old, proud, or any words.")],
    out: Annotated[Path, typer.Option("--out", help="FILE.bvh or FILE.json.")],
    strength: Annotated[float | None, typer.Option("--strength", help="How far to move (default: calibrated).")] = None,
    source_style: Annotated[str | None, typer.Option("--from", help="The clip's own style, if known.")] = None,
    method: Annotated[str | None, typer.Option(
        "--method", help="data (train style means), adain, text (words), prior (the latent prior's edit, "
                         "strength 0-1) or pose (the style's posture and amplitude on the joints); default: "
                         "calibrated.")] = None,
    rig: RigOpt = None, json_out: JsonOpt = False, model: ModelOpt = None, data_dir: DataDirOpt = None,
    db: DbOpt = None,
) -> None:
    """Keep the motion's content and change its style (latent arithmetic, the latent prior's edit, or the
    style's posture and amplitude applied to the joints)."""
    from explore.export import write_motion
    from explore.stylize import stylize as run

    with cli_errors(), explore_errors():
        if out.suffix.lower() not in (".bvh", ".json"):
            raise CliInputError(f"{out}: --out must end in .bvh or .json")
        name, positions = _motion_arg(file, model, data_dir, db)
        m = _model(model, data_dir)
        try:
            result, info = run(m, positions, style, strength, m.capabilities, method, source_style)
        except ValueError as exc:
            raise CliInputError(str(exc)) from None
        write_motion(out, result, rig, data_dir)
    if json_out:
        print_json({"out": str(out), "source": name, **info})
    else:
        source = f", from {info['source_style']!r}" if info.get("source_style") else ""
        typer.echo(f"wrote {name} as {style!r} ({info['method']} method, strength {info['strength']}{source}) to {out}")


def concept_learn(
    name: Annotated[str, typer.Argument(help="The concept's name; use it as <NAME> in text queries.")],
    files: Annotated[list[str], typer.Argument(help="3-5 example motion files or clip:ID (optionally @START-END).")],
    out: Annotated[Path | None, typer.Option("--out", help="Concept file (default DATA_DIR/concepts/NAME.json).")] = None,
    json_out: JsonOpt = False, model: ModelOpt = None, data_dir: DataDirOpt = None, db: DbOpt = None,
) -> None:
    """Learn a new word from example clips (textual inversion in the text encoder's input space)."""
    from explore.concepts import check_name, learn
    from explore.inputs import concept_store, negatives_for
    from explore.latent import motion_vectors

    with cli_errors(), explore_errors():
        check_name(name)
        examples = [_motion_arg(f, model, data_dir, db) for f in files]
        m = _model(model, data_dir)
        vectors = [motion_vectors(m, p) for _, p in examples]
        concept = learn(m, name, vectors, negatives_for(m, data_dir, db), [n for n, _ in examples], m.capabilities)
        target = concept.save(out or concept_store(data_dir).path(name))
    if json_out:
        print_json({"name": name, "out": str(target), "examples": concept.examples, **concept.details})
    else:
        typer.echo(f"learned <{name}> from {len(files)} clips ({concept.details['example_windows']} windows); "
                   f"saved to {target}. Use it as: dancesearch search text \"<{name}>\"")


def concept_list(json_out: JsonOpt = False, data_dir: DataDirOpt = None) -> None:
    """The learned concepts of the library."""
    from explore.inputs import concept_store

    with cli_errors(), explore_errors():
        store = concept_store(data_dir)
        items = [{"name": c.name, "examples": c.examples, "model_version": c.model_version, "created": c.created}
                 for c in store.all().values()]
    if json_out:
        print_json({"concepts": items})
        return
    if not items:
        typer.echo("no concepts")
    for c in items:
        typer.echo(f"<{c['name']}>  {len(c['examples'])} examples  {c['created']}  model {c['model_version']}")


def concept_delete(name: Annotated[str, typer.Argument(help="Concept to delete.")], data_dir: DataDirOpt = None) -> None:
    """Delete a learned concept."""
    from explore.inputs import concept_store

    with cli_errors(), explore_errors():
        concept_store(data_dir).delete(name)
    typer.echo(f"deleted <{name}>")


def eval_capabilities(
    corpus: Annotated[Path, typer.Option("--corpus", help="Corpus folder with manifest.json.")],
    model: Annotated[Path, typer.Option("--model", help="Model directory.")] = Path("models/default"),
    split: Annotated[str, typer.Option(help="Split to report on (settings are chosen on val).")] = "test",
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md and report.json.")] = Path("runs/capabilities"),
    work: Annotated[Path, typer.Option("--work", help="Work directory (library, encoded splits).")] = Path("runs/explore"),
    calibrate: Annotated[bool, typer.Option("--calibrate", help="Choose the settings on val first and write "
                                                                 "capabilities.json into the model directory.")] = False,
    section: Annotated[list[str] | None, typer.Option("--section", help="Only these sections (repeatable).")] = None,
) -> None:
    """Measure classification, interpolation, style transfer, concepts and generation (issue 13)."""
    import torch

    from explore.evaluation.runner import CapabilityEvalOptions, evaluate

    torch.set_num_threads(1)
    if split == "train":
        raise typer.BadParameter("report on val or test, not train")
    opts = CapabilityEvalOptions(model=model, corpus=corpus.resolve(), split=split, out=out, work=work,
                                 calibrate=calibrate)
    if section:
        opts.sections = tuple(section)
    report = evaluate(opts)
    typer.echo(f"wrote {out / 'report.md'} ({report['seconds']} s)")


def register(app: typer.Typer) -> None:
    """Attach ``classify``, ``interpolate``, ``stylize``, ``concept`` and ``eval-capabilities``."""
    app.command("classify")(classify)
    app.command("interpolate")(interpolate)
    app.command("stylize")(stylize)
    group = typer.Typer(help="Concepts learned from example clips, used as <NAME> in text.", no_args_is_help=True)
    group.command("learn")(concept_learn)
    group.command("list")(concept_list)
    group.command("delete")(concept_delete)
    app.add_typer(group, name="concept")
    app.command("eval-capabilities")(eval_capabilities)

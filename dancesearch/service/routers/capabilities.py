"""Capability endpoints (issue 13): zero-shot classification, interpolation, style transfer and
learned concepts, over the engine's model (:mod:`explore`).

Motions are a library clip (``clip_id`` with an optional range) or, for classification, an uploaded
file; interpolation ends are ``clip:ID[@START-END]`` or texts (never a server path). Learning or deleting
a concept writes ``DATA_DIR/concepts`` and needs the API key, like every other write.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Query, UploadFile, status
from pydantic import BaseModel, Field

from dancesearch.service.deps import EngineDep, RangeDep, SettingsDep, WriteAccess, parse_upload
from search.protocol import SearchEngine

router = APIRouter(prefix="/api", tags=["capabilities"])

LabelsQ = Annotated[str, Query(description="Class names separated by commas, e.g. 'waltz, rumba, cha-cha'.")]


def _model(engine: SearchEngine) -> Any:
    """The engine's model as a capability model (503 when the engine has none, e.g. a test double)."""
    from explore.model import CapabilityModel

    model = getattr(engine, "model", None)
    if not isinstance(model, CapabilityModel):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "this engine's model has no capabilities loaded")
    return model


def _bad(exc: ValueError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


def _clip(engine: SearchEngine, clip_id: int, start: float | None, end: float | None) -> Any:
    return engine.clip_motion(clip_id, start, end).positions


def _classify(engine: SearchEngine, positions: Any, labels: str, span: float | None,
              start: float | None = None) -> dict[str, Any]:
    import math

    from explore.classify import classify
    from motion.skeleton import CANONICAL_FPS

    model = _model(engine)
    # span times in the clip: the time of the range's first frame as search.queries.frame_range cut it
    offset = 0.0 if start is None else math.floor(start * CANONICAL_FPS + 1e-6) / CANONICAL_FPS
    try:
        return classify(model, positions, labels, model.capabilities, span, offset).to_json()
    except ValueError as exc:
        raise _bad(exc) from None


@router.get("/classify/{clip_id}")
def classify_clip(engine: EngineDep, clip_id: int, span_range: RangeDep, labels: LabelsQ,
                  span: Annotated[float | None, Query(gt=0, le=30, description="Seconds between spans.")] = None,
                  ) -> dict[str, Any]:
    """Probabilities of each label for a library clip (or a range of it), overall and per span."""
    return _classify(engine, _clip(engine, clip_id, span_range.start, span_range.end), labels, span,
                     span_range.start)


@router.post("/classify")
def classify_upload(engine: EngineDep, settings: SettingsDep, labels: LabelsQ,
                    file: Annotated[UploadFile, File(description="BVH, ballroom JSON or .npz, optionally .gz")],
                    span: Annotated[float | None, Query(gt=0, le=30)] = None) -> dict[str, Any]:
    """Probabilities of each label for an uploaded motion (parsed in memory)."""
    from search.queries import canonical_positions

    motion = parse_upload(file, settings)
    rigs = engine.rigs() if hasattr(engine, "rigs") else None
    return _classify(engine, canonical_positions(motion, rigs), labels, span)


class InterpolateRequest(BaseModel):
    a: str = Field(description="clip:ID (optionally @START-END seconds) or a text", max_length=500)
    b: str = Field(description="clip:ID (optionally @START-END seconds) or a text", max_length=500)
    steps: int = Field(5, ge=2, le=12)


def _endpoint(engine: SearchEngine, spec: str) -> Any:
    from explore.inputs import InputError, parse_source
    from explore.interpolate import Endpoint

    if not spec.strip().startswith("clip:"):
        if not spec.strip():
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "an interpolation end is empty")
        return Endpoint(spec.strip(), text=spec.strip())
    try:
        source = parse_source(spec)
    except InputError as exc:
        raise _bad(exc) from None
    if source.kind != "clip":
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{spec!r}: write clip:ID or clip:ID@START-END")
    return Endpoint(source.name, positions=_clip(engine, int(source.value), source.start, source.end))


@router.post("/interpolate")
def interpolate(engine: EngineDep, body: InterpolateRequest) -> dict[str, Any]:
    """Motions decoded at evenly spaced points of the latent path from A to B (ends included)."""
    from explore.export import to_json
    from explore.interpolate import interpolate as run

    model = _model(engine)
    a, b = _endpoint(engine, body.a), _endpoint(engine, body.b)
    try:
        path = run(model, a, b, body.steps, model.capabilities)
    except ValueError as exc:
        raise _bad(exc) from None
    return {"a": a.name, "b": b.name, "decoder": path.decoder, "ts": path.ts,
            "motions": [to_json(m) for m in path.motions]}


class StylizeRequest(BaseModel):
    clip_id: int
    start: float | None = Field(None, ge=0)
    end: float | None = Field(None, ge=0)
    style: str = Field(min_length=1, max_length=200)
    strength: float | None = Field(None, ge=-8, le=8)
    source_style: str | None = Field(None, max_length=200)


@router.post("/stylize")
def stylize(engine: EngineDep, body: StylizeRequest) -> dict[str, Any]:
    """A library clip (or range) with its style moved towards ``style``; the motion as JSON positions."""
    from explore.export import to_json
    from explore.stylize import stylize as run

    model = _model(engine)
    positions = _clip(engine, body.clip_id, body.start, body.end)
    try:
        result, info = run(model, positions, body.style, body.strength, model.capabilities,
                           source_style=body.source_style)
    except ValueError as exc:
        raise _bad(exc) from None
    return {**info, "motion": to_json(result)}


class ConceptRequest(BaseModel):
    name: str = Field(min_length=1, max_length=40)
    clips: list[str] = Field(min_length=1, max_length=16, description="clip:ID or clip:ID@START-END, 3-5 advised")


def _store(settings: Any) -> Any:
    from explore.inputs import concept_store

    return concept_store(settings.data_dir)


@router.get("/concepts")
def list_concepts(engine: EngineDep) -> dict[str, Any]:
    """The concepts the model understands as ``<NAME>`` in text queries and generation."""
    model = _model(engine)
    return {"concepts": [{"name": c.name, "examples": [_public(e) for e in c.examples], "created": c.created}
                         for c in model.concepts.values()]}


def _public(example: str) -> str:
    """A concept example as the API shows it: ``clip:ID...`` as is, a file learned from by the CLI by its
    name only (responses never carry the server's folders)."""
    from pathlib import PurePath

    return example if example.startswith("clip:") else PurePath(example.split("@")[0]).name + (
        "@" + example.split("@", 1)[1] if "@" in example else "")


@router.post("/concepts", dependencies=[WriteAccess], status_code=status.HTTP_201_CREATED)
def learn_concept(engine: EngineDep, settings: SettingsDep, body: ConceptRequest) -> dict[str, Any]:
    """Learn ``<name>`` from library clips; it is saved and usable in queries at once."""
    from explore.concepts import learn
    from explore.inputs import negatives_for
    from explore.latent import motion_vectors

    model = _model(engine)
    try:
        ends = [_endpoint(engine, spec) for spec in body.clips]
        if any(e.positions is None for e in ends):
            raise ValueError("concept examples must be library clips: clip:ID or clip:ID@START-END")
        vectors = [motion_vectors(model, e.positions) for e in ends]
        concept = learn(model, body.name, vectors, negatives_for(model), [e.name for e in ends], model.capabilities)
    except ValueError as exc:
        raise _bad(exc) from None
    _store(settings).folder.mkdir(parents=True, exist_ok=True)
    concept.save(_store(settings).path(concept.name))
    model.concepts[concept.name] = concept
    return {"name": concept.name, "examples": concept.examples, **concept.details}


@router.delete("/concepts/{name}", dependencies=[WriteAccess], status_code=status.HTTP_204_NO_CONTENT)
def delete_concept(engine: EngineDep, settings: SettingsDep, name: str) -> None:
    """Forget ``<name>`` (its file and the live model's copy)."""
    from explore.concepts import ConceptError

    model = _model(engine)
    try:
        _store(settings).delete(name)
    except ConceptError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    model.concepts.pop(name, None)

"""Learned concepts: a new word taught by 3-5 example clips, usable as ``<NAME>`` in text (LEAD).

LEAD's "motion textual inversion" optimises a new word embedding so that the text side describes a few
example motions. Here the word lives where our text side begins: the 384-d MiniLM sentence space that
the shared space's text head (and the text-to-dance generator) read. A unit vector ``v`` is optimised so
that ``text_head(v)`` ranks the examples' windows above a bank of other windows (InfoNCE, temperature
``tau``), starting from the model's description that best fits the examples, and kept on the unit
sphere where MiniLM embeddings live. Because ``v`` is a MiniLM-space vector, a query such as ``"a
<swagger> walk"`` is embedded as ``normalize(MiniLM("a walk") + w * v)``, and generation reads it too.

Concepts are JSON files (``DATA_DIR/concepts/NAME.json`` by default) that record the model version they
were learned for; :func:`explore.model.capability_model` gives a model whose text side understands them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from embedders.runtime import DanceSearchModel
from explore.settings import CapabilitySettings

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
PLACEHOLDER = re.compile(r"<([A-Za-z][A-Za-z0-9_-]{0,39})>")
MIN_EXAMPLES, MAX_EXAMPLES = 1, 32


class ConceptError(ValueError):
    """A concept that cannot be learned, found or used; the message says which and why."""


@dataclass
class Concept:
    """A learned word: its MiniLM-space vector (384,), the model it belongs to, and where it came from."""

    name: str
    vector: list[float]
    model_version: str
    examples: list[str] = field(default_factory=list)
    created: str = ""
    details: dict[str, object] = field(default_factory=dict)

    def tensor(self) -> torch.Tensor:
        return torch.tensor(self.vector, dtype=torch.float32)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Concept:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            concept = cls(**raw)
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise ConceptError(f"{path}: not a concept file ({exc})") from None
        if len(concept.vector) != 384:
            raise ConceptError(f"{path}: concept vector has {len(concept.vector)} values, expected 384")
        return concept


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ConceptError(f"concept name {name!r}: use a letter then letters, digits, '-' or '_' (at most 40)")
    return name


class ConceptStore:
    """Concept files in one folder (``DATA_DIR/concepts``), by name."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.json"

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.json")) if self.folder.is_dir() else []

    def get(self, name: str) -> Concept:
        path = self.path(name)
        if not path.is_file():
            raise ConceptError(f"no concept named {name!r} in {self.folder} (learn it with `dancesearch concept learn`)")
        return Concept.load(path)

    def all(self) -> dict[str, Concept]:
        return {n: self.get(n) for n in self.names()}

    def delete(self, name: str) -> None:
        path = self.path(name)
        if not path.is_file():
            raise ConceptError(f"no concept named {name!r}")
        path.unlink()


@torch.no_grad()
def initial_vector(model: DanceSearchModel, examples: np.ndarray) -> tuple[torch.Tensor, str]:
    """The MiniLM vector of the model's description that best fits the example vectors (N, D)."""
    records = model.description_records()
    minilm: torch.Tensor = model._description_minilm  # the description database's MiniLM vectors
    text_vecs = model.space.embed_text(minilm).numpy()
    best = int((text_vecs @ examples.mean(0)).argmax())
    return F.normalize(minilm[best].float(), dim=-1), str(records[best]["text"])


def learn_vector(model: DanceSearchModel, examples: np.ndarray, negatives: np.ndarray,
                 settings: CapabilitySettings | None = None, init: torch.Tensor | None = None) -> torch.Tensor:
    """A unit MiniLM-space vector (384,) whose shared-space text embedding ranks the example window
    vectors (N, D) above the negative window vectors (M, D)."""
    s = settings or CapabilitySettings()
    pos = torch.from_numpy(np.asarray(examples, np.float32))
    neg = torch.from_numpy(np.asarray(negatives, np.float32))
    v = (init if init is not None else initial_vector(model, examples)[0]).clone().requires_grad_(True)
    opt = torch.optim.Adam([v], lr=s.concept_lr)
    head = model.space
    frozen = [p for p in head.parameters() if p.requires_grad]
    for p in frozen:  # only v is optimised; the model's weights get no gradients
        p.requires_grad_(False)
    try:
        _optimise(head, v, opt, pos, neg, s)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return v.detach()


def _optimise(head: torch.nn.Module, v: torch.Tensor, opt: torch.optim.Optimizer, pos: torch.Tensor,
              neg: torch.Tensor, s: CapabilitySettings) -> None:
    for _ in range(s.concept_steps):
        t = head.embed_text(v.unsqueeze(0))[0]  # type: ignore[operator]
        sp, sn = pos @ t / s.concept_tau, neg @ t / s.concept_tau
        logits = torch.cat([sp.unsqueeze(1), sn.unsqueeze(0).expand(len(sp), -1)], dim=1)
        loss = -(sp - torch.logsumexp(logits, dim=1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            v /= v.norm().clamp(min=1e-8)


def learn(model: DanceSearchModel, name: str, example_vectors: Sequence[np.ndarray], negatives: np.ndarray,
          example_names: Sequence[str], settings: CapabilitySettings | None = None) -> Concept:
    """A concept from the windows of each example clip (a list of (N_i, D) arrays)."""
    check_name(name)
    if not MIN_EXAMPLES <= len(example_vectors) <= MAX_EXAMPLES:
        raise ConceptError(f"give {MIN_EXAMPLES} to {MAX_EXAMPLES} example clips (3-5 work best), got "
                           f"{len(example_vectors)}")
    pos = np.concatenate([np.asarray(v, np.float32) for v in example_vectors])
    init, init_text = initial_vector(model, pos)
    vector = learn_vector(model, pos, negatives, settings, init)
    return Concept(name, [round(float(x), 6) for x in vector], model.version, list(example_names),
                   time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   {"initial_description": init_text, "example_windows": int(len(pos))})


def names_in(text: str) -> list[str]:
    """The ``<NAME>`` placeholders of a text, in order."""
    return PLACEHOLDER.findall(text)


def compose(model: DanceSearchModel, text: str, concepts: Mapping[str, Concept], weight: float = 1.0) -> torch.Tensor:
    """The MiniLM-space vector (384,) of a text with ``<NAME>`` placeholders: the rest of the text's
    MiniLM embedding plus ``weight`` times each concept's vector, renormalised."""
    missing = [n for n in names_in(text) if n not in concepts]
    if missing:
        known = ", ".join(sorted(concepts)) or "none"
        raise ConceptError(f"unknown concept <{missing[0]}> (known: {known})")
    total = torch.stack([concepts[n].tensor() for n in names_in(text)]).sum(0)
    rest = " ".join(PLACEHOLDER.sub(" ", text).split())
    if rest:
        total = DanceSearchModel.minilm(model, [rest])[0] + weight * total
    return F.normalize(total, dim=-1)

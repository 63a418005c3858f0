"""The loaded model as the product serves it with the capabilities: ``<NAME>`` concepts in every text
path and generation that respects the body (:mod:`explore.generation`).

:func:`capability_model` returns a view of a loaded :class:`DanceSearchModel` (weights shared, not
copied) whose :meth:`minilm` composes learned concepts and whose :meth:`generate` projects bones and
plants feet. Everything else (embeddings of motion, indexes, version) is the model's own, so indexes
built with the plain model stay valid.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from embedders.runtime import DanceSearchModel
from explore.concepts import PLACEHOLDER, Concept, ConceptError, ConceptStore, compose
from explore.generation import generate
from explore.settings import CapabilitySettings

log = logging.getLogger(__name__)


class CapabilityModel(DanceSearchModel):
    """A :class:`DanceSearchModel` view that understands ``<NAME>`` and generates body-respecting motion.

    Every text path of the model (search embeddings, clusters, familiarity, generation) goes through
    :meth:`minilm`, so overriding it is enough; texts without placeholders are untouched.
    """

    concepts: dict[str, Concept]
    capabilities: CapabilitySettings

    def minilm(self, texts: Sequence[str]) -> torch.Tensor:
        plain = super().minilm  # bound here: zero-argument super() does not work inside a comprehension
        if not any(PLACEHOLDER.search(t) for t in texts):
            return plain(texts)
        weight = self.capabilities.concept_text_weight
        rows = [compose(self, t, self.concepts, weight) if PLACEHOLDER.search(t) else plain([t])[0] for t in texts]
        return torch.stack(rows)

    def generate(self, text: str, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
        return generate(self, text, seconds, seed, self.capabilities)


def capability_model(model: DanceSearchModel, concepts: Mapping[str, Concept] | None = None,
                     settings: CapabilitySettings | None = None) -> CapabilityModel:
    """``model`` viewed as a :class:`CapabilityModel`; concepts learned for another model version are
    refused (their vector means something else there)."""
    found = dict(concepts or {})
    stale = [c.name for c in found.values() if c.model_version != model.version]
    if stale:
        raise ConceptError(f"concept(s) {', '.join(stale)} were learned with another model; learn them again")
    view = object.__new__(CapabilityModel)
    view.__dict__.update(model.__dict__)
    view.concepts = found
    view.capabilities = settings or CapabilitySettings.load(model.directory)
    return view


def serving_model(model: DanceSearchModel, concept_folder: Path | None) -> CapabilityModel:
    """The model as the CLI and the service use it: the concepts of ``concept_folder`` learned for this
    model (others are skipped with a warning: they need learning again) and the calibrated settings."""
    found: dict[str, Concept] = {}
    if concept_folder is not None:
        store = ConceptStore(concept_folder)
        for name in store.names():
            try:
                concept = store.get(name)
            except ConceptError as exc:
                log.warning("%s", exc)
                continue
            if concept.model_version != model.version:
                log.warning("concept <%s> was learned with model %s, not %s: learn it again", name,
                            concept.model_version, model.version)
                continue
            found[name] = concept
    return capability_model(model, found)

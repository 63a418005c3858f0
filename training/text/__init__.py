"""The text side of the training data: glossary, captions, held-out queries, relevance keys, KIT-ML sentences.

- :mod:`training.text.glossary`: every corpus label value and CMU movement term with synonyms and
  "what it looks like" phrases (data in ``data/labels.toml`` and ``data/cmu_terms.toml``).
- :mod:`training.text.templates`: caption templates, strictly split into training and held-out sets.
- :mod:`training.text.captions`: ``captions_for_labels`` (training), ``eval_queries_for_labels``
  (held-out), ``canonical_caption`` (display and description database).
- :mod:`training.text.relevance`: ``label_key`` / ``is_relevant`` (what counts as a relevant window) and
  the hand-written free-form user queries of ``data/user_queries.json``.
- :mod:`training.text.kitml`: KIT-ML sentences (train/val only) for text-only objectives.
"""

from training.text.captions import (
    CaptionError,
    canonical_caption,
    captions_for_labels,
    eval_queries_for_labels,
    source_family,
)
from training.text.glossary import Glossary, GlossaryError, load_glossary, missing_entries
from training.text.kitml import KitMLError, kitml_sentences, load_kitml
from training.text.relevance import (
    UserQuery,
    UserQueryError,
    is_relevant,
    label_key,
    load_user_queries,
    unmatched_user_queries,
)
from training.text.templates import caption_templates

__all__ = [
    "CaptionError", "Glossary", "GlossaryError", "KitMLError", "UserQuery", "UserQueryError",
    "canonical_caption", "caption_templates", "captions_for_labels", "eval_queries_for_labels",
    "is_relevant", "kitml_sentences", "label_key", "load_glossary", "load_kitml", "load_user_queries",
    "missing_entries", "source_family", "unmatched_user_queries",
]

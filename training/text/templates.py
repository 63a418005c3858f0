"""Caption templates (``training/text/data/templates.toml``), split into training and held-out sets.

A template is a ``str.format`` string whose fields are slots filled from the glossary (see
:mod:`training.text.captions`). Each caption family (ballroom, bandai, cmu, cmu_category, perfume) has
``train`` and ``eval`` templates. Loading checks the strict separation the evaluation relies on: no eval
template is a training template, and each eval template fills at least one slot from a held-out list, so
an evaluation query is never a training caption. Problems raise :class:`GlossaryError` naming the file.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from pathlib import Path

from training.text.glossary import DATA_DIR, SPLITS, GlossaryError, Split, read_toml

TEMPLATE_FILE = DATA_DIR / "templates.toml"

# Slots each family may use. Shared slots carry the label word itself and are the same in both splits.
FAMILY_SLOTS: dict[str, frozenset[str]] = {
    "ballroom": frozenset({"person", "genre", "genre_name", "genre_look", "genre_origin"}),
    "bandai": frozenset({"person", "content", "style", "verb", "gerund", "noun", "content_look", "adj",
                         "adv", "style_look"}),
    "cmu": frozenset({"person", "description", "names", "looks", "mixed"}),
    "cmu_category": frozenset({"person", "description", "names", "looks", "mixed", "category_name",
                               "category_look"}),
    "perfume": frozenset({"person", "dancer", "genre", "genre_name", "genre_look", "genre_origin",
                          "routine_name", "routine_look"}),
}
SHARED_SLOTS = frozenset({"genre", "content", "style", "description"})
PERSON_LISTS = ("persons", "persons_ballroom", "persons_dance", "persons_dancer", "persons_perfume")


@dataclass(frozen=True)
class TemplateSet:
    """All templates and the split-specific person words and step joiners."""

    families: dict[str, dict[Split, tuple[str, ...]]]
    persons: dict[str, dict[Split, tuple[str, ...]]]
    pair_joiners: tuple[str, ...]
    last_joiners: tuple[str, ...]


def template_slots(template: str) -> set[str]:
    """The slot names a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _str_list(path: Path, where: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise GlossaryError(path, f"{where} must be a non-empty list of non-empty strings")
    return tuple(value)


def _split_table(path: Path, data: dict[str, object], name: str) -> dict[Split, tuple[str, ...]]:
    table = data.get(name)
    if not isinstance(table, dict):
        raise GlossaryError(path, f"missing table [{name}]")
    lists = {split: _str_list(path, f"[{name}] {split}", table.get(split)) for split in SPLITS}
    shared = sorted(set(lists["train"]) & set(lists["eval"]))
    if shared:
        raise GlossaryError(path, f"[{name}] entries in both train and eval: {shared}")
    return lists


def _check_family(path: Path, family: str, lists: dict[Split, tuple[str, ...]]) -> None:
    allowed = FAMILY_SLOTS[family]
    for split, templates in lists.items():
        for template in templates:
            try:
                slots = template_slots(template)
            except ValueError as exc:
                raise GlossaryError(path, f"[{family}] bad template {template!r}: {exc}") from exc
            if not slots <= allowed:
                raise GlossaryError(path, f"[{family}] template {template!r} uses unknown slots "
                                          f"{sorted(slots - allowed)}; allowed: {sorted(allowed)}")
            if split == "eval" and not slots - SHARED_SLOTS:
                raise GlossaryError(path, f"[{family}] eval template {template!r} fills no held-out slot")


def read_templates(path: Path) -> TemplateSet:
    """Read and validate a template file; raises :class:`GlossaryError` naming the file."""
    data = read_toml(path)
    families = {family: _split_table(path, data, family) for family in FAMILY_SLOTS}
    for family, lists in families.items():
        _check_family(path, family, lists)
    reused = {t for f in families.values() for t in f["eval"]} & {t for f in families.values() for t in f["train"]}
    if reused:
        raise GlossaryError(path, f"eval templates also used for training: {sorted(reused)}")
    persons = {name: _split_table(path, data, name) for name in PERSON_LISTS}
    joiners = data.get("joiners")
    if not isinstance(joiners, dict):
        raise GlossaryError(path, "missing table [joiners]")
    pair = _str_list(path, "[joiners] pair", joiners.get("pair"))
    if any(template_slots(p) != {"a", "b"} for p in pair):
        raise GlossaryError(path, "[joiners] pair entries must use exactly {a} and {b}")
    last = tuple(j for j in _str_list(path, "[joiners] last", joiners.get("last")))
    return TemplateSet(families, persons, pair, last)


@functools.lru_cache(maxsize=1)
def load_templates() -> TemplateSet:
    """The built-in template set, loaded and validated once per process."""
    return read_templates(TEMPLATE_FILE)


def caption_templates(split: Split = "train") -> dict[str, tuple[str, ...]]:
    """The templates of ``split`` ("train" or "eval") by family; the two splits share no template."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    return {family: lists[split] for family, lists in load_templates().families.items()}

"""Glossary of corpus label values and CMU movement terms, loaded from ``training/text/data/*.toml``.

Users search in their own words, never with our label names, so every label value (genre, Bandai content
and style, Perfume dancer and routine) and every movement term of the CMU descriptions has an entry with
synonyms and plain-language "what it looks like" phrases. Each phrase list is split into a training half
and a held-out evaluation half (``eval_*`` in the data files) so that evaluation queries are phrasings
never seen in training. The data are validated on load; any problem raises :class:`GlossaryError` naming
the file and the entry.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DATA_DIR = Path(__file__).resolve().parent / "data"
GLOSSARY_FILES = ("labels.toml", "cmu_terms.toml")

Split = Literal["train", "eval"]
SPLITS: tuple[Split, ...] = ("train", "eval")

# Which phrase lists every entry of a kind must have (each also as eval_<field>).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "genre": ("names", "looks", "origins"),
    "content": ("verbs", "gerunds", "nouns", "looks"),
    "style": ("adjs", "advs", "looks"),
    "dancer": ("names",),
    "routine": ("names", "looks"),
    "term": ("names", "looks"),
}
# Manifest label keys whose values are glossary entries of the kind named here.
LABEL_KINDS: dict[str, str] = {
    "genre": "genre", "content": "content", "style": "style", "dancer": "dancer", "routine": "routine",
}
_SCALAR_KEYS = {"label", "same_as", "about", "category", "aliases", "patterns"}


class GlossaryError(ValueError):
    """A glossary data file is missing, malformed, or breaks the train/eval separation."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class Entry:
    """One glossary entry: a label value (or CMU term) with train and held-out phrase lists.

    ``phrases[field]`` holds the training list and ``phrases["eval_" + field]`` the held-out list; the two
    never share a string. ``label`` is the plain word for the value, usable by both splits.
    """

    kind: str
    key: str
    label: str
    phrases: Mapping[str, tuple[str, ...]]
    same_as: str | None = None
    about: str | None = None
    category: bool = False
    aliases: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False)

    def pick(self, name: str, split: Split) -> tuple[str, ...]:
        """Return the phrase list ``name`` of ``split`` ("train" or "eval")."""
        return self.phrases[name if split == "train" else f"eval_{name}"]

    def canonical(self, name: str) -> str:
        """Return the canonical (first training) phrase of list ``name``."""
        return self.phrases[name][0]

    def all_phrases(self, split: Split) -> tuple[str, ...]:
        """Every phrase of ``split``, plus the shared label word (used to check a caption names it)."""
        fields = KIND_FIELDS[self.kind]
        return (self.label, *(p for f in fields for p in self.pick(f, split)))


@dataclass(frozen=True)
class TermMatch:
    """A glossary term found in one part of a CMU description (``start`` orders terms within the part)."""

    start: int
    text: str
    entry: Entry


@dataclass(frozen=True)
class DescriptionPart:
    """One comma-separated part of a CMU description and the glossary terms it contains."""

    text: str
    terms: tuple[TermMatch, ...]


@dataclass(frozen=True)
class ParsedDescription:
    """A CMU description split into its optional category ("dance", "basketball") and its parts."""

    raw: str
    category: str | None
    category_entry: Entry | None
    parts: tuple[DescriptionPart, ...]

    def body(self) -> str:
        """The description without its category prefix, "/" read as "or"."""
        return ", ".join(p.text.replace("/", " or ") for p in self.parts)

    def unmatched_parts(self) -> list[str]:
        """Parts in which no glossary term was found."""
        return [p.text for p in self.parts if not p.terms]


class Glossary:
    """All glossary entries by kind and key, with lookup of label values and CMU terms."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._by_kind: dict[str, dict[str, Entry]] = {kind: {} for kind in KIND_FIELDS}
        for entry in entries:
            self._by_kind[entry.kind][entry.key] = entry
            for alias in entry.aliases:
                self._by_kind[entry.kind].setdefault(alias, entry)
        self._terms = sorted(self._by_kind["term"].values(), key=lambda e: e.key)

    def kinds(self) -> dict[str, dict[str, Entry]]:
        """A copy of the entries, ``{kind: {key: entry}}`` (aliases included)."""
        return {kind: dict(entries) for kind, entries in self._by_kind.items()}

    def get(self, kind: str, key: str) -> Entry | None:
        """The entry of ``kind`` for ``key`` (case-insensitive), or None."""
        entries = self._by_kind.get(kind, {})
        return entries.get(key) or entries.get(key.lower())

    def for_label(self, label: str, value: object) -> Entry | None:
        """The entry for a manifest label (``"style"``, ``"tired"``); None if the label has no glossary kind."""
        kind = LABEL_KINDS.get(label)
        return None if kind is None else self.get(kind, str(value))

    def find_terms(self, text: str) -> tuple[TermMatch, ...]:
        """Glossary terms in ``text``, longest match first, non-overlapping, returned in text order."""
        found: list[tuple[int, int, Entry]] = []
        for entry in self._terms:
            for pattern in entry.patterns:
                found.extend((m.start(), m.end(), entry) for m in pattern.finditer(text))
        taken: list[tuple[int, int]] = []
        chosen: list[TermMatch] = []
        for start, end, entry in sorted(found, key=lambda f: (f[0] - f[1], f[0])):
            if all(end <= s or start >= e for s, e in taken) and all(c.entry is not entry for c in chosen):
                taken.append((start, end))
                chosen.append(TermMatch(start, text[start:end], entry))
        return tuple(sorted(chosen, key=lambda c: c.start))

    def parse_description(self, description: str) -> ParsedDescription:
        """Split a CMU description ("category - part, part") and find the glossary terms of each part."""
        text = " ".join(description.strip().split())
        category: str | None = None
        head, sep, tail = text.partition(" - ")
        if sep and head.strip():
            category, text = head.strip().lower(), tail
        parts = tuple(
            DescriptionPart(part.strip(), self.find_terms(part.strip().lower()))
            for part in text.split(",") if part.strip()
        )
        category_entry = self.get("term", category) if category else None
        return ParsedDescription(description, category, category_entry, parts)


def _phrase_list(path: Path, where: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise GlossaryError(path, f"{where} must be a non-empty list of non-empty strings")
    return tuple(" ".join(v.split()) for v in value)


def _compile(path: Path, where: str, patterns: list[str]) -> tuple[re.Pattern[str], ...]:
    try:
        return tuple(re.compile(rf"\b(?:{p})(?!\w)", re.IGNORECASE) for p in patterns)
    except re.error as exc:
        raise GlossaryError(path, f"{where}: bad pattern: {exc}") from exc


def _entry(path: Path, kind: str, key: str, raw: Mapping[str, object]) -> Entry:
    where = f"[{kind}.{key}]"
    phrases: dict[str, tuple[str, ...]] = {}
    for name in KIND_FIELDS[kind]:
        phrases[name] = _phrase_list(path, f"{where} {name}", raw.get(name))
        phrases[f"eval_{name}"] = _phrase_list(path, f"{where} eval_{name}", raw.get(f"eval_{name}"))
    unknown = set(raw) - set(phrases) - _SCALAR_KEYS
    if unknown:
        raise GlossaryError(path, f"{where} has unknown fields {sorted(unknown)}")
    train = {p.lower() for name in KIND_FIELDS[kind] for p in phrases[name]}
    leaked = sorted(p for name in KIND_FIELDS[kind] for p in phrases[f"eval_{name}"] if p.lower() in train)
    if leaked:
        raise GlossaryError(path, f"{where} eval phrases also used for training: {leaked}")
    label = raw.get("label", key)
    if not isinstance(label, str) or not label.strip():
        raise GlossaryError(path, f"{where} label must be a non-empty string")
    pattern_src = raw.get("patterns", [re.escape(key)])
    if not isinstance(pattern_src, list) or not all(isinstance(p, str) for p in pattern_src):
        raise GlossaryError(path, f"{where} patterns must be a list of strings")
    aliases = raw.get("aliases", [])
    return Entry(
        kind=kind, key=key, label=label, phrases=phrases,
        same_as=str(raw["same_as"]) if "same_as" in raw else None,
        about=str(raw["about"]) if "about" in raw else None,
        category=bool(raw.get("category", False)),
        aliases=tuple(str(a) for a in aliases) if isinstance(aliases, list) else (),
        patterns=_compile(path, where, pattern_src) if kind == "term" else (),
    )


def read_toml(path: Path) -> dict[str, Any]:
    """A data file of this package as a dict; :class:`GlossaryError` naming the file if unreadable."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GlossaryError(path, f"cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise GlossaryError(path, f"not valid TOML: {exc}") from exc


def read_glossary_file(path: Path) -> list[Entry]:
    """Read and validate one glossary TOML file; raises :class:`GlossaryError` naming the file."""
    data = read_toml(path)
    entries: list[Entry] = []
    for kind, table in data.items():
        if kind not in KIND_FIELDS or not isinstance(table, dict):
            raise GlossaryError(path, f"unknown table [{kind}]; expected one of {sorted(KIND_FIELDS)}")
        for key, raw in table.items():
            if not isinstance(raw, dict):
                raise GlossaryError(path, f"[{kind}.{key}] must be a table")
            entries.append(_entry(path, kind, key, raw))
    return entries


def glossary_from_files(paths: Iterable[Path]) -> Glossary:
    """Build a :class:`Glossary` from explicit TOML files (later files override earlier keys)."""
    return Glossary(entry for path in paths for entry in read_glossary_file(path))


@functools.lru_cache(maxsize=1)
def load_glossary() -> Glossary:
    """The built-in glossary (``training/text/data``), loaded and validated once per process."""
    return glossary_from_files(DATA_DIR / name for name in GLOSSARY_FILES)


def missing_entries(source: str, labels: Mapping[str, object], glossary: Glossary | None = None) -> list[str]:
    """Label values of one clip that have no glossary entry, as ``"label=value"`` strings.

    For a CMU ``description`` the category and every comma-separated part must contain a known term.
    """
    gloss = glossary or load_glossary()
    missing = [f"{label}={value}" for label, value in labels.items()
               if label in LABEL_KINDS and gloss.for_label(label, value) is None]
    description = labels.get("description")
    if isinstance(description, str):
        parsed = gloss.parse_description(description)
        if parsed.category and parsed.category_entry is None:
            missing.append(f"description category={parsed.category} ({source})")
        missing.extend(f"description part={part} ({source})" for part in parsed.unmatched_parts())
    return missing

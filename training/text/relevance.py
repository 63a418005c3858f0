"""Relevance of windows to text queries, as the evaluation defines it, and the hand-written user queries.

A window counts as relevant to a query when its clip has the query's labels: the genre for ballroom and
Perfume, content + style for Bandai, the CMU description for CMU (:func:`label_key`). The hand-written
free-form queries of ``data/user_queries.json`` carry their own intended matches (:class:`UserQuery`):
they are held out from training and used by the evaluation only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from training.text.captions import CaptionError, source_family
from training.text.glossary import DATA_DIR, Glossary, load_glossary

USER_QUERY_FILE = DATA_DIR / "user_queries.json"


def label_key(source: str, labels: Mapping[str, object], merge_equivalent_styles: bool = False,
              glossary: Glossary | None = None) -> str:
    """The relevance key of a clip: ``genre=...``, ``content=...|style=...`` or ``description=...``.

    Keys do not name the source, so Bandai dataset-1 and dataset-2 clips with the same content and style
    share a key (and ballroom and Perfume clips of one genre would). With ``merge_equivalent_styles`` the
    styles the glossary marks as the same (``elderly`` = ``old``, ``exhausted`` = ``tired``,
    ``masculine`` = ``masculinity``) share a key too. Raises :class:`CaptionError` for labels that
    carry none of these.
    """
    family = source_family(source, labels)
    if family in ("ballroom", "perfume"):
        return f"genre={labels['genre']}"
    if family == "cmu":
        return f"description={labels['description']}"
    style = str(labels["style"])
    if merge_equivalent_styles:
        entry = (glossary or load_glossary()).get("style", style)
        style = entry.same_as if entry is not None and entry.same_as else style
    return f"content={labels['content']}|style={style}"


def try_label_key(source: str, labels: Mapping[str, object], merge_equivalent_styles: bool = False) -> str | None:
    """:func:`label_key`, or None for a clip whose labels carry no relevance key (unlabelled user data)."""
    try:
        return label_key(source, labels, merge_equivalent_styles)
    except CaptionError:
        return None


def is_relevant(query_source: str, query_labels: Mapping[str, object], source: str,
                labels: Mapping[str, object], merge_equivalent_styles: bool = False) -> bool:
    """Whether a window of a clip (``source``, ``labels``) is relevant to a query made from other labels.

    A clip without a relevance key is never relevant.
    """
    key = try_label_key(source, labels, merge_equivalent_styles)
    return key is not None and key == label_key(query_source, query_labels, merge_equivalent_styles)


class UserQueryError(ValueError):
    """The user query file is unreadable or malformed."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class LabelMatch:
    """One way a clip can match a query: an optional source, exact label values, substrings of labels."""

    source: str | None
    labels: Mapping[str, object]
    contains: Mapping[str, str]

    def matches(self, source: str, labels: Mapping[str, object]) -> bool:
        """Whether a clip of ``source`` with ``labels`` satisfies every condition."""
        if self.source is not None and source != self.source:
            return False
        if any(labels.get(k) != v for k, v in self.labels.items()):
            return False
        return all(v.lower() in str(labels.get(k, "")).lower() for k, v in self.contains.items())


@dataclass(frozen=True)
class UserQuery:
    """A hand-written free-form query and the label matches its author intended (any one suffices)."""

    query: str
    matches: tuple[LabelMatch, ...]
    note: str = ""

    def is_relevant(self, source: str, labels: Mapping[str, object]) -> bool:
        """Whether a window of a clip of ``source`` with ``labels`` answers this query."""
        return any(m.matches(source, labels) for m in self.matches)


def _label_match(path: Path, where: str, raw: object) -> LabelMatch:
    if not isinstance(raw, dict) or set(raw) - {"source", "labels", "contains"}:
        raise UserQueryError(path, f"{where}: a match must be an object with source, labels and/or contains")
    source, labels, contains = raw.get("source"), raw.get("labels", {}), raw.get("contains", {})
    if source is not None and not isinstance(source, str):
        raise UserQueryError(path, f"{where}: source must be a string")
    if not isinstance(labels, dict) or not isinstance(contains, dict):
        raise UserQueryError(path, f"{where}: labels and contains must be objects")
    if not all(isinstance(v, str) for v in contains.values()):
        raise UserQueryError(path, f"{where}: contains values must be strings")
    if source is None and not labels and not contains:
        raise UserQueryError(path, f"{where}: an empty match would match everything")
    return LabelMatch(source, dict(labels), dict(contains))


def _user_query(path: Path, index: int, raw: object) -> UserQuery:
    where = f"query #{index}"
    if not isinstance(raw, dict) or not isinstance(raw.get("query"), str) or not raw["query"].strip():
        raise UserQueryError(path, f"{where}: needs a non-empty string 'query'")
    matches = raw.get("match")
    if isinstance(matches, dict):
        matches = [matches]
    if not isinstance(matches, list) or not matches:
        raise UserQueryError(path, f"{where} ({raw['query']!r}): 'match' must be an object or a non-empty list")
    parsed = tuple(_label_match(path, f"{where} ({raw['query']!r})", m) for m in matches)
    return UserQuery(raw["query"].strip(), parsed, str(raw.get("note", "")))


def load_user_queries(path: Path | None = None) -> list[UserQuery]:
    """Read the hand-written user queries (default: the built-in file); errors name the file."""
    path = path or USER_QUERY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserQueryError(path, f"cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise UserQueryError(path, f"not valid JSON: {exc}") from exc
    if not isinstance(data, list) or not data:
        raise UserQueryError(path, "expected a non-empty JSON list of queries")
    queries = [_user_query(path, i, raw) for i, raw in enumerate(data)]
    seen: set[str] = set()
    for q in queries:
        if q.query.lower() in seen:
            raise UserQueryError(path, f"query {q.query!r} appears twice")
        seen.add(q.query.lower())
    return queries


def unmatched_user_queries(queries: Iterable[UserQuery],
                           clips: Iterable[tuple[str, Mapping[str, object]]]) -> list[str]:
    """Problems of queries whose match alternatives no clip satisfies (e.g. a label misspelt).

    ``clips`` are (source, labels) pairs, e.g. from the corpus manifest. Returns one line per alternative
    that matches nothing; an empty list means every alternative finds at least one clip.
    """
    clip_list = list(clips)
    return [f"{q.query!r}: no clip matches {m}" for q in queries for m in q.matches
            if not any(m.matches(source, labels) for source, labels in clip_list)]

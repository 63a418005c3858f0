"""Natural-language captions for labelled clips: varied training captions, held-out queries, one canonical line.

Corpus labels are terse (``rumba``, ``chimpira``, ``dance - coupe dessous, grand jete en tourant``) while
users type free phrases, so each clip gets many captions mixing label words, glossary synonyms and
"what it looks like" phrases (:mod:`training.text.glossary`) through templates
(:mod:`training.text.templates`). :func:`captions_for_labels` draws only from training phrasings and
:func:`eval_queries_for_labels` only from held-out ones; :func:`canonical_caption` is the deterministic
sentence used for display and in the description database.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Mapping, Sequence

from training.text.glossary import LABEL_KINDS, DescriptionPart, Entry, Glossary, Split, load_glossary
from training.text.templates import TemplateSet, load_templates

log = logging.getLogger(__name__)

Slot = Callable[[random.Random], str]

# Corpus sources by caption family: "ballroom" is the genre family (salsa's description only repeats its
# genre), "cmu" the family of free-text descriptions (CMU notes, DeepMimic clip names, idle takes).
SOURCE_FAMILIES = {"ballroom": "ballroom", "salsa": "ballroom", "perfume": "perfume", "bandai-1": "bandai",
                   "bandai-2": "bandai", "cmu": "cmu", "deepmimic": "cmu", "idle": "cmu"}
FAMILY_LABELS: dict[str, tuple[str, ...]] = {
    "ballroom": ("genre",), "bandai": ("content", "style"), "cmu": ("description",),
    "perfume": ("genre", "dancer", "routine"),
}
# Phrases for a label value the glossary does not know (a user's own library): only the raw word is used.
_FALLBACK: dict[str, dict[str, str]] = {
    "genre": {"names": "{v}", "looks": "dancing the {v}", "origins": "in the {v} tradition"},
    "content": {"verbs": "does a {v} motion", "gerunds": "doing a {v} motion", "nouns": "{v} motion",
                "looks": "performing a {v} movement"},
    "style": {"adjs": "{v}", "advs": "in a {v} way", "looks": "moving in a {v} manner"},
    "dancer": {"names": "{v}"},
    "routine": {"names": "{v}", "looks": "dancing the {v}"},
}
_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")
_SLOT = re.compile(r"{(\w+)}")


class CaptionError(ValueError):
    """A clip's labels do not carry what its caption family needs (e.g. bandai without a style)."""


def source_family(source: str, labels: Mapping[str, object]) -> str:
    """The caption family of a clip: ballroom, bandai, cmu or perfume (by source, else by its labels).

    Raises :class:`CaptionError` if the labels lack what that family needs.
    """
    family = SOURCE_FAMILIES.get(source)
    if family is None:
        if "content" in labels:
            family = "bandai"
        elif "description" in labels:
            family = "cmu"
        elif all(k in labels for k in FAMILY_LABELS["perfume"]):
            family = "perfume"
        elif "genre" in labels:
            family = "ballroom"
        else:
            raise CaptionError(f"source {source!r}: labels {sorted(labels)} have no genre, content and style, "
                               "or description to write captions from")
    missing = [k for k in FAMILY_LABELS[family] if not str(labels.get(k) or "").strip()]
    if missing:
        raise CaptionError(f"source {source!r}: {family} captions need labels {missing}; got {dict(labels)}")
    return family


def entry_for(glossary: Glossary, label: str, value: object) -> Entry:
    """The glossary entry of a label value, or a minimal stand-in built from the raw value."""
    entry = glossary.for_label(label, value)
    if entry is not None:
        return entry
    kind, text = LABEL_KINDS[label], str(value).replace("-", " ")
    log.debug("no glossary entry for %s=%s; captions use the raw word", label, value)
    phrases: dict[str, tuple[str, ...]] = {}
    for name, pattern in _FALLBACK[kind].items():
        phrases[name] = phrases[f"eval_{name}"] = (pattern.format(v=text),)
    return Entry(kind=kind, key=str(value), label=text, phrases=phrases)


def _choice(options: Sequence[str]) -> Slot:
    return lambda rng: rng.choice(options)


def _fixed(text: str) -> Slot:
    return lambda rng: text


def _genre_slots(glossary: Glossary, labels: Mapping[str, object], split: Split) -> dict[str, Slot]:
    genre = entry_for(glossary, "genre", labels["genre"])
    return {"genre": _fixed(genre.label), "genre_name": _choice(genre.pick("names", split)),
            "genre_look": _choice(genre.pick("looks", split)),
            "genre_origin": _choice(genre.pick("origins", split))}


def _bandai_slots(glossary: Glossary, labels: Mapping[str, object], split: Split) -> dict[str, Slot]:
    content = entry_for(glossary, "content", labels["content"])
    style = entry_for(glossary, "style", labels["style"])
    slots = {name: _choice(content.pick(field, split))
             for name, field in (("verb", "verbs"), ("gerund", "gerunds"), ("noun", "nouns"),
                                 ("content_look", "looks"))}
    slots.update({name: _choice(style.pick(field, split))
                  for name, field in (("adj", "adjs"), ("adv", "advs"), ("style_look", "looks"))})
    slots.update(content=_fixed(content.label), style=_fixed(style.label))
    return slots


def _render_part(part: DescriptionPart, mode: str, split: Split, rng: random.Random) -> str:
    """One description part in words: its terms' names, looks, or both; the raw text if no term is known."""
    if not part.terms:
        return part.text.replace("/", " or ")
    joiner = " or " if "/" in part.text else " and "
    if mode == "mixed":
        mode = rng.choice(("names", "looks", "both"))
    if mode == "both":
        return joiner.join(f"{rng.choice(t.entry.pick('names', split))} "
                           f"({rng.choice(t.entry.pick('looks', split))})" for t in part.terms)
    return joiner.join(rng.choice(t.entry.pick(mode, split)) for t in part.terms)


def _chain(steps: list[str], templates: TemplateSet, rng: random.Random) -> str:
    if len(steps) == 1:
        return steps[0]
    if len(steps) == 2:
        return rng.choice(templates.pair_joiners).format(a=steps[0], b=steps[1])
    return ", ".join(steps[:-1]) + rng.choice(templates.last_joiners) + steps[-1]


def _cmu_slots(glossary: Glossary, labels: Mapping[str, object], split: Split,
               templates: TemplateSet) -> tuple[dict[str, Slot], tuple[str, ...]]:
    parsed = glossary.parse_description(str(labels["description"]))

    def steps(mode: str) -> Slot:
        return lambda rng: _chain([_render_part(p, mode, split, rng) for p in parsed.parts], templates, rng)

    slots = {"description": _fixed(parsed.body()), "names": steps("names"), "looks": steps("looks"),
             "mixed": steps("mixed")}
    if parsed.category is None:
        return slots, ("cmu",)
    cat = parsed.category_entry
    slots["category_name"] = _choice(cat.pick("names", split)) if cat else _fixed(parsed.category)
    slots["category_look"] = _choice(cat.pick("looks", split)) if cat else _fixed(f"doing {parsed.category}")
    return slots, ("cmu", "cmu_category")


def _family_slots(source: str, labels: Mapping[str, object], split: Split, glossary: Glossary,
                  templates: TemplateSet) -> tuple[dict[str, Slot], tuple[str, ...]]:
    """Slot fillers of a clip and the template families that apply to it."""
    family = source_family(source, labels)
    dance = labels.get("dance") is True
    persons = {"ballroom": "persons_ballroom" if source == "ballroom" else "persons_dancer",
               "perfume": "persons_perfume", "bandai": "persons",
               "cmu": "persons_dance" if dance else "persons"}[family]
    families: tuple[str, ...] = (family,)
    if family == "bandai":
        slots = _bandai_slots(glossary, labels, split)
    elif family == "cmu":
        slots, families = _cmu_slots(glossary, labels, split, templates)
    else:
        slots = _genre_slots(glossary, labels, split)
    if family == "perfume":
        dancer = entry_for(glossary, "dancer", labels["dancer"])
        routine = entry_for(glossary, "routine", labels["routine"])
        slots.update(dancer=_choice(dancer.pick("names", split)),
                     routine_name=_choice(routine.pick("names", split)),
                     routine_look=_choice(routine.pick("looks", split)))
    slots["person"] = _choice(templates.persons[persons][split])
    return slots, families


def _finish(text: str) -> str:
    text = " ".join(text.split()).replace(" ,", ",")
    return _ARTICLE.sub(r"\1n ", text).strip()


def _fill(template: str, slots: Mapping[str, Slot], rng: random.Random) -> str:
    names = list(dict.fromkeys(_SLOT.findall(template)))  # first-appearance order keeps draws reproducible
    return _finish(template.format(**{name: slots[name](rng) for name in names}))


def _generate(source: str, labels: Mapping[str, object], rng: random.Random, n: int, split: Split,
              glossary: Glossary | None) -> list[str]:
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    templates = load_templates()
    slots, families = _family_slots(source, labels, split, glossary or load_glossary(), templates)
    pool = [t for family in families for t in templates.families[family][split]]
    unique: list[str] = []
    seen: set[str] = set()
    for _ in range(20 * n):
        if len(unique) == n:
            break
        text = _fill(rng.choice(pool), slots, rng)
        if text not in seen:
            seen.add(text)
            unique.append(text)
    return [unique[i % len(unique)] for i in range(n)] if unique else []


def captions_for_labels(source: str, labels: Mapping[str, object], rng: random.Random, n: int,
                        glossary: Glossary | None = None) -> list[str]:
    """``n`` training captions for a clip of ``source`` with ``labels``, drawn with ``rng``.

    Only training templates and phrases are used. The captions are distinct while the phrasing space
    allows (it then repeats them) and are reproducible for a given seed. Raises :class:`CaptionError`
    if the labels cannot be captioned.
    """
    return _generate(source, labels, rng, n, "train", glossary)


def eval_queries_for_labels(source: str, labels: Mapping[str, object], rng: random.Random, n: int,
                            glossary: Glossary | None = None) -> list[str]:
    """``n`` held-out queries for a clip's labels: eval templates and eval phrases only.

    No query uses a training template or a training synonym; the label word itself may appear.
    """
    return _generate(source, labels, rng, n, "eval", glossary)


def _sentence(text: str) -> str:
    text = _finish(text)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def canonical_caption(source: str, labels: Mapping[str, object], glossary: Glossary | None = None) -> str:
    """One plain, deterministic sentence describing a clip's labels (display and description database)."""
    gloss = glossary or load_glossary()
    family = source_family(source, labels)
    if family == "bandai":
        content = entry_for(gloss, "content", labels["content"])
        style = entry_for(gloss, "style", labels["style"])
        return _sentence(f"a person {content.canonical('verbs')} {style.canonical('advs')}, "
                         f"{style.canonical('looks')}")
    if family == "cmu":
        parsed = gloss.parse_description(str(labels["description"]))
        who = "a dancer" if labels.get("dance") is True else "a person"
        if parsed.category and parsed.category != "dance":
            who += f" ({parsed.category})"
        looks = ", then ".join(
            " or ".join(t.entry.canonical("looks") for t in p.terms) if p.terms else p.text for p in parsed.parts)
        return _sentence(f"{who}: {parsed.body()} - {looks}")
    genre = entry_for(gloss, "genre", labels["genre"])
    if family == "perfume":
        dancer = entry_for(gloss, "dancer", labels["dancer"])
        routine = entry_for(gloss, "routine", labels["routine"])
        return _sentence(f"{dancer.label} of Perfume dancing the {routine.label}, a {genre.label}, "
                         f"{genre.canonical('looks')}")
    return _sentence(f"a dancer performing the {genre.label}, {genre.canonical('looks')}")

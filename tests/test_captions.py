"""Tests of the text side of the training data: glossary coverage, captions, train/eval separation,
relevance keys, the hand-written user queries and the KIT-ML loader."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping
from pathlib import Path

import pytest

from training.text import (
    CaptionError,
    GlossaryError,
    KitMLError,
    UserQueryError,
    canonical_caption,
    caption_templates,
    captions_for_labels,
    eval_queries_for_labels,
    is_relevant,
    kitml_sentences,
    label_key,
    load_glossary,
    load_kitml,
    load_user_queries,
    missing_entries,
    unmatched_user_queries,
)
from training.text.captions import source_family
from training.text.glossary import Split, read_glossary_file
from training.text.templates import SHARED_SLOTS, read_templates, template_slots

CORPUS = Path(os.environ.get("DANCESEARCH_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
needs_corpus = pytest.mark.skipif(not (CORPUS / "manifest.json").is_file(),
                                  reason=f"corpus manifest not found under {CORPUS} (set DANCESEARCH_CORPUS)")
IGNORED_LABELS = {"subject", "trial"}


def _label_sets() -> list[tuple[str, dict[str, object]]]:
    """Distinct (source, labels) of the manifest, without per-trial ids."""
    sequences = json.loads((CORPUS / "manifest.json").read_text())["sequences"]
    unique: dict[str, tuple[str, dict[str, object]]] = {}
    for seq in sequences:
        labels = {k: v for k, v in seq["labels"].items() if k not in IGNORED_LABELS}
        unique.setdefault(seq["source"] + json.dumps(labels, sort_keys=True), (seq["source"], labels))
    return list(unique.values())


@pytest.fixture(scope="module")
def label_sets() -> list[tuple[str, dict[str, object]]]:
    return _label_sets()


def _phrase_groups(source: str, labels: Mapping[str, object], split: Split) -> list[set[str]]:
    """Phrase groups a caption must hit (one phrase of each group), lower-cased."""
    gloss = load_glossary()

    def entry_phrases(label: str) -> set[str]:
        entry = gloss.for_label(label, labels[label])
        assert entry is not None
        return {p.lower() for p in (*entry.all_phrases(split), entry.key)}

    family = source_family(source, labels)
    if family == "bandai":
        return [entry_phrases("content"), entry_phrases("style")]
    if family == "cmu":
        groups = []
        for part in gloss.parse_description(str(labels["description"])).parts:
            group = {part.text.lower().replace("/", " or ")}
            for term in part.terms:
                group |= {p.lower() for p in term.entry.all_phrases(split)}
            groups.append(group)
        return groups
    if family == "perfume":
        return [entry_phrases("genre") | entry_phrases("dancer") | entry_phrases("routine")]
    return [entry_phrases("genre")]


# ---------------------------------------------------------------- glossary coverage

@needs_corpus
def test_every_manifest_label_value_has_a_glossary_entry(label_sets: list) -> None:
    missing = sorted({m for source, labels in label_sets for m in missing_entries(source, labels)})
    assert not missing, f"label values without a glossary entry: {missing}"


@needs_corpus
def test_every_bandai_content_and_style_of_the_label_files_has_an_entry() -> None:
    gloss, missing = load_glossary(), []
    for dataset in ("dataset-1", "dataset-2"):
        for kind in ("content", "style"):
            path = CORPUS / "bandai" / dataset / "cfg" / f"{kind}_label.txt"
            values = [v.strip().removeprefix(f"{dataset}_") for v in path.read_text().split() if v.strip()]
            assert values, path
            missing += [f"{dataset} {kind}={v}" for v in values if gloss.get(kind, v) is None]
    assert not missing, f"Bandai label values without a glossary entry: {missing}"


def test_cmu_terms_prefer_the_longest_match() -> None:
    parsed = load_glossary().parse_description("dance - coupe dessous, grand jete en tourant, attitude/arabesque")
    assert parsed.category == "dance"
    assert [[t.entry.key for t in p.terms] for p in parsed.parts] == [
        ["coupe dessous"], ["grand jete en tourant"], ["attitude", "arabesque"]]
    assert load_glossary().parse_description("walk").category is None


# ---------------------------------------------------------------- captions

@needs_corpus
def test_captions_are_varied_deterministic_and_name_their_labels(label_sets: list) -> None:
    for source, labels in label_sets:
        captions = captions_for_labels(source, labels, random.Random(7), 30)
        assert captions == captions_for_labels(source, labels, random.Random(7), 30)
        assert captions != captions_for_labels(source, labels, random.Random(8), 30)
        assert len(captions) == 30 and len(set(captions)) >= 20, (source, labels, captions)
        for caption in captions:
            low = caption.lower()
            for group in _phrase_groups(source, labels, "train"):
                assert any(p in low for p in group), (source, labels, caption, sorted(group)[:5])


def test_caption_examples_read_naturally() -> None:
    captions = captions_for_labels("bandai-2", {"content": "walk", "style": "exhausted"}, random.Random(0), 40)
    assert any("walk" in c and ("weary" in c or "exhausted" in c or "drag" in c) for c in captions)
    assert not any(" a exhausted" in c or " a old" in c for c in captions)
    waltz = captions_for_labels("ballroom", {"genre": "waltz", "dance": True}, random.Random(0), 40)
    assert sum("waltz" in c for c in waltz) >= 20
    cmu = captions_for_labels("cmu", {"description": "dance - expressive arms, pirouette", "dance": True},
                              random.Random(0), 40)
    assert any("spinning" in c for c in cmu) and any("pirouette" in c for c in cmu)


@needs_corpus
def test_canonical_caption_is_one_deterministic_sentence(label_sets: list) -> None:
    for source, labels in label_sets:
        text = canonical_caption(source, labels)
        assert text == canonical_caption(source, labels) and text.endswith(".") and text[0].isupper()
        low = text.lower()
        assert all(any(p in low for p in group) for group in _phrase_groups(source, labels, "train")), text
    assert canonical_caption("ballroom", {"genre": "rumba"}).startswith("A dancer performing the rumba")


def test_unknown_labels_fall_back_to_the_raw_word_and_unusable_labels_raise() -> None:
    captions = captions_for_labels("my-library", {"genre": "salsa"}, random.Random(0), 10)
    assert len(set(captions)) == 10 and sum("salsa" in c for c in captions) >= 5
    with pytest.raises(CaptionError, match="bandai-1"):
        captions_for_labels("bandai-1", {"content": "walk"}, random.Random(0), 3)
    with pytest.raises(CaptionError, match="my-library"):
        captions_for_labels("my-library", {"tempo": "fast"}, random.Random(0), 3)


# ---------------------------------------------------------------- strict train/eval separation

def test_eval_templates_are_disjoint_from_training_templates() -> None:
    train, held_out = caption_templates("train"), caption_templates("eval")
    all_train = {t for ts in train.values() for t in ts}
    for family, templates in held_out.items():
        assert templates, family
        assert not set(templates) & all_train, family
        assert all(template_slots(t) - SHARED_SLOTS for t in templates), family


def test_eval_phrases_are_disjoint_from_training_phrases() -> None:
    for kind, entries in load_glossary().kinds().items():
        for entry in entries.values():
            train = {p.lower() for p in entry.all_phrases("train")} - {entry.label.lower()}
            held_out = {p.lower() for p in entry.all_phrases("eval")} - {entry.label.lower()}
            assert held_out and not train & held_out, (kind, entry.key, train & held_out)


@needs_corpus
def test_no_eval_query_is_a_training_caption(label_sets: list) -> None:
    for source, labels in label_sets:
        train = set(captions_for_labels(source, labels, random.Random(1), 300))
        queries = eval_queries_for_labels(source, labels, random.Random(2), 40)
        assert len(set(queries)) >= 10, (source, labels, queries)
        assert not train & set(queries), (source, labels, train & set(queries))
        for query in queries:
            for group in _phrase_groups(source, labels, "eval"):
                assert any(p in query.lower() for p in group), (source, labels, query)


# ---------------------------------------------------------------- relevance

def _bare(text: str) -> str:
    """Lower-case, without a leading article or final full stop: near-identical strings compare equal."""
    words = text.lower().rstrip(".").split()
    return " ".join(words[1:] if words and words[0] in ("a", "an", "the") else words)


def test_label_key_follows_the_relevance_definition() -> None:
    assert label_key("ballroom", {"genre": "waltz", "dance": True}) == "genre=waltz"
    assert label_key("perfume", {"genre": "j-pop group dance", "dancer": "nocchi",
                                 "routine": "perfume-global-site"}) == "genre=j-pop group dance"
    assert label_key("bandai-1", {"content": "walk", "style": "sad"}) == "content=walk|style=sad"
    assert label_key("cmu", {"description": "walk", "subject": 2}) == "description=walk"
    assert is_relevant("bandai-1", {"content": "walk", "style": "normal"},
                       "bandai-2", {"content": "walk", "style": "normal"})
    assert not is_relevant("bandai-1", {"content": "walk", "style": "old"},
                           "bandai-2", {"content": "walk", "style": "elderly"})
    assert is_relevant("bandai-1", {"content": "walk", "style": "old"},
                       "bandai-2", {"content": "walk", "style": "elderly"}, merge_equivalent_styles=True)
    assert not is_relevant("ballroom", {"genre": "waltz"}, "user", {})
    with pytest.raises(CaptionError):
        label_key("cmu", {"dance": True})


@needs_corpus
def test_user_queries_are_valid_held_out_and_match_the_manifest(label_sets: list) -> None:
    queries = load_user_queries()
    assert len(queries) >= 40
    problems = unmatched_user_queries(queries, label_sets)
    assert not problems, problems
    texts = {_bare(q.query) for q in queries}
    for source, labels in label_sets:
        for caption in captions_for_labels(source, labels, random.Random(3), 100):
            assert _bare(caption) not in texts, caption
    sad_walk = next(q for q in queries if q.query.startswith("sad walk"))
    assert sad_walk.is_relevant("bandai-1", {"content": "walk", "style": "sad"})
    assert not sad_walk.is_relevant("bandai-1", {"content": "run", "style": "sad"})


def test_bad_user_query_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "queries.json"
    bad.write_text("[{\"query\": \"x\"")
    with pytest.raises(UserQueryError, match="queries.json: not valid JSON"):
        load_user_queries(bad)
    bad.write_text(json.dumps([{"query": "a sad walk"}]))
    with pytest.raises(UserQueryError, match="'match' must be"):
        load_user_queries(bad)
    bad.write_text(json.dumps([{"query": "anything", "match": {}}]))
    with pytest.raises(UserQueryError, match="match everything"):
        load_user_queries(bad)
    queries = [q for q in load_user_queries() if q.query == "pirouette"]
    assert unmatched_user_queries(queries, [("cmu", {"description": "walk"})])


# ---------------------------------------------------------------- data file validation

def test_glossary_file_errors_name_the_file_and_entry(tmp_path: Path) -> None:
    path = tmp_path / "glossary.toml"
    path.write_text('[style.sleepy]\nadjs = ["sleepy"]\neval_adjs = ["Sleepy"]\nadvs = ["a"]\n'
                    'eval_advs = ["b"]\nlooks = ["c"]\neval_looks = ["d"]\n')
    with pytest.raises(GlossaryError, match=r"glossary.toml: \[style.sleepy\] eval phrases also used"):
        read_glossary_file(path)
    path.write_text('[mood.sleepy]\nnames = ["x"]\n')
    with pytest.raises(GlossaryError, match="unknown table"):
        read_glossary_file(path)
    path.write_text("[style.sleepy\n")
    with pytest.raises(GlossaryError, match="not valid TOML"):
        read_glossary_file(path)


def test_template_file_errors_name_the_file(tmp_path: Path) -> None:
    good = (Path(__file__).resolve().parents[1] / "training" / "text" / "data" / "templates.toml").read_text()
    path = tmp_path / "templates.toml"
    path.write_text(good.replace('"{category_name}: {names}"', '"{person} {looks}"'))
    with pytest.raises(GlossaryError, match="templates.toml: eval templates also used for training"):
        read_templates(path)
    path.write_text(good.replace('"clip of a {genre_name}"', '"clip of a {genre}"'))
    with pytest.raises(GlossaryError, match="fills no held-out slot"):
        read_templates(path)
    path.write_text(good.replace('"clip of a {genre_name}"', '"clip of a {tempo}"'))
    with pytest.raises(GlossaryError, match="unknown slots"):
        read_templates(path)


# ---------------------------------------------------------------- KIT-ML

def _tiny_kitml(root: Path) -> Path:
    (root / "text" / "kitml_splits").mkdir(parents=True)
    annotations = {
        "00001": {"path": "a", "duration": 2.0, "annotations": [{"seg_id": "1", "text": " A person  walks.",
                                                                  "start": 0.0, "end": 2.0}]},
        "00002": {"path": "b", "duration": 1.0, "annotations": [{"seg_id": "2", "text": "A person walks.",
                                                                  "start": 0.0, "end": 1.0}]},
        "00003": {"path": "c", "duration": 1.0, "annotations": [{"seg_id": "3", "text": "someone jumps"}]},
    }
    (root / "text" / "kitml_annotations.json").write_text(json.dumps(annotations))
    (root / "text" / "kitml_splits" / "train.txt").write_text("00001\n00002\n")
    (root / "text" / "kitml_splits" / "val.txt").write_text("00003\n00009\n")
    return root


def test_kitml_loader_reads_train_sentences_and_refuses_test(tmp_path: Path) -> None:
    root = _tiny_kitml(tmp_path)
    assert kitml_sentences(root) == ["A person walks."]
    assert kitml_sentences(root, unique=False) == ["A person walks.", "A person walks."]
    assert load_kitml(root)[0].end == 2.0
    with pytest.raises(KitMLError, match="kitml_annotations.json: 1 ids of the val split"):
        load_kitml(root, "val")
    with pytest.raises(ValueError, match="test split is never used"):
        load_kitml(root, "test")  # type: ignore[arg-type]
    (root / "text" / "kitml_splits" / "train.txt").unlink()
    with pytest.raises(KitMLError, match="train.txt: cannot read"):
        load_kitml(root)


@needs_corpus
def test_kitml_corpus_train_split_is_large_and_separate_from_test() -> None:
    sentences = load_kitml(CORPUS, "train")
    assert len({s.text for s in sentences}) > 3000
    test_ids = set((CORPUS / "text" / "kitml_splits" / "test.txt").read_text().split())
    assert not {s.motion_id for s in sentences} & test_ids

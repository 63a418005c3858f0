"""What an archive already says about its clips, as two search signals for hybrid text search.

A clip's *metadata* is its file and folder names (relative to the ingest root, the root's own name
included), its label keys and values and its description. Two signals are derived from it:

* **keywords**: an in-process BM25 index (k1 = 1.2, b = 0.75) over the words of the metadata. Names are
  split on underscores, hyphens, dots, CamelCase and letter/digit boundaries (``SlowWaltz_Turn2`` ->
  slow waltz turn 2); words are lower-cased and stemmed by a small suffix stripper (walks, walking,
  walked -> walk; dances, dancing -> danc); adjacent words of one field also index their concatenation,
  so "hip-hop", "hip hop" and "hiphop" meet. English stop words, generic archive words (take, clip,
  mocap, bvh, dataset, ...) and numbers are not indexed. It is rebuilt from the database at every sync
  (open, ingest, delete, reindex): a few milliseconds for thousands of clips, and identical on SQLite
  and PostgreSQL (why not FTS5 / tsvector: docs/hybrid.md).
* **meaning**: the metadata words (label values, path words, description) embedded once with the
  model's text encoder (``SearchModel.embed_texts``, the encoder that reads queries), kept in the
  ``metadata`` index (``DATA_DIR/indexes/metadata/``, ids = clip ids); the ``clip_texts`` table records
  which text each clip's vector was made from and by which model version, so a relabelled clip or
  another model re-embeds exactly what changed, the same consistency rule as the other indexes.

A clip whose metadata has no informative word (``take_001.bvh``, no labels) has no keyword entry and
no vector: hybrid search then ranks it by motion alone (:func:`fuse`).
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select

from db.library import Library
from db.models import Clip, ClipText, Source
from search.ann import AnnIndex, create
from search.ann.exact import ExactIndex
from search.embedder import SearchModel
from search.indexes import current_index

logger = logging.getLogger(__name__)

METADATA = "metadata"
MODES = ("hybrid", "motion", "keyword")

STOPWORDS = frozenset("""
a an and are as at be been being but by can could did do does doing for from had has have he her his how i
if in into is it its me my of on or our out over she so some than that the their them then there these they
this those through to too under up very was we were what when where which while who whom why will with
without you your someone somebody person people one ones something thing things way like just also
""".split())
"""English stop words (and the fillers of descriptions: "someone", "a person", "a way")."""

GENERIC_WORDS = frozenset("""
take takes clip clips motion motions mocap capture captured file files trial trials seq sequence sequences
dataset datasets data corpus archive archives library bvh npz json gz glb gltf fbx c3d trc skeleton
skeletons untitled export exported final copy rec recording recordings tmp temp anim anims animation
animations sample samples synthetic test train val none true false null unknown misc other default
""".split())
"""Words that name files, not movement: never indexed, and a clip having only these is uninformative."""

_FIELD_SPLIT = re.compile(r"[^0-9A-Za-z\u00C0-\uFFFF]+")
_CAMEL = re.compile(r"(?<=[a-z\u00DF-\u00FF])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_SUFFIXES = (".gz", ".bvh", ".npz", ".json", ".glb", ".gltf")
BM25_K1 = 1.2
BM25_B = 0.75
TEXT_BATCH = 256


# ---- words ---------------------------------------------------------------------------------------

def split_words(text: str) -> list[str]:
    """Lower-case words of a text or a name: separators, CamelCase and letter/digit boundaries split."""
    out: list[str] = []
    for part in _FIELD_SPLIT.split(text):
        out += [w.lower() for w in _CAMEL.split(part) if w]
    return out


def _undouble(w: str) -> str:
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouslz":
        return w[:-1]
    return w


def stem(word: str) -> str:
    """A light English suffix stripper: plurals, -ing, -ed, -ly, final -e, doubled consonants."""
    w = word
    if len(w) <= 3 or not w.isalpha():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(("sses", "xes", "ches", "shes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ingly", "edly", "ing", "ed"):
        base = w[:-len(suffix)]
        if w.endswith(suffix) and len(base) >= 3 and re.search(r"[aeiouy]", base) and not base.endswith("e"):
            w = _undouble(base)
            break
    if w.endswith("ly") and len(w) > 5:
        w = w[:-2]
    if w.endswith("y") and len(w) > 3:
        w = w[:-1] + "i"
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return _undouble(w)


def informative(word: str) -> bool:
    """Whether a (lower-case) word can carry meaning: not a stop word, generic archive word or number."""
    return len(word) > 1 and not word.isdigit() and word not in STOPWORDS and word not in GENERIC_WORDS


def field_terms(words: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """``(term, surface words)`` of one field: each informative word's stem, and the stem of each
    adjacent pair of informative words joined ("hip", "hop" -> "hiphop")."""
    out: list[tuple[str, tuple[str, ...]]] = []
    prev: str | None = None
    for w in words:
        if not informative(w):
            prev = None
            continue
        out.append((stem(w), (w,)))
        if prev is not None and prev.isalpha() and w.isalpha():
            out.append((stem(prev + w), (prev, w)))
        prev = w
    return out


def query_terms(text: str) -> list[str]:
    """The distinct index terms of a query (same analysis as a clip's fields)."""
    return list(dict.fromkeys(term for term, _ in field_terms(split_words(text))))


# ---- a clip's metadata ---------------------------------------------------------------------------

def path_fields(path: str, root: str | None) -> list[str]:
    """Folder and file names of a clip worth reading: relative to ``root`` (its own name kept), else
    the file and its two parent folders; the file's motion suffixes are dropped."""
    pure: PurePath = PureWindowsPath(path) if "\\" in path and "/" not in path else PurePosixPath(path)
    parts = list(pure.parts)
    if root:
        root_parts = list((PureWindowsPath(root) if isinstance(pure, PureWindowsPath) else PurePosixPath(root)).parts)
        if len(parts) > len(root_parts) and parts[:len(root_parts)] == root_parts:
            parts = [root_parts[-1], *parts[len(root_parts):]]
        else:
            parts = parts[-3:]
    else:
        parts = parts[-3:]
    name = parts[-1] if parts else ""
    lowered = name.lower()
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if lowered.endswith(suffix) and len(lowered) > len(suffix):
                name, lowered, changed = name[:-len(suffix)], lowered[:-len(suffix)], True
    return [p for p in [*parts[:-1], name] if p and p not in ("/", "\\")]


def label_fields(labels: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(keys, values) of the labels as text; a true boolean label reads as its key, a false one not at all."""
    keys, values = [], []
    for key, value in labels.items():
        if value is False or value is None:
            continue
        keys.append(str(key))
        if value is not True:
            values.append(" ".join(map(str, value)) if isinstance(value, list | tuple) else str(value))
    return keys, values


@dataclass
class ClipDoc:
    """The analysed metadata of one clip: index term counts, surface words per term, embedding text."""

    clip_id: int
    terms: Counter[str] = field(default_factory=Counter)
    surface: dict[str, set[str]] = field(default_factory=dict)
    text: str = ""

    @property
    def length(self) -> int:
        return sum(self.terms.values())


def clip_doc(clip_id: int, path: str, root: str | None, labels: Mapping[str, Any], description: str | None) -> ClipDoc:
    """Analyse one clip's metadata. ``text`` (what is embedded) is the informative words of the label
    values, the path and the description in that order, each once; empty when there are none."""
    keys, values = label_fields(labels)
    fields = [*values, *path_fields(path, root), description or "", *keys]
    doc = ClipDoc(clip_id)
    for f in fields:
        for term, surface in field_terms(split_words(f)):
            doc.terms[term] += 1
            doc.surface.setdefault(term, set()).update(surface)
    words: dict[str, None] = {}
    for f in [*values, *path_fields(path, root), description or ""]:
        for w in split_words(f):
            if informative(w) and not w.isdigit():
                words.setdefault(w)
    doc.text = " ".join(words)
    return doc


DocCache = dict[int, tuple[tuple[Any, ...], ClipDoc]]


def library_docs(lib: Library, cache: DocCache | None = None) -> dict[int, ClipDoc]:
    """The analysed metadata of every clip of the library, by clip id. With ``cache`` (kept by the caller
    between calls), a clip whose path, root, labels and description are unchanged is not analysed again:
    a sync after one ingest or delete re-reads the rows but analyses only what changed."""
    with lib.session() as s:
        rows = s.execute(select(Clip.id, Clip.path, Clip.labels, Clip.description, Source.root)
                         .join(Source, Clip.source_id == Source.id).order_by(Clip.id)).all()
    out: dict[int, ClipDoc] = {}
    for r in rows:
        clip_id, labels = int(r.id), dict(r.labels or {})
        key = (r.path, r.root, labels, r.description)
        hit = cache.get(clip_id) if cache is not None else None
        if hit is not None and hit[0] == key:
            out[clip_id] = hit[1]
            continue
        out[clip_id] = clip_doc(clip_id, r.path, r.root, labels, r.description)
        if cache is not None:
            cache[clip_id] = (key, out[clip_id])
    if cache is not None:
        for gone in set(cache) - set(out):
            del cache[gone]
    return out


# ---- BM25 ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeywordMatch:
    """A clip's BM25 score, normalised (0..1, see :meth:`KeywordIndex.search`), and (``terms``, looked up
    when asked) the clip's words that matched."""

    score: float
    raw: float
    surface: Mapping[str, set[str]] = field(repr=False, default_factory=dict)
    query: tuple[str, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(sorted({w for t in self.query for w in self.surface.get(t, ())}))


class KeywordIndex:
    """BM25 over clip documents: per term, the clips holding it and their BM25 term weights (NumPy)."""

    def __init__(self, docs: Iterable[ClipDoc] = ()) -> None:
        self.docs = {d.clip_id: d for d in docs if d.terms}
        self.clip_ids = np.array(sorted(self.docs), dtype=np.int64)
        self.n = len(self.docs)
        self.avgdl = (sum(d.length for d in self.docs.values()) / self.n) if self.n else 0.0
        rows: dict[str, tuple[list[int], list[float]]] = {}
        for row, clip_id in enumerate(self.clip_ids.tolist()):
            doc = self.docs[clip_id]
            norm = BM25_K1 * (1.0 - BM25_B + BM25_B * doc.length / self.avgdl)
            for term, tf in doc.terms.items():
                entry = rows.setdefault(term, ([], []))
                entry[0].append(row)
                entry[1].append(tf * (BM25_K1 + 1.0) / (tf + norm))
        self.postings = {t: (np.array(r, dtype=np.int64), np.array(w)) for t, (r, w) in rows.items()}

    def __len__(self) -> int:
        return self.n

    def idf(self, term: str) -> float:
        df = len(self.postings[term][0]) if term in self.postings else 0
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def search(self, text: str) -> KeywordResult:
        """Every clip matching a word of ``text``: BM25 over the query's terms, normalised by the sum of
        the idf of the query terms the library knows (a clip holding each of them once, at average
        length, scores 1; capped at 1)."""
        terms = [t for t in query_terms(text) if t in self.postings]
        if not terms:
            return KeywordResult(self, np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), ())
        raw = np.zeros(self.n)
        idfs = [self.idf(t) for t in terms]
        for term, idf in zip(terms, idfs, strict=True):
            rows, weights = self.postings[term]
            raw[rows] += idf * weights
        hit = np.flatnonzero(raw > 0)
        norm = sum(idfs)
        scores = np.minimum(1.0, raw[hit] / norm) if norm > 0 else np.zeros(hit.size)
        return KeywordResult(self, self.clip_ids[hit], scores, raw[hit], tuple(terms))


class KeywordResult:
    """The clips a query's words matched (sorted clip ids, normalised and raw BM25 scores)."""

    def __init__(self, index: KeywordIndex, clip_ids: np.ndarray, scores: np.ndarray, raw: np.ndarray,
                 terms: tuple[str, ...]) -> None:
        self.index, self.clip_ids, self.scores, self.raw, self.terms = index, clip_ids, scores, raw, terms

    def __len__(self) -> int:
        return int(self.clip_ids.size)

    def get(self, clip_id: int) -> KeywordMatch | None:
        pos = int(np.searchsorted(self.clip_ids, clip_id))
        if pos >= self.clip_ids.size or self.clip_ids[pos] != clip_id:
            return None
        return KeywordMatch(float(self.scores[pos]), float(self.raw[pos]), self.index.docs[clip_id].surface,
                            self.terms)

    def ranked(self) -> list[int]:
        """Matching clip ids, best score first (ties by id)."""
        return [int(self.clip_ids[i]) for i in np.lexsort((self.clip_ids, -self.scores))]

    def as_dict(self) -> dict[int, KeywordMatch]:
        return {c: m for c in self.clip_ids.tolist() if (m := self.get(c)) is not None}


# ---- fusion --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fusion:
    """How hybrid search adds the metadata signals to a clip's motion score (a calibrated weighted sum):

    ``fused = motion + keyword_weight * keyword + meaning_weight * max(0, sim - meaning_floor) / (1 - meaning_floor)``

    ``keyword`` is the normalised BM25 score (0..1), ``sim`` the cosine between the query and the
    clip's metadata text in the text encoder's space; similarities under the floor (unrelated texts)
    add nothing, so a clip whose metadata says nothing relevant keeps exactly its motion score and
    order. At most ``candidates`` clips per signal join the motion candidates. Chosen on the corpus
    ``val`` split (docs/hybrid.md): with the refitted text head of 2026-12-01 the meaning signal no longer
    helped there (best grid variant keyword 0.3, meaning 0), so the default weighs it 0; it stays available."""

    keyword_weight: float = 0.3
    meaning_weight: float = 0.0
    meaning_floor: float = 0.5
    candidates: int = 100

    def meaning(self, sim: float) -> float:
        return max(0.0, sim - self.meaning_floor) / (1.0 - self.meaning_floor)

    def boost(self, keyword: float, sim: float | None) -> float:
        return self.keyword_weight * keyword + (0.0 if sim is None else self.meaning_weight * self.meaning(sim))

    def boosts(self, keyword: KeywordResult, sim_ids: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sorted clip ids, boost > 0) of every clip the keywords or the metadata meaning lift."""
        meaning = self.meaning_weight * np.maximum(0.0, sims - self.meaning_floor) / (1.0 - self.meaning_floor)
        lifted = meaning > 0
        ids = np.union1d(keyword.clip_ids, sim_ids[lifted])
        boost = np.zeros(ids.size)
        if ids.size:
            boost[np.searchsorted(ids, keyword.clip_ids)] += self.keyword_weight * keyword.scores
            boost[np.searchsorted(ids, sim_ids[lifted])] += meaning[lifted]
        keep = boost > 0
        return ids[keep], boost[keep]


DEFAULT_FUSION = Fusion()


# ---- the persistent metadata index ---------------------------------------------------------------

@dataclass
class MetadataReport:
    """What one sync did to the metadata signals (the shape of :class:`search.indexes.SyncReport`)."""

    name: str = METADATA
    rebuilt: bool = False
    reason: str | None = None
    embedded: int = 0
    removed: int = 0
    size: int = 0
    backend: str = "exact"
    keyword_clips: int = 0
    uninformative_clips: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MetadataIndex:
    """The keyword index (memory) and the metadata vectors (``DATA_DIR/indexes/metadata/``) of a library."""

    def __init__(self, library: Library, model: SearchModel, root: Any) -> None:
        from pathlib import Path

        self.lib, self.model, self.path = library, model, Path(root) / METADATA
        self.vectors: AnnIndex | None = None
        self.keywords = KeywordIndex()
        self.docs: dict[int, ClipDoc] = {}
        self._doc_cache: DocCache = {}
        self.matrix_ids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, int(model.dim)), dtype=np.float32)

    def sync(self, rebuild: bool = False) -> MetadataReport:
        """Re-read every clip's metadata; rebuild BM25; embed the texts that are new or changed (all
        of them when ``rebuild`` or the saved index is unusable); drop vectors of gone or emptied clips."""
        report = MetadataReport()
        docs = library_docs(self.lib, self._doc_cache)
        self.docs = docs
        self.keywords = KeywordIndex(docs.values())
        report.keyword_clips = len(self.keywords)
        report.uninformative_clips = sum(1 for d in docs.values() if not d.text)
        version = self.model.version
        index, report.reason = (None, "rebuild requested") if rebuild else self._usable()
        with self.lib.session() as s:
            stored = {int(r.clip_id): (r.text, r.model_version)
                      for r in s.execute(select(ClipText.clip_id, ClipText.text, ClipText.model_version))}
        if index is None:
            report.rebuilt = True
            index = create("exact", int(self.model.dim), metadata={"kind": METADATA, "model_version": version})
            have = np.zeros(0, dtype=np.int64)
        else:
            have = index.ids()
        ok = {c for c, d in docs.items() if d.text and stored.get(c) == (d.text, version)}
        ok_ids = np.array(sorted(ok), dtype=np.int64)
        stale = np.setdiff1d(have, ok_ids)
        report.removed = index.remove(stale) if stale.size else 0
        have = np.intersect1d(have, ok_ids)
        have_set = set(have.tolist())
        todo = [c for c, d in docs.items() if d.text and c not in have_set]
        for i in range(0, len(todo), TEXT_BATCH):
            part = todo[i:i + TEXT_BATCH]
            vectors = np.asarray(self.model.embed_texts([docs[c].text for c in part]), dtype=np.float32)
            if vectors.shape != (len(part), index.dim) or not np.isfinite(vectors).all():
                raise ValueError(f"model returned metadata embeddings of shape {vectors.shape}")
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            index.add(vectors, np.array(part, dtype=np.int64))
            report.embedded += len(part)
        wanted = {c: (d.text, version if d.text else None) for c, d in docs.items()}
        changed = [c for c, row in wanted.items() if stored.get(c) != row]
        gone = [c for c in stored if c not in docs]
        if changed or gone:
            with self.lib.session() as s:
                drop = changed + gone
                for i in range(0, len(drop), 5000):
                    s.execute(delete(ClipText).where(ClipText.clip_id.in_(drop[i:i + 5000])))
                if changed:
                    s.execute(insert(ClipText), [{"clip_id": c, "text": wanted[c][0], "model_version": wanted[c][1]}
                                                 for c in changed])
        if report.rebuilt or report.embedded or report.removed:
            index.save(self.path)
        self.vectors = index
        order = np.argsort(index.ids())
        self.matrix_ids = index.ids()[order]
        if not isinstance(index, ExactIndex):
            raise TypeError(f"the metadata index must be exact, not {index.backend!r}")
        self.matrix = np.ascontiguousarray(index.vectors()[order], dtype=np.float32)
        report.size = len(index)
        return report

    def _usable(self) -> tuple[AnnIndex | None, str | None]:
        return current_index(self.vectors, self.path, METADATA, self.model, check_dim=True)

    def similarity_all(self, qvec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(clip ids, cosine with the unit query vector) of every clip with a metadata vector."""
        if self.matrix_ids.size == 0:
            return self.matrix_ids, np.zeros(0)
        # einsum, not BLAS: a threaded gemv pays thread wake-ups worth more than this small product.
        return self.matrix_ids, np.einsum("ij,j->i", self.matrix, np.asarray(qvec, dtype=np.float32).reshape(-1))

    def similarities(self, qvec: np.ndarray, limit: int) -> dict[int, float]:
        """Cosine of the (unit) query vector with the metadata vectors: the ``limit`` best clips."""
        index = self.vectors
        if index is None or len(index) == 0:
            return {}
        scores, ids = index.search(np.asarray(qvec, dtype=np.float32).reshape(1, -1), min(limit, len(index)))
        return {int(i): float(s) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0}

    def similarities_of(self, qvec: np.ndarray, clip_ids: list[int]) -> dict[int, float]:
        """Cosine of the query vector with the metadata vectors of the given clips (those that have one)."""
        if not clip_ids or self.matrix_ids.size == 0:
            return {}
        wanted = np.asarray(clip_ids, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.matrix_ids, wanted), 0, self.matrix_ids.size - 1)
        found = self.matrix_ids[pos] == wanted
        sims = np.einsum("ij,j->i", self.matrix[pos[found]], np.asarray(qvec, dtype=np.float32).reshape(-1))
        return {int(c): float(v) for c, v in zip(wanted[found], sims, strict=True)}

    def sizes(self) -> dict[str, Any]:
        return {"backend": "bm25+exact", "size": 0 if self.vectors is None else len(self.vectors),
                "keyword_clips": len(self.keywords), "path": str(self.path)}

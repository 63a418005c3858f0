"""Query sets for the latency and load sections: distinct texts and 4-second clip excerpts as BVH.

Texts: the hand-written user queries of :mod:`training.text` plus the KIT Motion-Language
sentences shipped in the corpus (``text/kitml_annotations.json``), shuffled with a fixed seed and
never repeated within a run, so every text query pays the text encoder (the model caches texts it
has seen). Clips: excerpts of ``CLIP_SECONDS`` cut from random library clips at random starts,
exported as BVH on the canonical skeleton (:func:`motion.bvh_write.bvh_text`), i.e. what a user
uploads; the in-process runs use the same files parsed once.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dancesearch.bench.config import BenchError

if TYPE_CHECKING:
    from db.library import Library
    from motion.data import Motion

CLIP_SECONDS = 4.0
MAX_TEXT_CHARS = 300
USER_QUERIES = Path(__file__).resolve().parents[2] / "training" / "text" / "data" / "user_queries.json"


@dataclass(frozen=True)
class ClipQuery:
    """One uploadable excerpt: BVH bytes, the same motion parsed, and where it came from."""

    name: str
    data: bytes
    motion: Motion
    clip_id: int
    start_s: float


class TextPool:
    """Distinct texts handed out in a fixed shuffled order (cycling only if exhausted)."""

    def __init__(self, texts: list[str]) -> None:
        if not texts:
            raise BenchError("no text queries available")
        self.texts = texts
        self._next = 0

    def take(self) -> str:
        text = self.texts[self._next % len(self.texts)]
        self._next += 1
        return text


def text_queries(corpus: Path, seed: int) -> list[str]:
    """User queries first-come, then KIT sentences; unique, shuffled deterministically."""
    texts: list[str] = []
    if USER_QUERIES.is_file():
        texts += [q["query"] for q in json.loads(USER_QUERIES.read_text())]
    kit = corpus / "text" / "kitml_annotations.json"
    if kit.is_file():
        for item in json.loads(kit.read_text()).values():
            texts += [a["text"] for a in item.get("annotations", [])]
    unique = list(dict.fromkeys(" ".join(t.split()) for t in texts if t.strip()))
    unique = [t for t in unique if len(t) <= MAX_TEXT_CHARS]
    random.Random(seed).shuffle(unique)
    return unique


def clip_queries(lib: Library, count: int, seed: int) -> list[ClipQuery]:
    """``count`` excerpts of CLIP_SECONDS from library clips long enough to hold one."""
    from motion.bvh_write import bvh_text
    from motion.data import Motion
    from motion.formats import load_motion_bytes
    from motion.skeleton import CANONICAL_FPS, JOINTS, PARENTS

    n = int(round(CLIP_SECONDS * CANONICAL_FPS))
    clips = [c for c in lib.list_clips() if c.frames > n]
    if not clips:
        raise BenchError(f"no library clip is longer than {CLIP_SECONDS:g} s")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        clip = clips[int(rng.integers(len(clips)))]
        a = int(rng.integers(0, clip.frames - n + 1))
        positions = lib.store.get(clip.motion_key)[a:a + n]
        excerpt = Motion(positions, CANONICAL_FPS, list(JOINTS), list(PARENTS), {})
        name = f"query-{i}.bvh"
        data = bvh_text(excerpt).encode()
        out.append(ClipQuery(name, data, load_motion_bytes(data, name), clip.id, a / CANONICAL_FPS))
    return out

"""A tiny deterministic :class:`search.embedder.SearchModel` for index and engine tests, and the
synthetic canonical motions it understands.

Each window is summarised by four pooled pose statistics, each about 1 for the motion that has it
and about 0 otherwise: ``bounce`` (pelvis height std), ``speed`` (horizontal pelvis speed), ``turn``
(heading change rate) and ``arms`` (wrists above shoulders). The feature vector (plus a constant
bias) is mapped into the shared space by a fixed random matrix with orthonormal columns, so cosines
between embeddings equal cosines between feature vectors. Texts are mapped by keywords onto the
same four features ("jump", "walk", "spin", "arms", ...); texts without a keyword get a vector hashed
from the text. The semantic cluster of a window or text is its dominant feature (0..3). ``generate``
returns the synthetic motion of a text's dominant feature.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

import numpy as np

from db.library import Library
from db.records import NewClip
from motion.skeleton import CANONICAL_FPS, JOINT_INDEX
from motion.windows import DEFAULT_SIZE, extract_window, facing_angles, window_starts

FEATURES = ("bounce", "speed", "turn", "arms")
BIAS = 0.2
KEYWORDS: dict[str, int] = {
    "jump": 0, "jumps": 0, "jumping": 0, "hop": 0, "bounce": 0,
    "walk": 1, "walks": 1, "walking": 1, "forward": 1, "stroll": 1,
    "spin": 2, "spins": 2, "spinning": 2, "turn": 2, "turning": 2, "waltz": 2, "circles": 2,
    "arm": 3, "arms": 3, "raise": 3, "raising": 3, "wave": 3, "waving": 3,
}
DESCRIPTIONS: tuple[tuple[str, int | None], ...] = (
    ("a person jumps up and down", 0), ("jumping on the spot", 0), ("walking forward", 1),
    ("spinning around in place", 2), ("raising both arms", 3), ("waving the arms above the head", 3),
)

# Rest pose in metres, Y up, facing +Z, performer's left = +X (order of motion.skeleton.JOINTS).
REST = np.array([
    [0, 1.0, 0], [0, 1.15, 0], [0, 1.35, 0], [0, 1.5, 0], [0, 1.62, 0],
    [0.18, 1.45, 0], [0.2, 1.17, 0], [0.22, 0.92, 0],
    [-0.18, 1.45, 0], [-0.2, 1.17, 0], [-0.22, 0.92, 0],
    [0.1, 0.95, 0], [0.1, 0.52, 0], [0.1, 0.08, 0], [0.1, 0.02, 0.12],
    [-0.1, 0.95, 0], [-0.1, 0.52, 0], [-0.1, 0.08, 0], [-0.1, 0.02, 0.12],
], dtype=np.float32)
_PELVIS = JOINT_INDEX["pelvis"]
_WRISTS = [JOINT_INDEX["l_wrist"], JOINT_INDEX["r_wrist"]]
_ELBOWS = [JOINT_INDEX["l_elbow"], JOINT_INDEX["r_elbow"]]
_SHOULDERS = [JOINT_INDEX["l_shoulder"], JOINT_INDEX["r_shoulder"]]


# ---- synthetic canonical motions (T, 19, 3) ----------------------------------------------------

def _times(seconds: float) -> np.ndarray:
    return np.arange(max(1, int(round(seconds * CANONICAL_FPS)))) / CANONICAL_FPS


def still(seconds: float) -> np.ndarray:
    return np.repeat(REST[None], len(_times(seconds)), 0).copy()


def jump(seconds: float, height: float = 0.3) -> np.ndarray:
    """Jumping on the spot once a second."""
    pos = still(seconds)
    pos[:, :, 1] += (height * np.abs(np.sin(np.pi * _times(seconds))))[:, None]
    return pos


def walk(seconds: float, speed: float = 1.2) -> np.ndarray:
    """Walking towards +Z with swinging feet."""
    t = _times(seconds)
    pos = still(seconds)
    pos[:, :, 2] += (speed * t)[:, None]
    swing = 0.25 * np.sin(2 * np.pi * t)
    pos[:, [13, 14], 2] += swing[:, None]
    pos[:, [17, 18], 2] -= swing[:, None]
    return pos


def spin(seconds: float, rate: float = np.pi) -> np.ndarray:
    """Turning on the spot at ``rate`` radians per second."""
    a = rate * _times(seconds)
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    rot = np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], 1)
    return np.einsum("tij,kj->tki", rot, REST).astype(np.float32)


def arms(seconds: float, height: float = 0.3) -> np.ndarray:
    """Standing with the arms raised above the head, waving."""
    t = _times(seconds)
    pos = still(seconds)
    pos[:, _ELBOWS, 1] = 1.6
    # Waving: each forearm swings about its elbow (a rigid bone, as stored clips must have).
    reach = 1.45 + height - 1.6
    swing = 0.5 * np.sin(2 * np.pi * t)
    pos[:, _WRISTS, 0] = pos[:, _ELBOWS, 0] + (reach * np.sin(swing))[:, None]
    pos[:, _WRISTS, 1] = 1.6 + (reach * np.cos(swing))[:, None]
    return pos


SYNTH = {"bounce": jump, "speed": walk, "turn": spin, "arms": arms}


# ---- the model ---------------------------------------------------------------------------------

def window_stats(window: np.ndarray) -> np.ndarray:
    """The four features (bounce, speed, turn, arms) of one window (S, 19, 3)."""
    pelvis = window[:, _PELVIS].astype(np.float64)
    bounce = pelvis[:, 1].std() / 0.1
    steps = np.linalg.norm(np.diff(pelvis[:, [0, 2]], axis=0), axis=1)
    speed = (steps.mean() * CANONICAL_FPS / 1.2) if len(steps) else 0.0
    heading = np.unwrap(facing_angles(window.astype(np.float64)))
    turn = (np.abs(np.diff(heading)).mean() * CANONICAL_FPS / np.pi) if len(heading) > 1 else 0.0
    lift = window[:, _WRISTS, 1].mean() - window[:, _SHOULDERS, 1].mean() + 0.53
    return np.array([bounce, speed, turn, max(lift, 0.0) / 0.8])


class FakeModel:
    """A deterministic SearchModel (see the module docstring); counts the windows it embeds."""

    def __init__(self, version: str = "fake-v1", dim: int = 16, seed: int = 0,
                 settings: Mapping[str, object] | None = None, descriptions: Sequence[tuple[str, int | None]] = DESCRIPTIONS) -> None:
        rng = np.random.default_rng(seed)
        self._proj = np.linalg.qr(rng.standard_normal((dim, len(FEATURES) + 1)))[0].astype(np.float32)
        self._version, self._dim = version, dim
        self._settings: dict[str, object] = {"name": "fake", "fallback_threshold": 0.3, "cluster_filter_text": False,
                                             "cluster_filter_motion": False, "cluster_filter_describe": True}
        self._settings.update(settings or {})
        self._descriptions = list(descriptions)
        self.windows_embedded = 0
        self.texts_embedded = 0

    @property
    def version(self) -> str:
        return self._version

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def window_size(self) -> int:
        return DEFAULT_SIZE

    @property
    def settings(self) -> dict[str, object]:
        return self._settings

    def _stats(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        return np.array([window_stats(extract_window(positions, int(s), DEFAULT_SIZE)) for s in starts]).reshape(-1, 4)

    def _embed(self, features: np.ndarray) -> np.ndarray:
        full = np.concatenate([features, np.full((len(features), 1), BIAS)], axis=1)
        out = full.astype(np.float32) @ self._proj.T
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_clips(self, clips: Sequence[tuple[np.ndarray, Sequence[int]]]) -> tuple[np.ndarray, np.ndarray]:
        if not clips:
            return np.zeros((0, self.dim), np.float32), np.zeros(0, np.int64)
        return (np.concatenate([self.embed_windows(p, s) for p, s in clips]),
                np.concatenate([np.asarray(self.cluster_of(p, s)).reshape(-1) for p, s in clips]))

    def embed_windows(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        self.windows_embedded += len(starts)
        return self._embed(self._stats(positions, starts))

    def pose_vectors(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        """The windows' poses (every 5th frame) relative to the pelvis, in body heights, minus the rest pose
        (the real model's features are body-normalised and centred too), flattened and L2-normalised."""
        wins = np.stack([extract_window(positions, int(s), DEFAULT_SIZE) for s in starts])[:, ::5].astype(np.float64)
        rel = wins - wins[:, :, _PELVIS:_PELVIS + 1]
        rel /= np.ptp(rel[..., 1], axis=2, keepdims=True)[..., None]
        rest = (REST - REST[_PELVIS]) / np.ptp(REST[:, 1])
        flat = (rel - rest).reshape(len(starts), -1).astype(np.float32)
        return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-8)

    def describe_windows(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        return self._embed(self._stats(positions, starts))

    def cluster_of(self, positions: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        return self._stats(positions, starts).argmax(axis=1).astype(np.int64)

    @staticmethod
    def text_features(text: str) -> np.ndarray | None:
        feats = np.zeros(len(FEATURES))
        for word in re.findall(r"[a-z]+", text.lower()):
            if word in KEYWORDS:
                feats[KEYWORDS[word]] += 1.0
        return feats if feats.any() else None

    def _hashed(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vec = np.random.default_rng(seed).standard_normal(self._dim).astype(np.float32)
        return vec / np.linalg.norm(vec)

    def match_score(self, text: str, best_motion: float | None) -> float | None:
        return best_motion

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.texts_embedded += len(texts)
        rows = []
        for text in texts:
            feats = self.text_features(text)
            rows.append(self._hashed(text) if feats is None else self._embed(feats[None])[0])
        return np.stack(rows) if rows else np.zeros((0, self._dim), np.float32)

    def embed_descriptions(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_texts(texts)

    def cluster_of_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for text in texts:
            feats = self.text_features(text)
            out.append(int(feats.argmax()) if feats is not None else int(self._hashed(text)[0] > 0))
        return np.array(out, dtype=np.int64)

    def descriptions(self) -> list[tuple[str, int | None]]:
        return list(self._descriptions)

    def generate(self, text: str, seconds: float, seed: int = 0) -> np.ndarray:
        feats = self.text_features(text)
        make = SYNTH[FEATURES[int(feats.argmax())]] if feats is not None else still
        return make(seconds)


# ---- a tiny library ----------------------------------------------------------------------------

def add_clip(lib: Library, positions: np.ndarray, name: str, source: str = "synthetic",
             labels: Mapping[str, object] | None = None, description: str | None = None) -> int:
    """Store ``positions`` and add them as a clip with the ingest's windows; returns the clip id."""
    key = lib.store.put(positions)
    n = len(positions)
    clip = NewClip(source=source, path=f"/synthetic/{name}.npz", content_hash=hashlib.sha256(key.encode()).hexdigest(),
                   format="npz", orig_fps=CANONICAL_FPS, orig_frames=n, frames=n, motion_key=key,
                   labels=dict(labels or {}), description=description)
    clip_id, added = lib.add_clip(clip, [(s, min(s + DEFAULT_SIZE, n)) for s in window_starts(n)])
    if not added:
        raise ValueError(f"{name}: the same motion is already in the library")
    return clip_id


def mixed(seconds: float = 4.0) -> np.ndarray:
    """Walking for ``seconds``, then jumping where the walk ended for ``seconds``."""
    first = walk(seconds)
    second = jump(seconds)
    second[:, :, 2] += first[-1, _PELVIS, 2] - second[0, _PELVIS, 2]
    return np.concatenate([first, second])


def build_library(lib: Library) -> dict[str, int]:
    """Seven small clips of known content; returns name -> clip id."""
    return {
        "jump_a": add_clip(lib, jump(4.0), "jump_a", "bandai", {"kind": "jump", "style": "happy"}, "a happy jump"),
        "jump_b": add_clip(lib, jump(6.0, 0.25), "jump_b", "cmu", {"kind": "jump", "take": 2}),
        "walk_a": add_clip(lib, walk(5.0), "walk_a", "cmu", {"kind": "walk"}, "Walking  forward"),
        "walk_b": add_clip(lib, walk(3.0, 1.0), "walk_b", "cmu", {"kind": "walk"}, "a slow walk"),
        "spin": add_clip(lib, spin(4.0), "spin", "ballroom", {"genre": "waltz"}, "a waltz turn"),
        "arms": add_clip(lib, arms(4.0), "arms", "bandai", {"kind": "arms"}),
        "mixed": add_clip(lib, mixed(4.0), "mixed", "cmu", {"kind": "mixed"}, "walks then jumps"),
    }

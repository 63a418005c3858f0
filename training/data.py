"""From an ingested library to the in-memory inputs of the stage trainers.

Windows of the requested split are read from the library (their clip's canonical motion from the
motion store), turned into heading-relative features (:mod:`motion.windows`), normalised with
statistics of the training split only, and annotated with their clip's captions and relevance group.
Training windows are re-cut on the fly with the paper's four augmentations (time warp at cut time,
then rotation, scale and mirroring); a window whose labels name a side ("wave-left-hand",
"90-degree left turns") is never mirrored, since its mirror image would contradict its captions.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from db.library import Library
from motion.augment import AugmentConfig, augment, mirror, random_speeds, vary_body
from motion.normalize import Normalizer
from motion.windows import extract_window, normalise_bodies, to_window_frame
from training.stages.inputs import BatchFn, WindowSet
from training.text.captions import CaptionError, captions_for_labels
from training.text.relevance import try_label_key

log = logging.getLogger(__name__)

_SIDED = re.compile(r"\b(left|right)\b|-(left|right)\b")


@dataclass
class SplitWindows:
    """The windows of one split: where they come from and what they are about.

    `clip_positions` maps clip id -> canonical positions (T, J, 3); `clip_ids`/`starts`/`window_ids`
    are per window; `keys` is each window's relevance key (None when its labels have none) and
    `sources`/`labels` its clip's source and labels.
    """

    size: int
    clip_positions: dict[int, np.ndarray]
    window_ids: np.ndarray
    clip_ids: np.ndarray
    starts: np.ndarray
    sources: list[str]
    labels: list[dict[str, Any]]
    keys: list[str | None]
    normalise_body: bool = False

    def __len__(self) -> int:
        return int(len(self.window_ids))

    def clips_in_order(self) -> list[int]:
        """The split's clip ids in split order (by source and path), each once: stable across ingests."""
        return list(dict.fromkeys(self.clip_ids.tolist()))

    def positions(self, indices: Sequence[int] | np.ndarray, speeds: np.ndarray | None = None,
                  normalise: bool | None = None) -> np.ndarray:
        """Window-frame positions (B, S, J, 3) of the given windows, optionally time-warped (body-normalised
        when the split says so, unless ``normalise`` says otherwise)."""
        out = [extract_window(self.clip_positions[int(self.clip_ids[i])], int(self.starts[i]), self.size,
                              1.0 if speeds is None else float(speeds[j]))
               for j, i in enumerate(indices)]
        if not out:
            return np.zeros((0, self.size, 0, 3), np.float32)
        return to_window_frame(np.stack(out), self.normalise_body if normalise is None else normalise)

    def features(self, batch: int = 2048) -> np.ndarray:
        """Un-normalised features (N, S, F) of all windows, without augmentation."""
        parts = [self.positions(np.arange(i, min(i + batch, len(self))))
                 for i in range(0, len(self), batch)]
        if not parts:
            return np.zeros((0, self.size, 0), np.float32)
        pos = np.concatenate(parts)
        return pos.reshape(pos.shape[0], pos.shape[1], -1)


def load_split(library: Library, split: str, size: int, sources: Sequence[str] | None = None,
               normalise_body: bool = False) -> SplitWindows:
    """All windows of `split` (as stored by ingest) with their clips' motions and labels.

    Windows come ordered by (source, clip path, start), not by database id: a parallel ingest numbers
    clips in the order its workers finish, so id order differs between two ingests of one corpus, and
    training batches, caption draws and evaluation samples would change with it for the same seed.
    """
    clip_cache: dict[int, tuple[str, dict[str, Any], str]] = {}
    positions: dict[int, np.ndarray] = {}
    rows: list[tuple[str, str, int, int, int]] = []  # (source, clip path, start, window id, clip id)
    for w in library.iter_windows(split=split):
        if sources is not None and w.source not in sources:
            continue
        if w.clip_id not in clip_cache:
            info = library.get_clip(w.clip_id)
            clip_cache[w.clip_id] = (info.source, dict(info.labels), info.path)
            positions[w.clip_id] = library.store.get(info.motion_key)
        source, _, path = clip_cache[w.clip_id]
        rows.append((source, path, w.start, w.id, w.clip_id))
    rows.sort()
    cids = [row[4] for row in rows]
    srcs = [clip_cache[cid][0] for cid in cids]
    labs = [clip_cache[cid][1] for cid in cids]
    keys = [try_label_key(source, labels) for source, labels in zip(srcs, labs, strict=True)]
    return SplitWindows(size, positions, np.array([row[3] for row in rows], np.int64), np.array(cids, np.int64),
                        np.array([row[2] for row in rows], np.int64), srcs, labs, keys, normalise_body)


@dataclass
class CaptionBank:
    """Distinct caption texts (rows of the MiniLM embedding matrix) and the captions of each clip."""

    texts: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    by_clip: dict[int, list[int]] = field(default_factory=dict)

    def add(self, text: str) -> int:
        if text not in self.index:
            self.index[text] = len(self.texts)
            self.texts.append(text)
        return self.index[text]

    def caption_clips(self, windows: SplitWindows, per_clip: int, seed: int) -> list[list[int]]:
        """Captions for every window of `windows` (shared by the windows of a clip), built once per clip."""
        out: list[list[int]] = []
        for i in range(len(windows)):
            cid = int(windows.clip_ids[i])
            if cid not in self.by_clip:
                rng = random.Random(f"{seed}:{cid}")
                try:
                    texts = captions_for_labels(windows.sources[i], windows.labels[i], rng, per_clip)
                except CaptionError:
                    texts = []  # unlabelled clip: it still trains the VAE, not the text stages
                self.by_clip[cid] = [self.add(t) for t in texts]
            out.append(self.by_clip[cid])
        return out


SIDED_FACTS = frozenset({"sideways_left", "sideways_right", "turn_left", "turn_right", "arm_up_left",
                         "arm_up_right", "wave_left", "wave_right", "kick_left", "kick_right"})


def window_kinematic_facts(windows: SplitWindows, batch: int = 1024) -> list[list[str]]:
    """The kinematic facts (:func:`training.text.kinematics.window_facts`) of every window."""
    from training.text.kinematics import window_facts

    out: list[list[str]] = []
    for i in range(0, len(windows), batch):
        for w in windows.positions(np.arange(i, min(i + batch, len(windows))), normalise=False):
            out.append(window_facts(w))
    return out


def add_kinematic_captions(bank: CaptionBank, captions: list[list[int]], facts: Sequence[Sequence[str]],
                           per_window: int, seed: int) -> list[list[int]]:
    """Each window's caption list extended by ``per_window`` captions of its own kinematic facts."""
    from training.text.kinematics import kinematic_captions

    out = []
    for i, (caps, window_facts_) in enumerate(zip(captions, facts, strict=True)):
        rng = random.Random(f"{seed}:kin:{i}")
        out.append(list(caps) + [bank.add(t) for t in kinematic_captions(window_facts_, rng, per_window)])
    return out


def sided_windows(facts: Sequence[Sequence[str]]) -> np.ndarray:
    """Per window: whether a kinematic fact names a side (its mirror image would contradict it)."""
    return np.array([bool(SIDED_FACTS & set(f)) for f in facts], dtype=bool)


def group_ids(keys: Sequence[str | None], vocabulary: dict[str, int]) -> torch.Tensor:
    """Integer relevance groups; windows without a key each get their own (never a false negative)."""
    out = []
    for i, key in enumerate(keys):
        if key is None:
            out.append(-1 - i)
        else:
            out.append(vocabulary.setdefault(key, len(vocabulary)))
    return torch.tensor(out, dtype=torch.long)


def mirror_allowed(windows: SplitWindows, sided: np.ndarray | None = None) -> np.ndarray:
    """Per window: True unless one of its label values names a side (or ``sided``, e.g. its kinematic
    captions say "turns left", marks it)."""
    allowed = np.array([not any(_SIDED.search(str(v).lower()) for v in labels.values())
                        for labels in windows.labels], dtype=bool)
    return allowed if sided is None else allowed & ~sided


def make_batch_fn(windows: SplitWindows, normalizer: Normalizer, cfg: AugmentConfig,
                  sided: np.ndarray | None = None) -> BatchFn:
    """The training `batch_fn`: cut with a random speed, vary the body (then normalise its size again
    when the split is body-normalised), augment, flatten, normalise."""
    can_mirror = mirror_allowed(windows, sided)
    vary = cfg.max_bone_scale > 0 or cfg.max_joint_jitter_m > 0 or cfg.max_tilt_deg > 0

    def batch_fn(indices: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        pos = windows.positions(indices, random_speeds(len(indices), rng, cfg), normalise=False if vary else None)
        if vary:
            pos = vary_body(pos, rng, cfg)
            if windows.normalise_body:
                pos = normalise_bodies(pos)
        mirrorable = can_mirror[indices]
        aug = augment(pos, rng, AugmentConfig(cfg.max_rotation_deg, cfg.max_scale, 0.0, cfg.max_speed_change))
        flip = mirrorable & (rng.random(len(indices)) < cfg.mirror_prob)
        if flip.any():
            aug[flip] = mirror(aug[flip])
        feats = aug.reshape(aug.shape[0], aug.shape[1], -1)
        return torch.from_numpy(normalizer.transform(feats))

    return batch_fn


def window_set(windows: SplitWindows, normalizer: Normalizer, captions: list[list[int]],
               groups: torch.Tensor, batch_fn: BatchFn | None = None) -> WindowSet:
    """A trainer input for one split."""
    x = torch.from_numpy(normalizer.transform(windows.features()))
    return WindowSet(x=x, captions=captions, groups=groups, batch_fn=batch_fn)

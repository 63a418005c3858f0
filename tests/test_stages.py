"""Stage trainers, losses and mining, clustering, the shared loop (early stop, resume) on tiny synthetic data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from embedders.heads import ProjectionHeadsConfig
from embedders.motion import VAEConfig
from embedders.spaces import SharedSpaceConfig
from embedders.text import TextProjectorConfig
from training.clustering import (
    ClusterConfig,
    Clustering,
    ClusteringError,
    assign_clusters,
    caption_clusters,
    cluster_latents,
)
from training.losses import (
    batch_hard_triplet,
    combine,
    cosine_embedding_losses,
    foot_slide,
    hardest_pairs,
    infonce_losses,
    instance_infonce,
    kl_beta,
    negative_mask,
    pose_losses,
    vae_losses,
)
from training.stages.config import ConfigError, PipelineConfig
from training.stages.contrastive import HeadsTrainConfig, train_projection_heads
from training.stages.dance_to_text import DanceToTextTrainConfig, train_dance_to_text
from training.stages.generator import GeneratorTrainConfig, train_generator
from training.stages.inputs import StageData, TrainingDataError, WindowSet, balanced_batches
from training.stages.loop import LoopConfig, Stage, fit
from training.stages.shared_space import SharedSpaceTrainConfig, train_shared_space
from training.stages.text_projector import TextProjectorTrainConfig, train_text_projector
from training.stages.vae import VAETrainConfig, encode_latents, train_vae

S, FEAT, H, L = 12, 57, 16, 8
def quiet(name: str, epoch: int, total: int, metrics: dict[str, float]) -> None:
    """A progress callback that shows nothing (no tqdm bars in test output)."""


def synthetic(n_train: int = 48, n_val: int = 24, n_classes: int = 3, seed: int = 0) -> StageData:
    """Windows of class-specific sinusoids; class c has captions 2c and 2c+1 and group c."""
    rng = np.random.default_rng(seed)
    freqs = np.linspace(0.3, 1.2, n_classes)
    amp, phase = rng.normal(size=(n_classes, FEAT)), rng.uniform(0, 2 * np.pi, size=(n_classes, FEAT))
    base = rng.normal(size=(n_classes, 384))
    text = np.concatenate([base[c] + 0.3 * rng.normal(size=(2, 384)) for c in range(n_classes)])
    text_emb = F.normalize(torch.tensor(text, dtype=torch.float32), dim=1)

    def split(n: int) -> WindowSet:
        cls = rng.integers(n_classes, size=n)
        t = np.arange(S)[None, :, None]
        x = amp[cls][:, None] * np.sin(freqs[cls][:, None, None] * t + phase[cls][:, None]) \
            + 0.05 * rng.normal(size=(n, S, FEAT))
        caps = [[2 * int(c), 2 * int(c) + 1] for c in cls]
        return WindowSet(torch.tensor(x, dtype=torch.float32), caps, torch.tensor(cls), torch.tensor(cls))

    return StageData(split(n_train), split(n_val), text_emb)


@pytest.fixture(scope="module")
def trained():  # type: ignore[no-untyped-def]
    """A tiny VAE and text projector, and the data with latents attached (shared by later stages)."""
    data = synthetic()
    vae, history = train_vae(data, VAEConfig(seq_len=S, hidden=H, latent=L),
                             VAETrainConfig(epochs=10, batch_size=8, lr=2e-2, seed=0), progress=quiet)
    data = data.with_latents(encode_latents(vae, data.train.x), encode_latents(vae, data.val.x))
    projector, p_hist = train_text_projector(data, TextProjectorConfig(hidden=32, latent=L),
                                             TextProjectorTrainConfig(epochs=8, batch_size=16), progress=quiet)
    return data, vae, history, projector, p_hist


# ---- losses and mining ------------------------------------------------------------------------

def test_kl_beta_is_annealed_linearly_over_the_first_40_percent() -> None:
    assert kl_beta(0, 100) == pytest.approx(0.01)
    assert kl_beta(20, 100) == pytest.approx(0.105)
    assert kl_beta(40, 100) == pytest.approx(0.2)
    assert kl_beta(99, 100) == pytest.approx(0.2)
    assert kl_beta(5, 10, 0.0, 1.0, 0.5) == pytest.approx(1.0)


def test_vae_loss_terms_on_known_values() -> None:
    x = torch.zeros(2, 3, 4)
    recon = x.clone()
    recon[:, 1] = 2.0  # one frame off by 2: MSE 4/3, L1 2/3, velocity jumps +2 then -2
    mu, logvar = torch.ones(2, 5), torch.zeros(2, 5)
    terms = vae_losses(recon, x, mu, logvar)
    assert float(terms["mse"]) == pytest.approx(4 / 3) and float(terms["l1"]) == pytest.approx(2 / 3)
    assert float(terms["velocity"]) == pytest.approx(4.0)
    assert float(terms["kl"]) == pytest.approx(0.5)  # KL(N(1, 1) || N(0, 1)) per latent dimension
    assert float(vae_losses(x, x, torch.zeros(2, 5), torch.zeros(2, 5))["kl"]) == 0.0


def test_detail_term_asks_for_the_amount_of_fast_detail_not_its_phase() -> None:
    """The generator's detail term: near zero for the same jitter out of phase, large for a still guess of a
    jittery target, where the pose MSE ranks them the other way round; on known values too."""
    t = torch.arange(50, dtype=torch.float32)
    jitter = torch.sin(t * 2.0)[None, :, None]
    shifted = torch.sin(t * 2.0 + 1.5)[None, :, None]
    out_of_phase, smooth = pose_losses(shifted, jitter), pose_losses(torch.zeros_like(jitter), jitter)
    assert float(out_of_phase["pose"]) > float(smooth["pose"])  # MSE prefers no detail at all ...
    assert float(out_of_phase["detail"]) < 0.05 * float(smooth["detail"])  # ... the detail term the opposite
    x = torch.zeros(1, 4, 2)
    x[0, 2, 0] = 1.0  # accelerations (1, -2) on feature 0: RMS sqrt(5 / 2); feature 1 still
    terms = pose_losses(torch.zeros_like(x), x)
    assert float(terms["detail"]) == pytest.approx((5 / 2) ** 0.5 / 2, rel=1e-4)


def test_foot_slide_counts_only_feet_on_the_floor_in_metres_per_second() -> None:
    """Two joints (ankle 0, toe 1), identity normaliser: a low ankle sliding 0.04 m per frame at 25 fps is
    1 m/s (squared: 1); the same slide 0.5 m above the floor costs nothing; a scaled normaliser is undone."""
    frames = torch.arange(4, dtype=torch.float32)
    low = torch.zeros(1, 4, 2, 3)
    low[0, :, 0, 0] = 0.04 * frames
    low[0, :, 0, 1] = low[0, :, 1, 1] = 0.05
    high = low.clone()
    high[..., 1] += 0.5
    zero, one = torch.zeros(6), torch.ones(6)
    feet = ((0, 1),)
    assert float(foot_slide(low.reshape(1, 4, 6), zero, one, feet)) == pytest.approx(1.0, rel=1e-4)
    assert float(foot_slide(high.reshape(1, 4, 6), zero, one, feet)) == 0.0
    assert float(foot_slide(low.reshape(1, 4, 6) / 2.0, zero, 2 * one, feet)) == pytest.approx(1.0, rel=1e-4)


def test_hardest_pairs_pick_farthest_positive_and_nearest_negative() -> None:
    anchors = torch.tensor([[0.0, 0.0], [5.0, 0.0], [9.0, 9.0]])
    labels_a = torch.tensor([0, 1, 2])
    others = torch.tensor([[1.0, 0.0], [3.0, 0.0], [2.0, 0.0], [5.0, 0.0]])
    labels_o = torch.tensor([0, 0, 1, 1])
    i_pos, i_neg, d_pos, d_neg = hardest_pairs(anchors, others, labels_a, labels_o)
    assert i_pos[:2].tolist() == [1, 2] and i_neg[:2].tolist() == [2, 1]
    assert d_pos[:2].tolist() == pytest.approx([3.0, 3.0]) and d_neg[:2].tolist() == pytest.approx([2.0, 2.0])
    assert math.isnan(d_pos[2])  # label 2 has no positive: the anchor is left out of the loss
    assert float(batch_hard_triplet(anchors, others, labels_a, labels_o, margin=1.0)) == pytest.approx(2.0)
    assert float(batch_hard_triplet(anchors, others, labels_a, labels_o, margin=0.5)) == pytest.approx(1.5)


def test_negative_mask_excludes_same_group_and_same_caption() -> None:
    groups, captions = torch.tensor([0, 0, 1, 2]), torch.tensor([10, 11, 12, 12])
    mask = negative_mask(groups, captions)
    expected = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]], dtype=torch.bool)
    assert torch.equal(mask, expected)


def test_infonce_ignores_same_group_negatives() -> None:
    torch.manual_seed(0)
    motion, text = F.normalize(torch.randn(3, 4), dim=1), F.normalize(torch.randn(3, 4), dim=1)
    groups = torch.tensor([0, 0, 1])
    losses = infonce_losses(motion, text, 0.1, groups)
    logits = motion @ text.T / 0.1
    allowed = [[0, 2], [1, 2], [0, 1, 2]]  # row i: its own pair and other-group columns
    m2t = np.mean([-torch.log_softmax(logits[i, allowed[i]], 0)[allowed[i].index(i)].item() for i in range(3)])
    t2m = np.mean([-torch.log_softmax(logits[allowed[i], i], 0)[allowed[i].index(i)].item() for i in range(3)])
    assert float(losses["motion_to_text"]) == pytest.approx(m2t, rel=1e-5)
    assert float(losses["text_to_motion"]) == pytest.approx(t2m, rel=1e-5)
    unmasked = infonce_losses(motion, text, 0.1, torch.tensor([0, 1, 2]))
    assert float(unmasked["motion_to_text"]) > float(losses["motion_to_text"])  # more negatives, higher loss


def test_cosine_embedding_pulls_pairs_and_pushes_hardest_valid_negative() -> None:
    pred = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    groups = torch.tensor([0, 1, 1])
    out = cosine_embedding_losses(pred, target, groups, margin=0.2)
    cos_diag = [1.0, 0.0, math.sqrt(0.5)]
    assert float(out["positive"]) == pytest.approx(np.mean([1 - c for c in cos_diag]), rel=1e-6)
    # row 0 negatives: targets 1 and 2 (group 1): cos 1.0 and 0.0 -> hinge 0.8; row 1: target 0, cos 0;
    # row 2: target 0, cos sqrt(.5)
    expected_neg = np.mean([0.8, 0.0, math.sqrt(0.5) - 0.2])
    assert float(out["negative"]) == pytest.approx(expected_neg, rel=1e-6)


def test_combine_weights_terms_and_rejects_missing_ones() -> None:
    terms = {"a": torch.tensor(2.0), "b": torch.tensor(3.0)}
    assert float(combine(terms, {"a": 0.5, "b": 2.0})) == pytest.approx(7.0)
    with pytest.raises(KeyError, match="'c'"):
        combine(terms, {"c": 1.0})


# ---- clustering ---------------------------------------------------------------------------------

def test_caption_clusters_take_the_majority_of_their_windows() -> None:
    captions = [[0, 1], [0], [0, 2], [1], []]
    labels = np.array([2, 1, 1, 2, 0])
    # caption 0: windows 0, 1, 2 -> clusters 2, 1, 1; caption 1: windows 0, 3 -> 2, 2; caption 2: 1;
    # caption 3: no window
    assert caption_clusters(captions, labels, 4).tolist() == [1, 2, 1, -1]
    assert caption_clusters([[0], [0]], np.array([3, 1]), 1).tolist() == [1]  # a tie goes to the smaller id


def test_clustering_picks_k_on_separated_blobs_and_lists_exemplars(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(5)[:4] * 10.0
    mu = np.concatenate([c + rng.normal(scale=0.3, size=(30, 5)) for c in centres]).astype(np.float32)
    result = cluster_latents(mu, ClusterConfig(k_max=7, n_nearest=5, n_init=2))
    assert result.k == 4
    assert sorted(result.silhouette) == [2, 3, 4, 5, 6, 7]
    assert max(result.silhouette.values()) == result.silhouette[4] > 0.8
    for c, idx in enumerate(result.nearest):
        assert len(idx) == 5 and (result.labels[idx] == c).all()
        d = np.linalg.norm(mu[idx] - result.centroids[c], axis=1)
        members = np.linalg.norm(mu[result.labels == c] - result.centroids[c], axis=1)
        assert np.all(np.diff(d) >= 0) and d[-1] <= np.sort(members)[4] + 1e-6
    assert np.array_equal(assign_clusters(mu, result.centroids), result.labels)
    result.save(tmp_path / "clusters.json")
    back = Clustering.load(tmp_path / "clusters.json")
    assert back.k == 4 and np.allclose(back.centroids, result.centroids) and back.silhouette == result.silhouette
    with pytest.raises(ClusteringError, match="cannot try"):
        cluster_latents(mu[:2])


# ---- the shared loop ----------------------------------------------------------------------------

def _scripted_stage(val_losses: list[float]) -> tuple[Stage, torch.nn.Linear]:
    module = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(module.parameters(), lr=0.1)

    def train_epoch(epoch: int, rng: np.random.Generator) -> dict[str, float]:
        with torch.no_grad():
            module.weight.fill_(float(epoch))
        return {"loss": 1.0}

    def evaluate() -> dict[str, float]:
        return {"loss": val_losses[int(module.weight.item())]}

    return Stage("scripted", {"m": module}, opt, train_epoch, evaluate), module


def test_fit_stops_early_and_restores_best_weights() -> None:
    stage, module = _scripted_stage([3.0, 2.0, 2.5, 2.6, 2.7, 1.0])
    calls: list[tuple[str, int, int]] = []
    history = fit(stage, LoopConfig(epochs=6, patience=2), lambda n, e, t, m: calls.append((n, e, t)))
    assert history["val/loss"] == [3.0, 2.0, 2.5, 2.6]  # stopped after two epochs without improvement
    assert module.weight.item() == 1.0  # weights of the best epoch
    assert calls == [("scripted", e, 6) for e in range(1, 5)]
    stage, _ = _scripted_stage([3.0, 2.0, 2.5, 2.6, 2.7, 1.0])
    assert len(fit(stage, LoopConfig(epochs=6, patience=2, min_epochs=6), progress=quiet)["val/loss"]) == 6


def test_vae_resume_from_checkpoint_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    data = synthetic(n_train=32, n_val=8)
    model, cfg = VAEConfig(seq_len=S, hidden=8, latent=4), VAETrainConfig(epochs=4, batch_size=16, seed=3)
    straight, h_straight = train_vae(data, model, cfg, progress=quiet)
    ckpt = tmp_path / "vae.pt"
    cut = VAETrainConfig(epochs=4, batch_size=16, seed=3)
    with pytest.raises(_Interrupt):
        train_vae(data, model, cut, checkpoint=ckpt, progress=_stop_after(2))
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
    resumed, h_resumed = train_vae(data, model, cfg, checkpoint=ckpt, progress=quiet)
    assert h_resumed["val/loss"] == pytest.approx(h_straight["val/loss"], rel=1e-5)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_checkpoint_of_other_settings_is_refused_not_resumed(tmp_path: Path) -> None:
    from training.stages.loop import CheckpointError

    data = synthetic(n_train=32, n_val=8)
    model = VAEConfig(seq_len=S, hidden=8, latent=4)
    ckpt = tmp_path / "vae.pt"
    with pytest.raises(_Interrupt):
        train_vae(data, model, VAETrainConfig(epochs=4, batch_size=16, seed=3), checkpoint=ckpt,
                  progress=_stop_after(1))
    with pytest.raises(CheckpointError, match=r"vae.pt: .*other settings \(batch_size 16 -> 8\)"):
        train_vae(data, model, VAETrainConfig(epochs=4, batch_size=8, seed=3), checkpoint=ckpt, progress=quiet)
    with pytest.raises(CheckpointError, match=r"epochs 4 -> 5"):  # the learning-rate schedule spans the epochs
        train_vae(data, model, VAETrainConfig(epochs=5, batch_size=16, seed=3), checkpoint=ckpt, progress=quiet)
    # another patience is a resume, not another run
    _, history = train_vae(data, model, VAETrainConfig(epochs=4, batch_size=16, seed=3, patience=9), checkpoint=ckpt,
                           progress=quiet)
    assert len(history["val/loss"]) == 4


class _Interrupt(Exception):
    pass


def _stop_after(n: int):  # type: ignore[no-untyped-def]
    def progress(name: str, epoch: int, total: int, metrics: dict[str, float]) -> None:
        if epoch >= n:
            raise _Interrupt
    return progress


# ---- the stage trainers -------------------------------------------------------------------------

def test_vae_losses_fall_and_every_term_is_logged(trained) -> None:  # type: ignore[no-untyped-def]
    _, vae, history, _, _ = trained
    for term in ("mse", "l1", "velocity", "kl", "loss"):
        assert len(history[f"train/{term}"]) == len(history[f"val/{term}"]) == 10
    assert history["train/mse"][-1] < 0.9 * history["train/mse"][0]
    assert history["val/mse"][-1] < 0.9 * history["val/mse"][0]
    assert history["train/beta"][0] < history["train/beta"][-1] == pytest.approx(0.2)
    assert not vae.training


def test_vae_uses_the_augmentation_hook() -> None:
    data = synthetic(n_train=20, n_val=8)
    seen: list[int] = []

    def batch_fn(idx: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        seen.extend(idx.tolist())
        return data.train.x[torch.as_tensor(idx)] * float(rng.uniform(0.95, 1.05))

    data.train.batch_fn = batch_fn
    train_vae(data, VAEConfig(seq_len=S, hidden=8, latent=4), VAETrainConfig(epochs=2, batch_size=8), progress=quiet)
    assert sorted(seen) == sorted(list(range(20)) * 2)  # every window, once per epoch


def test_text_projector_loss_falls(trained) -> None:  # type: ignore[no-untyped-def]
    _, _, _, projector, history = trained
    assert history["train/loss"][-1] < history["train/loss"][0]
    assert history["val/cosine"][-1] < history["val/cosine"][0]
    assert projector.config.latent == L


def test_projection_heads_triplet_loss_falls(trained) -> None:  # type: ignore[no-untyped-def]
    data, _, _, projector, _ = trained
    heads, history = train_projection_heads(data, projector, ProjectionHeadsConfig(dim=L),
                                            HeadsTrainConfig(epochs=8, batch_size=24, lr=0.05), progress=quiet)
    assert history["train/loss"][-1] < history["train/loss"][0]
    assert set(history) >= {"train/dance_anchor", "train/text_anchor", "val/loss", "lr"}
    with pytest.raises(TrainingDataError, match="clusters"):
        train_projection_heads(data.with_clusters(None, None), projector, progress=quiet)  # type: ignore[arg-type]


def test_dance_to_text_loss_falls(trained) -> None:  # type: ignore[no-untyped-def]
    data, *_ = trained
    for balance in ("groups", "clusters"):
        net, history = train_dance_to_text(data, None, DanceToTextTrainConfig(epochs=8, batch_size=16,
                                                                            balance_by=balance), progress=quiet)
        assert history["train/loss"][-1] < history["train/loss"][0]
        assert history["val/positive"][-1] < history["val/positive"][0]
    with pytest.raises(TrainingDataError, match="balance_by"):
        train_dance_to_text(data, None, DanceToTextTrainConfig(balance_by="labels"), progress=quiet)


def test_generator_two_phases_reduce_their_losses(trained) -> None:  # type: ignore[no-untyped-def]
    data, vae, _, projector, _ = trained
    gen, history = train_generator(data, vae, projector,
                                   GeneratorTrainConfig(epochs=6, phase_b_epochs=5, batch_size=16, lr=3e-3), progress=quiet)
    assert history["a:train/loss"][-1] < history["a:train/loss"][0]
    assert history["b:train/loss"][-1] < history["b:train/loss"][0]
    for a, b in zip(gen.projector.state_dict().values(), projector.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the projector stayed frozen
    assert gen.generate(data.text_emb[0]).shape == (S, FEAT)  # type: ignore[index]


def test_generator_foot_term_is_trained_only_when_weighted_and_needs_the_normaliser(trained) -> None:  # type: ignore[no-untyped-def]
    from motion.normalize import Normalizer

    data, vae, _, projector, _ = trained
    cfg = GeneratorTrainConfig(epochs=1, phase_b_epochs=1, batch_size=16, foot_weight=0.3)
    with pytest.raises(ValueError, match="normaliser"):
        train_generator(data, vae, projector, cfg, progress=quiet)
    normalizer = Normalizer(np.zeros(FEAT, np.float32), np.ones(FEAT, np.float32))
    _, history = train_generator(data, vae, projector, cfg, progress=quiet, normalizer=normalizer)
    assert history["a:train/foot"][0] >= 0.0 and "b:val/foot" in history
    _, off = train_generator(data, vae, projector, GeneratorTrainConfig(epochs=1, phase_b_epochs=1, batch_size=16),
                             progress=quiet, normalizer=normalizer)
    assert not any(k.endswith("/foot") for k in off)


def test_progressive_unfreezing_schedule(trained) -> None:  # type: ignore[no-untyped-def]
    from embedders.generator import TextToDanceGenerator
    from training.stages.generator import set_trainable

    _, vae, _, projector, _ = trained
    gen = TextToDanceGenerator.from_stages(vae, projector)
    states = []
    for epoch in range(6):
        set_trainable(gen, epoch, 6)
        states.append((gen.decoder.input.weight.requires_grad, gen.decoder.gru.weight_hh_l0.requires_grad))
    assert states == [(False, False)] * 2 + [(True, False)] * 2 + [(True, True)] * 2


def test_shared_space_infonce_falls(trained) -> None:  # type: ignore[no-untyped-def]
    data = synthetic(n_train=48, n_val=24, n_classes=6, seed=1)
    _, vae, *_ = trained
    space, history = train_shared_space(data, vae, SharedSpaceConfig(seq_len=S, hidden=H, text_hidden=32, dim=16),
                                        SharedSpaceTrainConfig(epochs=6, batch_size=16, lr=3e-3), progress=quiet)
    assert history["train/loss"][-1] < history["train/loss"][0]
    assert history["val/loss"][-1] < history["val/loss"][0]
    assert {"train/motion_to_text", "train/text_to_motion"} <= set(history)


def test_shared_space_instance_term_is_trained_and_falls(trained) -> None:  # type: ignore[no-untyped-def]
    data = synthetic(n_train=48, n_val=24, n_classes=6, seed=1)
    noise = torch.Generator().manual_seed(0)
    data.train.batch_fn = lambda idx, rng: data.train.x[torch.as_tensor(idx)] + 0.05 * torch.randn(
        (len(idx), *data.train.x.shape[1:]), generator=noise)  # two differently perturbed views
    _, vae, *_ = trained
    _, history = train_shared_space(data, vae, SharedSpaceConfig(seq_len=S, hidden=H, text_hidden=32, dim=16),
                                    SharedSpaceTrainConfig(epochs=6, batch_size=16, lr=3e-3, instance_weight=0.5),
                                    progress=quiet)
    assert history["train/instance"][-1] < history["train/instance"][0]
    assert "val/instance" not in history  # validation keeps the model-selection loss comparable


def test_text_head_refit_keeps_the_motion_encoder_and_learns_the_texts(trained) -> None:  # type: ignore[no-untyped-def]
    """Stage 7b: the motion encoder is locked (its weights and motion vectors unchanged), the refitted
    head's loss falls, and with it in place every val window's own captions rank above the other
    classes' captions at least as often as with a head that was never trained."""
    from embedders.spaces import TextHead, TextHeadConfig
    from training.stages.text_head import TextHeadTrainConfig, train_text_head

    data = synthetic(n_train=48, n_val=24, n_classes=6, seed=1)
    _, vae, *_ = trained
    torch.manual_seed(0)  # the module's earlier tests leave torch's generator anywhere
    space, _ = train_shared_space(data, vae, SharedSpaceConfig(seq_len=S, hidden=H, text_hidden=32, dim=16),
                                  SharedSpaceTrainConfig(epochs=6, batch_size=16, lr=3e-3), progress=quiet)
    before = {k: v.clone() for k, v in space.state_dict().items()}
    motion = space.embed_motion(data.val.x).detach()
    head, history = train_text_head(data, space, TextHeadConfig(hidden=32, dim=16),
                                    TextHeadTrainConfig(epochs=8, batch_size=16, lr=3e-3, views=2), progress=quiet)
    assert all(torch.equal(v, space.state_dict()[k]) for k, v in before.items())
    assert history["train/loss"][-1] < history["train/loss"][0]
    assert history["val/loss"][-1] < history["val/loss"][0]

    def accuracy(h: TextHead) -> float:
        sims = motion @ h(data.text_emb).detach().T                    # (val windows, captions)
        best = sims.argmax(1).numpy()
        return float(np.mean([b in caps for b, caps in zip(best, data.val.captions, strict=True)]))

    torch.manual_seed(0)
    assert accuracy(head) >= accuracy(TextHead(TextHeadConfig(hidden=32, dim=16)).eval())
    assert accuracy(head) > 2 / 6  # twice chance: each window's 2 captions among 12
    space.use_text_head(head)
    assert torch.allclose(space.embed_text(data.text_emb), head(data.text_emb))
    assert torch.equal(space.embed_motion(data.val.x), motion)
    with pytest.raises(ValueError, match="dimension"):
        space.use_text_head(TextHead(TextHeadConfig(hidden=32, dim=8)))


def test_text_head_noise_keeps_the_norm_and_zero_noise_is_the_input() -> None:
    from training.stages.text_head import noisy

    t = 3.0 * F.normalize(torch.randn(64, 384), dim=1)
    assert torch.equal(noisy(t, 0.0), t)
    moved = noisy(t, 1.0)
    assert torch.allclose(moved.norm(dim=1), t.norm(dim=1), atol=1e-4)
    cos = F.cosine_similarity(moved, t, dim=1)
    assert 0.5 < float(cos.mean()) < 0.9  # noise of the vector's own norm: about 45 degrees away


def test_a_text_head_of_another_size_than_the_space_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="text_head.dim"):
        PipelineConfig.from_dict({"text_head": {"dim": 64}})


def test_instance_infonce_by_hand() -> None:
    a = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=-1)
    matched = instance_infonce(a, a, 0.1)
    swapped = instance_infonce(a, a.flip(0), 0.1)
    assert matched < 1e-3 < swapped


# ---- inputs and config --------------------------------------------------------------------------

def test_window_set_validates_its_inputs() -> None:
    with pytest.raises(TrainingDataError, match=r"\(N, S, F\)"):
        WindowSet(torch.zeros(4, 57))
    with pytest.raises(TrainingDataError, match="groups has 3 entries for 4 windows"):
        WindowSet(torch.zeros(4, S, FEAT), groups=torch.zeros(3))
    with pytest.raises(TrainingDataError, match="training and validation"):
        StageData(WindowSet(torch.zeros(4, S, FEAT)), WindowSet(torch.zeros(0, S, FEAT)))
    data = synthetic(n_train=6, n_val=4)
    with pytest.raises(TrainingDataError, match="expects windows of 50 frames x 57 features, the data has 12 x 57"):
        train_vae(data, VAEConfig(), progress=quiet)
    data.text_emb = data.text_emb[:3]  # type: ignore[index]
    with pytest.raises(TrainingDataError, match="out of range"):
        data.need_text()
    empty = StageData(WindowSet(torch.zeros(2, S, FEAT), [[], []]), WindowSet(torch.zeros(1, S, FEAT), [[]]),
                      torch.zeros(1, 384))
    with pytest.raises(TrainingDataError, match="no window"):
        empty.need_text()


def test_random_pairs_draw_each_captioned_window_once() -> None:
    ws = WindowSet(torch.zeros(4, S, FEAT), [[3, 4], [], [7], [1, 2, 5]])
    win, cap = ws.random_pairs(np.random.default_rng(0))
    assert win.tolist() == [0, 2, 3]
    assert cap[0] in (3, 4) and cap[1] == 7 and cap[2] in (1, 2, 5)
    assert [w.tolist() for w in ws.all_pairs()] == [[0, 0, 2, 3, 3, 3], [3, 4, 7, 1, 2, 5]]


def test_balanced_batches_even_out_labels() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    drawn = np.concatenate(list(balanced_batches(labels, 10, 200, np.random.default_rng(0))))
    share = (labels[drawn] == 1).mean()
    assert 0.4 < share < 0.6


def test_pipeline_config_round_trips_and_rejects_bad_input(tmp_path: Path) -> None:
    cfg = PipelineConfig().with_sizes(hidden=64, latent=32)
    assert cfg.heads.dim == cfg.dance_to_text.latent == cfg.projector.latent == 32
    path = tmp_path / "pipeline.json"
    cfg.to_json(path)
    assert PipelineConfig.from_json(path) == cfg
    path.write_text('{"vae": {"hiden": 3}}')
    with pytest.raises(ConfigError, match=r"pipeline.json: unknown keys \['hiden'\] in section 'vae'"):
        PipelineConfig.from_json(path)
    path.write_text('{"vae": {"latent": 3}}')
    with pytest.raises(ConfigError, match="latent sizes must agree"):
        PipelineConfig.from_json(path)

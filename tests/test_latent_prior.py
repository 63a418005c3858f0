"""The text-conditioned latent prior: it samples the latents a text's windows have, not their mean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from embedders.latent_prior import LatentPrior, LatentPriorConfig
from training.stages.inputs import StageData, WindowSet
from training.stages.latent_prior import LatentPriorTrainConfig, learning_rate, train_latent_prior

L = 4


def bimodal(n: int, rng: np.random.Generator) -> WindowSet:
    """Two texts; text c's windows have latent dim 1 at 3c - 1.5 and dim 0 at -2 or +2 (two modes)."""
    cls = rng.integers(2, size=n)
    mode = rng.choice([-2.0, 2.0], size=n)
    mu = np.zeros((n, L))
    mu[:, 0] = mode
    mu[:, 1] = 3.0 * cls - 1.5
    mu += 0.1 * rng.normal(size=(n, L))
    caps = [[int(c)] for c in cls]
    return WindowSet(torch.zeros(n, 2, 1), caps, torch.tensor(cls), mu=torch.tensor(mu, dtype=torch.float32))


@pytest.fixture(scope="module")
def bimodal_prior(tmp_path_factory: pytest.TempPathFactory) -> tuple[LatentPrior, torch.Tensor, dict]:
    rng = np.random.default_rng(0)
    text = F.normalize(torch.tensor(rng.normal(size=(2, 8)), dtype=torch.float32), dim=1)
    data = StageData(bimodal(400, rng), bimodal(100, rng), text)
    cfg = LatentPriorTrainConfig(epochs=25, batch_size=64, lr=3e-3, draws_per_epoch=2, warmup_steps=10, patience=25)
    prior, history = train_latent_prior(data, LatentPriorConfig(text_dim=8, latent=L, hidden=64, blocks=2, time_dim=16),
                                        cfg, progress=lambda *a: None,
                                        checkpoint=tmp_path_factory.mktemp("prior") / "prior.pt")
    return prior, text, history


def test_prior_samples_both_modes_of_its_text_where_a_regression_gives_their_mean(bimodal_prior) -> None:  # type: ignore[no-untyped-def]
    prior, text, history = bimodal_prior
    assert history["val/flow"][-1] < history["val/flow"][0]
    for c in (0, 1):
        z = prior.sample(text[c].expand(400, -1), guidance=1.0, generator=torch.Generator().manual_seed(c)).numpy()
        assert abs(np.median(z[:, 1]) - (3.0 * c - 1.5)) < 0.3  # the text's own latents
        near_mode = np.abs(np.abs(z[:, 0]) - 2.0) < 0.6
        assert near_mode.mean() > 0.7  # on a mode, not at their mean 0
        assert 0.25 < (z[:, 0] > 0).mean() < 0.75  # and both modes
    # seeded: the same generator gives the same latents; guidance 2 still lands on the text's side
    a = prior.sample(text[:1], generator=torch.Generator().manual_seed(5))
    b = prior.sample(text[:1], generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    z = prior.sample(text[1].expand(200, -1), guidance=2.0, generator=torch.Generator().manual_seed(1)).numpy()
    assert np.median(z[:, 1]) > 1.0


def test_prior_saves_and_loads_with_its_statistics(tmp_path: Path) -> None:
    prior = LatentPrior(LatentPriorConfig(text_dim=8, latent=L, hidden=16, blocks=1, time_dim=8))
    prior.set_statistics(torch.tensor([[0.0, 1, 2, 3], [2.0, 3, 4, 9]]))
    prior.save(tmp_path, "latent_prior")
    back = LatentPrior.load(tmp_path, "latent_prior")
    assert torch.equal(back.mean, prior.mean) and torch.equal(back.std, prior.std)
    text = torch.ones(3, 8)
    g = torch.Generator().manual_seed(0)
    assert torch.allclose(back.sample(text, generator=g), prior.sample(text, generator=torch.Generator().manual_seed(0)))


def test_learning_rate_warms_up_then_decays_to_a_tenth() -> None:
    cfg = LatentPriorTrainConfig(lr=1e-3, warmup_steps=10)
    rates = [learning_rate(s, 110, cfg) for s in range(111)]
    assert rates[0] == 1e-4 and abs(rates[9] - 1e-3) < 1e-12
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))
    assert abs(rates[110] - 1e-4) < 1e-12


def test_edit_keeps_the_latent_at_strength_zero_and_moves_it_to_the_new_text(bimodal_prior) -> None:  # type: ignore[no-untyped-def]
    prior, text, _ = bimodal_prior
    source = torch.tensor([[2.0, -1.5, 0.0, 0.0]]).expand(200, -1)  # a text-0 latent on the +2 mode
    assert torch.equal(prior.edit(source, text[1].expand(200, -1), 0.0), source)
    g = torch.Generator().manual_seed(3)
    moved = prior.edit(source, text[1].expand(200, -1), 1.0, guidance=1.0, generator=g).numpy()
    assert np.median(moved[:, 1]) > 1.0  # fully re-drawn: text 1's latents
    light = prior.edit(source, text[1].expand(200, -1), 0.2, guidance=1.0, generator=g).numpy()
    assert np.abs(light - source.numpy()).mean() < np.abs(moved - source.numpy()).mean()  # a light edit stays nearer
    with pytest.raises(ValueError, match="strength"):
        prior.edit(source, text[1].expand(200, -1), 1.5)

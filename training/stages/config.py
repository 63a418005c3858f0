"""One typed, JSON-saveable configuration of all seven stages (and the generator's latent prior): module sizes and training settings.

The defaults are the sizes measured to train the whole pipeline in about half an hour on a 2-core CPU
with ~12,000 training windows (see docs). `with_sizes(hidden, latent)` changes the shared sizes
consistently; `from_json` rejects unknown keys with an error naming the file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from embedders.heads import DanceToTextConfig, ProjectionHeadsConfig
from embedders.latent_prior import LatentPriorConfig
from embedders.motion import VAEConfig
from embedders.spaces import SharedSpaceConfig, TextHeadConfig
from embedders.text import TextProjectorConfig
from training.clustering import ClusterConfig
from training.stages.contrastive import HeadsTrainConfig
from training.stages.dance_to_text import DanceToTextTrainConfig
from training.stages.generator import GeneratorTrainConfig
from training.stages.latent_prior import LatentPriorTrainConfig
from training.stages.shared_space import SharedSpaceTrainConfig
from training.stages.text_head import TextHeadTrainConfig
from training.stages.text_projector import TextProjectorTrainConfig
from training.stages.vae import VAETrainConfig


class ConfigError(ValueError):
    """A pipeline configuration is inconsistent or cannot be read."""


@dataclass
class PipelineConfig:
    """Model and training configs of every stage (the generator's sizes follow the VAE and projector)."""

    vae: VAEConfig = field(default_factory=VAEConfig)
    vae_train: VAETrainConfig = field(default_factory=VAETrainConfig)
    clusters: ClusterConfig = field(default_factory=ClusterConfig)
    projector: TextProjectorConfig = field(default_factory=TextProjectorConfig)
    projector_train: TextProjectorTrainConfig = field(default_factory=TextProjectorTrainConfig)
    heads: ProjectionHeadsConfig = field(default_factory=ProjectionHeadsConfig)
    heads_train: HeadsTrainConfig = field(default_factory=HeadsTrainConfig)
    dance_to_text: DanceToTextConfig = field(default_factory=DanceToTextConfig)
    dance_to_text_train: DanceToTextTrainConfig = field(default_factory=DanceToTextTrainConfig)
    generator_train: GeneratorTrainConfig = field(default_factory=GeneratorTrainConfig)
    latent_prior: LatentPriorConfig = field(default_factory=LatentPriorConfig)
    latent_prior_train: LatentPriorTrainConfig = field(default_factory=LatentPriorTrainConfig)
    shared_space: SharedSpaceConfig = field(default_factory=SharedSpaceConfig)
    shared_space_train: SharedSpaceTrainConfig = field(default_factory=SharedSpaceTrainConfig)
    text_head: TextHeadConfig = field(default_factory=TextHeadConfig)
    text_head_train: TextHeadTrainConfig = field(default_factory=TextHeadTrainConfig)

    def __post_init__(self) -> None:
        latents = {"vae.latent": self.vae.latent, "projector.latent": self.projector.latent,
                   "heads.dim": self.heads.dim, "dance_to_text.latent": self.dance_to_text.latent,
                   "latent_prior.latent": self.latent_prior.latent}
        if len(set(latents.values())) != 1:
            raise ConfigError(f"latent sizes must agree: {latents}")
        if self.text_head.dim != self.shared_space.dim:
            raise ConfigError(f"text_head.dim {self.text_head.dim} must equal shared_space.dim {self.shared_space.dim}"
                              " (the refitted text head embeds into the shared space)")

    def with_sizes(self, hidden: int, latent: int) -> PipelineConfig:
        """A copy with the recurrent hidden size H and the latent size L set in every module."""
        return replace(self, vae=replace(self.vae, hidden=hidden, latent=latent),
                       projector=replace(self.projector, latent=latent), heads=replace(self.heads, dim=latent),
                       dance_to_text=replace(self.dance_to_text, latent=latent),
                       latent_prior=replace(self.latent_prior, latent=latent),
                       shared_space=replace(self.shared_space, hidden=hidden))

    def to_json(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def from_json(cls, path: Path) -> PipelineConfig:
        """Read a config; missing sections and keys take their defaults, unknown ones are errors."""
        try:
            raw = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read pipeline config: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> PipelineConfig:
        sections = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(sections))
        if unknown:
            raise ConfigError(f"{where}: unknown sections {unknown}")
        built = {}
        for name, value in raw.items():
            section_type = type(getattr(cls(), name))
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: section {name!r} must be an object")
            bad = sorted(set(value) - {f.name for f in fields(section_type)})
            if bad:
                raise ConfigError(f"{where}: unknown keys {bad} in section {name!r}")
            built[name] = section_type(**value)
        return cls(**built)

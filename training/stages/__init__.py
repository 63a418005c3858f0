"""Per-stage trainers of the seven-stage pipeline, working on in-memory tensors.

Inputs are a :class:`training.stages.inputs.StageData` (train/val :class:`WindowSet` s and the caption
embedding matrix). Every trainer has the shape
``train_X(data, [earlier modules], model_config=None, train_config=None, *, progress=None,
checkpoint=None) -> (module, history)`` and shares the loop of :mod:`training.stages.loop`:

1. :mod:`.vae` - `train_vae`, `encode_latents`
2. :mod:`training.clustering` - `cluster_latents`, `assign_clusters` (not a gradient stage)
3. :mod:`.text_projector` - `train_text_projector`
4. :mod:`.contrastive` - `train_projection_heads`
5. :mod:`.dance_to_text` - `train_dance_to_text`
6. :mod:`.generator` - `train_generator`
7. :mod:`.shared_space` - `train_shared_space`

:mod:`.config` gathers every model and training config in one JSON-saveable `PipelineConfig`.
"""

"""Torch modules of dancesearch's seven-stage pipeline, each saved as JSON config + safetensors.

- :mod:`embedders.motion`: `MotionEncoder`, `PoseDecoder`, `DanceVAE` (stage 1).
- :mod:`embedders.text`: `FrozenMiniLM` (frozen sentence encoder with a cache), `TextProjector` (stage 3).
- :mod:`embedders.heads`: `ProjectionHeads` (stage 4), `DanceToText` and `describe` (stage 5).
- :mod:`embedders.generator`: `TextToDanceGenerator` (stage 6).
- :mod:`embedders.spaces`: `SharedSpace` (stage 7, InfoNCE) and `TripletSpace` (stages 1+3+4), both
  offering `embed_motion` / `embed_text`.
- :mod:`embedders.base`: `SavableModule` save/load, `ModelLoadError`, device helpers.
- :mod:`embedders.runtime` (a trained model directory loaded for serving) and :mod:`embedders.chain`
  (chaining generated windows) build on the modules above.

Nothing is imported here, so importing a submodule stays cheap.
"""

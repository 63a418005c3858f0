"""What the shared text-motion space is for beyond search (issue 13), built on a trained model at inference.

Zero-shot classification (:mod:`explore.classify`), interpolation (:mod:`explore.interpolate`), style
transfer by latent arithmetic (:mod:`explore.stylize`), learned concepts usable as ``<NAME>`` in text
(:mod:`explore.concepts`) and generation that respects the body (:mod:`explore.body`,
:mod:`explore.generation`, :mod:`explore.export`).

Layering: ``motion -> embedders -> explore -> search -> dancesearch``. The core modules import only
:mod:`motion` and :mod:`embedders`; nothing here trains the shipped model or changes its weights. The
settings chosen on ``val`` live in ``capabilities.json`` beside the model (:mod:`explore.settings`).
:mod:`explore.evaluation` (the ``dancesearch eval-capabilities`` report) also reads corpus splits through
:mod:`training`'s loaders, as the main evaluation does.
"""

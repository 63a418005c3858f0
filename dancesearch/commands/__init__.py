"""One module per group of subcommands; each exposes ``register(app)``. Imports of heavy libraries
(torch, transformers, faiss) stay inside command bodies so ``dancesearch --help`` is instant."""

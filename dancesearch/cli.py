"""The ``dancesearch`` console command: a typer app assembled from :mod:`dancesearch.commands`."""

from __future__ import annotations

import importlib
import logging

import typer

# HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE and OMP_WAIT_POLICY are defaulted by the package (dancesearch/__init__.py).

COMMAND_MODULES = (
    "dancesearch.commands.library",   # ingest, errors, clips, render
    "dancesearch.commands.serve",     # serve (HTTP API + web page)
    "dancesearch.commands.train",     # train, eval
    "dancesearch.commands.render",    # render (stick-figure PNG / GIF of motion files)
    "dancesearch.commands.rig",       # rig (how a file's skeleton is recognised; --toml)
    "dancesearch.commands.search",    # search text|clip, describe, generate, reindex
    "dancesearch.commands.demo",      # demo (sample library + shipped model + web page)
    "dancesearch.commands.bench",     # bench (ingest, latency, load, scale, quality, peers)
    "dancesearch.commands.capabilities",  # classify, interpolate, stylize, concept, eval-capabilities
)

app = typer.Typer(
    name="dancesearch",
    help="Search dance and motion-capture libraries by text, by example clip, and generate motion.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    app()

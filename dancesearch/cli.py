"""The ``dancesearch`` console command: a typer app assembled from :mod:`dancesearch.commands`."""

from __future__ import annotations

import importlib
import logging
import re
from typing import Any

import typer
from typer.core import TyperGroup

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

RAY_ADDRESS = re.compile(r"^(auto|local|ray://\S+|[A-Za-z0-9][A-Za-z0-9.-]*:\d{1,5})$")
"""What ``--ray ADDRESS`` accepts as an address: auto, local, ray://HOST:PORT or HOST:PORT."""


def ray_address_form(args: list[str]) -> list[str]:
    """``--ray ADDRESS`` / ``--ray=ADDRESS`` spelled as the options the commands declare.

    Why: the issue's form is ``--ray [ADDRESS]`` (an option with an optional value), which click
    cannot parse next to positional paths (``ingest --ray DIR`` would read DIR as the address). So
    ``--ray`` stays a flag and ``--ray-address`` holds the address; this rewrite turns ``--ray X``
    into ``--ray --ray-address X`` only when X reads as an address (:data:`RAY_ADDRESS`), and
    ``--ray=X`` always. ``local`` means the local runtime, i.e. plain ``--ray``. Arguments after
    ``--`` are left alone.
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return out + args[i:]
        value = None
        if arg.startswith("--ray="):
            value = arg.split("=", 1)[1]
        elif arg == "--ray" and i + 1 < len(args) and RAY_ADDRESS.match(args[i + 1]):
            value, i = args[i + 1], i + 1
        if value is None:
            out.append(arg)
        elif value in ("", "local"):
            out.append("--ray")
        else:
            out += ["--ray", "--ray-address", value]
        i += 1
    return out


class _Group(TyperGroup):
    """The root group; reads ``--ray ADDRESS`` (:func:`ray_address_form`) before click parses."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, ray_address_form(list(args)))


app = typer.Typer(
    cls=_Group,
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

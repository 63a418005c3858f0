"""Library commands: ``ingest``, ``errors``, ``render``. (Filled in by the foundation work.)"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the top-level app."""

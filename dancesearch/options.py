"""Command-line options shared by every subcommand (typer ``Annotated`` aliases)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Library data directory (env DANCESEARCH_HOME; default ~/.local/share/dancesearch)."),
]
DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL, e.g. postgresql+psycopg://127.0.0.1/test (env DANCESEARCH_DB; default SQLite in the data directory)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")]

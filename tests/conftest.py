"""Shared pytest fixtures: the corpus location, isolated libraries (SQLite and PostgreSQL) and a
CLI runner. Every test runs with ``DANCESEARCH_HOME`` pointed at a temporary folder, so nothing ever
touches the user's real library.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
TINY_PIPELINE = Path(__file__).resolve().parent / "data" / "tiny_pipeline.json"
PG_BASE_URL = os.environ.get("DANCESEARCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under ``CI=true`` a skip is a failure: PostgreSQL, Chromium and the corpus are there in CI, so a
    test that skips because one is missing would ship untested code green."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI", "").lower() == "true" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a skip is a failure in CI): {reason}"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the default library at a fresh temporary folder; drop any DANCESEARCH_DB and
    DANCESEARCH_MODEL, and hide the shipped models/default (tests name their model explicitly)."""
    home = tmp_path_factory.mktemp("dancesearch-home")
    monkeypatch.setenv("DANCESEARCH_HOME", str(home))
    monkeypatch.delenv("DANCESEARCH_DB", raising=False)
    monkeypatch.delenv("DANCESEARCH_MODEL", raising=False)
    monkeypatch.setattr("dancesearch.engine_factory.default_model_dir", lambda: home / "no-default-model")


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus folder (tests needing it skip if it is absent)."""
    if not (CORPUS / "manifest.json").is_file():
        pytest.skip(f"corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def tiny_training(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    """A tiny real model trained once per session (tests/data/tiny_pipeline.json, 4 clips of each of
    three sources): ``(TrainOptions, stage state)``. Its results are meaningless but exercise everything."""
    from training.pipeline import TrainOptions, train_all
    from training.stages.config import PipelineConfig

    root = tmp_path_factory.mktemp("tiny-model")
    opts = TrainOptions(corpus=corpus, out=root / "model", work=root / "work",
                        config=PipelineConfig.from_json(TINY_PIPELINE), captions_per_clip=3, workers=0,
                        sources=("bandai-2", "ballroom", "cmu"), max_clips_per_source=4)
    return opts, train_all(opts)


@pytest.fixture(scope="session")
def tiny_model(tiny_training: tuple[Any, dict[str, Any]]) -> Path:
    """The directory of the session's tiny trained model."""
    return Path(tiny_training[0].out)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty library data directory."""
    return tmp_path / "library"


@pytest.fixture
def library(data_dir: Path) -> Iterator:
    """An open, empty SQLite library in `data_dir`."""
    from db.config import LibraryLocation
    from db.library import Library

    with Library.open(LibraryLocation.resolve(data_dir)) as lib:
        yield lib


def _pg_admin_url() -> str:
    from sqlalchemy.engine import make_url
    return make_url(PG_BASE_URL).set(drivername="postgresql").render_as_string(hide_password=False)


PG_CONNECT_ATTEMPTS = 3
PG_CONNECT_TIMEOUT_S = 10


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a new, uniquely named PostgreSQL database, dropped afterwards.

    Skips (with the reason) only when the server cannot be reached.
    """
    import psycopg
    from sqlalchemy.engine import make_url

    for attempt in range(PG_CONNECT_ATTEMPTS):  # a busy shared machine can miss one short connect timeout
        try:
            admin = psycopg.connect(_pg_admin_url(), autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT_S)
            break
        except psycopg.OperationalError as exc:
            if attempt == PG_CONNECT_ATTEMPTS - 1:
                pytest.skip(f"PostgreSQL server unreachable at {make_url(PG_BASE_URL).render_as_string()} "
                            f"after {PG_CONNECT_ATTEMPTS} attempts: {str(exc).strip().splitlines()[0]}")
    name = f"dancesearch_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(PG_BASE_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def cli() -> Callable[..., object]:
    """Run the ``dancesearch`` CLI in-process: ``cli("ingest", path, "--json")`` -> click Result."""
    from typer.testing import CliRunner

    from dancesearch.cli import app

    runner = CliRunner()

    def invoke(*args: object) -> object:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke

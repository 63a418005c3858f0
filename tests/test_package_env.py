"""Importing ``dancesearch`` defaults the process environment that serving needs (before torch loads):
no downloads, and OpenMP threads that sleep when idle; values already set win."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = ("import os, dancesearch; "
         "print(os.environ['OMP_WAIT_POLICY'], os.environ['HF_HUB_OFFLINE'], os.environ['TRANSFORMERS_OFFLINE'])")


def _probe(**env: str) -> str:
    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True,
                         check=True, timeout=60)
    return out.stdout.strip()


def test_import_defaults_passive_openmp_and_offline() -> None:
    assert _probe() == "PASSIVE 1 1"


@pytest.mark.parametrize("policy", ["ACTIVE", "PASSIVE"])
def test_a_value_already_set_wins(policy: str) -> None:
    assert _probe(OMP_WAIT_POLICY=policy, HF_HUB_OFFLINE="0").split()[:2] == [policy, "0"]


def test_the_service_module_gets_them_without_the_cli() -> None:
    """uvicorn imports ``dancesearch.service.app`` itself (no CLI): the package's defaults still apply."""
    code = "import os, dancesearch.service.app; print(os.environ['OMP_WAIT_POLICY'])"
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True, check=True,
                         timeout=120)
    assert out.stdout.strip() == "PASSIVE"

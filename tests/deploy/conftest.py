"""Fixtures of tests/deploy: the real one-node podnet of tests/e2e, and the deploy tree."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import cni_bin, node

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

__all__ = ["DEPLOY", "REPO", "cni_bin", "node"]

"""Shared fixtures: one warm worker per test session, and grading of buggy variants."""

from __future__ import annotations

import pytest

from lhy_grader.worker.client import Worker


@pytest.fixture(scope="session")
def worker():
    """A worker reused across tests (it reloads each submission folder it is given)."""
    with Worker(preload=("numpy", "torch")) as w:
        yield w

"""Shared fixtures: paths to the repository, the shared data and the example configs."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CONFIG_DIR = REPO / "config"
REFERENCE_SITE = CONFIG_DIR / "reference-site.yaml"


@pytest.fixture
def reference_site_path() -> Path:
    """The shipped reference site configuration."""
    return REFERENCE_SITE


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the checkout (read-only data and specs)."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: the tests need ../shared beside the checkout")
    return SHARED

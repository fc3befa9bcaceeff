"""Shared fixtures."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded random generator."""
    return np.random.default_rng(0)

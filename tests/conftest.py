"""Shared fixtures."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded random generator."""
    return np.random.default_rng(0)


INSTRUMENTS = ("cello", "flute", "piano", "violin")


def make_feature_rows(n_per_class=40, *, n_features=120, seed=0):
    """Feature-like rows: 4 instrument-named classes of 120 features with MFCC-like offsets and scales.

    Returns ``(X float64 (4 * n_per_class, n_features), names <U6 (4 * n_per_class,))``; columns have means of a few
    hundred and spreads from 1 to 100, so standardization matters and float32 rounding is exercised.
    """
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=n_per_class * len(INSTRUMENTS), n_features=n_features, centers=len(INSTRUMENTS),
                      cluster_std=4.0, center_box=(-6.0, 6.0), random_state=seed)
    gen = np.random.default_rng(seed)
    X = X * gen.uniform(1.0, 100.0, n_features) + gen.uniform(-400.0, 400.0, n_features)
    return X, np.asarray(INSTRUMENTS)[y]


@pytest.fixture(scope="session")
def feature_rows():
    """``(X, names)`` from :func:`make_feature_rows` (160 rows, 4 classes)."""
    return make_feature_rows()


@pytest.fixture(scope="session")
def small_classifier(feature_rows):
    """An InstrumentClassifier fitted for a few epochs on ``feature_rows`` (shared: do not modify it)."""
    from instrumentid.classifier import InstrumentClassifier

    X, names = feature_rows
    return InstrumentClassifier(hidden_units=32, epochs=3, lr=1e-2, batch_size=32, random_state=0).fit(X, names)


def make_uiowa_arrays(*, n_train=3000, n_test=800, n_features=120, n_classes=10, spread=7.5, seed=0):
    """Arrays of a small UIowa-format set: well-separated Gaussian classes, rows sorted by class (as UIowa's are).

    Returns a dict keyed like :data:`instrumentid.datasets.base.FILES` (``X_train`` float64, ``y_train`` int64...).
    """
    gen = np.random.default_rng(seed)
    centers = gen.normal(scale=1.0, size=(n_classes, n_features)) * 3.0 + gen.uniform(-50, 50, n_features)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = np.sort(np.concatenate([np.arange(n_classes), gen.integers(0, n_classes, n - n_classes)]))
        out[f"X_{split}"] = centers[y] + spread * gen.normal(size=(n, n_features))
        out[f"y_{split}"] = y.astype(np.int64)
    return out


def write_uiowa(folder, arrays):
    """Write ``arrays`` (see :func:`make_uiowa_arrays`) as the four UIowa ``.npy`` files in ``folder``."""
    from pathlib import Path

    from instrumentid.datasets.base import FILES

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in FILES.items():
        if key in arrays:
            np.save(folder / name, arrays[key])
    return folder


@pytest.fixture(scope="session")
def uiowa_dir(tmp_path_factory):
    """A folder of the four UIowa files: 10 Gaussian classes, 120 features, 3,000 train / 800 test rows (read-only)."""
    return write_uiowa(tmp_path_factory.mktemp("uiowa"), make_uiowa_arrays())


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium WebDriver (tests/headless.py) shared by the browser tests; they skip when it is missing."""
    from headless import start_chromium

    driver = start_chromium()
    yield driver
    driver.quit()

"""instrumentid: tell which musical instrument is playing.

The package follows its pipeline::

    audio -> notes -> features -> analysis -> datasets -> model -> training -> classifier -> prediction
    -> plots / report / lab -> cli

The names below are the public surface; heavy modules (torch, librosa, matplotlib) are imported lazily, on first use
of a name, so that ``import instrumentid`` and ``instrumentid --help`` stay fast. ``instrumentid.predict`` is the
function :func:`instrumentid.prediction.predict` (the module has another name, so importing it never shadows the
function).
"""

from importlib import import_module

from instrumentid.errors import (
    InstrumentIdError,
    ModelFileError,
    NotFittedError,
    ParameterError,
)

__version__ = "0.1.0"

_LAZY = {
    "InstrumentClassifier": "instrumentid.classifier",
    "analyze": "instrumentid.analysis",
    "predict": "instrumentid.prediction",
    "load_uiowa": "instrumentid.datasets.uiowa",
    "load_audio": "instrumentid.audio",
}

__all__ = [
    "InstrumentClassifier",
    "InstrumentIdError",
    "ModelFileError",
    "NotFittedError",
    "ParameterError",
    "__version__",
    "analyze",
    "load_audio",
    "load_uiowa",
    "predict",
]


def __getattr__(name):
    """Import the module of a public name on first use (PEP 562)."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'instrumentid' has no attribute {name!r}")

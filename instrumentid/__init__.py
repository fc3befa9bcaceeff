"""instrumentid: tell which musical instrument is playing.

The package follows its pipeline::

    audio -> notes -> features -> datasets -> model -> training -> classifier -> predict -> plots / report

Heavy modules (torch, librosa, matplotlib) are imported lazily so that ``import instrumentid`` and
``instrumentid --help`` stay fast.
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
    "predict": "instrumentid.predict",
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
    "load_audio",
    "load_uiowa",
    "predict",
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'instrumentid' has no attribute {name!r}")

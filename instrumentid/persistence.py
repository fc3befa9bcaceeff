"""Model files: safetensors weights plus a JSON config, hashed and written atomically; never pickled.

A model folder holds two files::

    model.safetensors   the network's tensors (safetensors: raw arrays, no code)
    model.json          format + version, the model's config (for a classifier: classes, architecture, scaler
                        mean/scale, hyperparameters, note and feature settings, training history, versions), the
                        names, shapes and dtypes of the tensors, and the sha256 of model.safetensors

The integrity check covers both files: ``model.safetensors`` carries, in its header metadata, a copy of the config
(everything in ``model.json`` but the hash of the weights), and ``model.json`` carries the sha256 of
``model.safetensors``. So an edit of the weights changes their hash, and an edit of ``model.json`` makes it differ
from the copy the hashed weights carry; either is refused, naming the file and the edited fields.

This module only writes and reads these files: what the config holds is the estimator's business
(:meth:`InstrumentClassifier.to_config <instrumentid.classifier.InstrumentClassifier.to_config>` and
``from_config``). The folder is written under a temporary name and renamed when complete, so a crash never leaves
half a model. Reading checks the format and its version, the hash of the weights, that safetensors can read them and
that they are the tensors the config lists, and refuses anything it cannot trust with a
:class:`~instrumentid.errors.ModelFileError` naming the file.

``model.json`` is format version 2 (version 1 had no copy of the config in the weights: such files are refused;
re-save the model with this version).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from instrumentid.errors import ModelFileError, ParameterError
from instrumentid.runfolder import MODEL_DIR
from instrumentid.util import atomic_folder

__all__ = [
    "CONFIG_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "WEIGHTS_FILE",
    "ModelFiles",
    "file_sha256",
    "read_config",
    "read_model",
    "resolve_model_path",
    "write_model",
]

FORMAT = "instrumentid-model"
FORMAT_VERSION = 2
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"

#: Keys of model.json that this module writes and needs to read the weights.
_REQUIRED = ("format", "format_version", "tensors", "weights_sha256")
#: Keys of model.json that are not in the copy of the config inside the weights (they describe the weights file).
_OUTSIDE = ("weights_sha256", "weights_bytes")
#: The one key of the safetensors header metadata (one key, so the header's bytes do not depend on key order).
_METADATA_KEY = "instrumentid"


def _canonical(config: dict) -> str:
    """The config as canonical JSON (sorted keys, no spaces): what the weights carry and what is compared."""
    return json.dumps({k: v for k, v in config.items() if k not in _OUTSIDE}, sort_keys=True,
                      separators=(",", ":"), default=_json_default)


class ModelFiles(NamedTuple):
    """What :func:`read_model` found: the config, the tensors and where the config is."""

    config: dict
    tensors: dict
    config_path: Path


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in {CONFIG_FILE}")


def write_model(path, config: dict, tensors: dict) -> Path:
    """Write a model folder, atomically: ``tensors`` to ``model.safetensors``, ``config`` to ``model.json``.

    ``model.json`` gets the format and its version, the list of tensors and the hash of the weights besides
    ``config``. An existing model folder (or empty folder) at ``path`` is replaced only once the new one is
    complete; any other existing file or folder is refused, so a run folder is never overwritten by mistake.

    Parameters
    ----------
    path : str or Path
        The model folder.
    config : dict
        JSON-ready description of the model (e.g. ``InstrumentClassifier.to_config()[0]``).
    tensors : dict of str -> torch.Tensor
        Contiguous CPU tensors.

    Returns
    -------
    Path
        The model folder.

    Raises
    ------
    ParameterError
        ``path`` exists and is not a model folder.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or (path / CONFIG_FILE).is_file())):
        raise ParameterError(
            f"will not replace {str(path)!r} by a model folder: it is a file or a folder holding other things "
            f"than a saved model (save to e.g. {str(path / MODEL_DIR)!r})"
        )
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **config,
        "tensors": {name: {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
                    for name, t in tensors.items()},
    }
    with atomic_folder(path) as tmp:
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={_METADATA_KEY: _canonical(config)})
        config["weights_sha256"] = file_sha256(tmp / WEIGHTS_FILE)
        config["weights_bytes"] = (tmp / WEIGHTS_FILE).stat().st_size
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=1, default=_json_default) + "\n")
    return path


def resolve_model_path(path) -> Path:
    """Find ``model.json`` from a model folder, a run folder (``RUN/model/``), the JSON or the weights file.

    Raises
    ------
    ModelFileError
        Nothing usable at ``path``.
    """
    path = Path(path)
    if path.is_file():
        if path.name == WEIGHTS_FILE:
            path = path.with_name(CONFIG_FILE)
        if path.suffix != ".json":
            raise ModelFileError(f"{path}: expected a model folder or its {CONFIG_FILE}, got another file")
        if not path.is_file():
            raise ModelFileError(f"{path}: missing model config beside {WEIGHTS_FILE}")
        return path
    if path.is_dir():
        for candidate in (path / CONFIG_FILE, path / MODEL_DIR / CONFIG_FILE):
            if candidate.is_file():
                return candidate
        raise ModelFileError(f"{path}: no {CONFIG_FILE} in this folder or in {path / MODEL_DIR}")
    raise ModelFileError(f"{path}: no such model file or folder")


def read_config(path) -> dict:
    """Read and check ``model.json`` (format, version, the keys this module needs); return the config dict.

    Raises
    ------
    ModelFileError
        Unreadable or truncated JSON, another format, an unknown version or missing keys.
    """
    path = resolve_model_path(path)
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path}: not a readable model config (truncated or corrupted JSON: {err})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an instrumentid model config (expected \"format\": \"{FORMAT}\")")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: unknown model format version {version!r}; this instrumentid reads version {FORMAT_VERSION}"
        )
    missing = [key for key in _REQUIRED if key not in config]
    if missing:
        raise ModelFileError(f"{path}: model config lacks {', '.join(missing)}")
    return config


def _load_tensors(path: Path, framework: str) -> dict:
    """The tensors of a safetensors file, as torch tensors (``"pt"``) or numpy arrays (``"numpy"``)."""
    if framework == "numpy":
        from safetensors.numpy import load_file as load_numpy

        return dict(load_numpy(str(path)))
    from safetensors.torch import load_file as load_torch

    return dict(load_torch(str(path)))


def _all_finite(tensor) -> bool:
    """Whether every value of a numpy array or torch tensor is finite (a weight of NaN makes every output NaN)."""
    if isinstance(tensor, np.ndarray):
        return bool(np.isfinite(tensor).all())
    import torch

    return bool(torch.isfinite(tensor).all())


def _check_same_config(config: dict, carried, config_path: Path) -> None:
    """Refuse a ``model.json`` that differs from the copy of the config its (hashed) weights carry."""
    if not isinstance(carried, str):
        raise ModelFileError(f"{config_path}: the weights carry no copy of the config to check it against "
                             "(written by another version?): re-save the model with this version of instrumentid")
    try:
        saved = json.loads(carried)
        now = json.loads(_canonical(config))
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"{config_path}: cannot compare the config with its copy in the weights ({err})") from None
    if saved != now:
        fields = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        raise ModelFileError(f"{config_path}: edited after it was saved (fields {', '.join(fields)} differ from the "
                             f"copy stored with the weights); the model cannot be trusted")


def read_model(path, *, framework: str = "pt") -> ModelFiles:
    """Read a model folder, a run folder or a ``model.json`` (see :func:`write_model`), checking the weights.

    Parameters
    ----------
    path : str or Path
    framework : {"pt", "numpy"}
        Read the tensors as torch tensors, or as numpy arrays (torch is then not imported).

    Returns
    -------
    ModelFiles
        ``config`` (the dict of ``model.json``), ``tensors`` (name -> torch.Tensor or np.ndarray) and
        ``config_path``.

    Raises
    ------
    ModelFileError
        Missing or truncated files, weights whose hash differs from the recorded one (changed, truncated or
        replaced), a config that differs from the copy the weights carry (edited), tensors that are not those the
        config lists or that hold NaN or infinite values; an unknown format version.
    """
    from safetensors import SafetensorError, safe_open

    if framework not in ("pt", "numpy"):
        raise ParameterError(f"framework must be 'pt' or 'numpy', got {framework!r}")

    config_path = resolve_model_path(path)
    config = read_config(config_path)
    weights_path = config_path.with_name(WEIGHTS_FILE)
    if not weights_path.is_file():
        raise ModelFileError(f"{weights_path}: missing weights file (expected beside {config_path.name})")
    digest = file_sha256(weights_path)
    if digest != config["weights_sha256"]:
        raise ModelFileError(
            f"{weights_path}: sha256 {digest[:16]}... does not match {str(config['weights_sha256'])[:16]}... "
            f"recorded in {config_path.name}; the weights were changed, truncated or replaced"
        )
    try:
        tensors = _load_tensors(weights_path, framework)
        with safe_open(str(weights_path), framework="np") as fh:
            carried = (fh.metadata() or {}).get(_METADATA_KEY)
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"{weights_path}: not a readable safetensors file ({err})") from None
    _check_same_config(config, carried, config_path)
    try:
        recorded = {name: tuple(spec["shape"]) for name, spec in config["tensors"].items()}
    except (AttributeError, KeyError, TypeError) as err:
        raise ModelFileError(f"{config_path}: bad tensor list ({err})") from None
    found = {name: tuple(t.shape) for name, t in tensors.items()}
    if found != recorded:
        diff = sorted(set(found.items()) ^ set(recorded.items()))
        raise ModelFileError(f"{weights_path}: tensors do not match those listed in {config_path.name} "
                             f"(differences: {diff[:4]})")
    not_finite = sorted(name for name, t in tensors.items() if not _all_finite(t))
    if not_finite:
        raise ModelFileError(f"{weights_path}: tensors {', '.join(not_finite[:4])} hold NaN or infinite values; "
                             "the model cannot be used")
    return ModelFiles(config, tensors, config_path)

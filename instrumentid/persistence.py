"""Saved models: safetensors weights plus a JSON config, hashed and written atomically; never pickled.

A model folder holds two files::

    model.safetensors   the network's tensors (safetensors: raw arrays, no code)
    model.json          format + version, classes, architecture, tensor shapes, scaler mean/scale, feature
                        settings, hyperparameters, training history, package/torch/numpy versions and the sha256
                        of model.safetensors

The folder is written under a temporary name and renamed when complete, so a crash never leaves half a model.
Loading rebuilds :class:`~instrumentid.model.LabNet` in code from the config, checks the hash, the tensor names
and shapes, and refuses anything it cannot trust with a :class:`~instrumentid.errors.ModelFileError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from instrumentid.errors import ModelFileError, ParameterError
from instrumentid.util import atomic_dir, commit_dir, package_versions

__all__ = [
    "CONFIG_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "WEIGHTS_FILE",
    "file_sha256",
    "load_classifier",
    "read_config",
    "resolve_model_path",
    "save_classifier",
]

FORMAT = "instrumentid-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"

_REQUIRED = ("format", "format_version", "classes", "classes_dtype", "architecture", "tensors", "scaler",
             "weights_sha256")


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _classes_to_json(classes: np.ndarray) -> tuple[list, str]:
    """Class labels as a JSON list plus the numpy dtype needed to restore them exactly."""
    kind = classes.dtype.kind
    if kind in "iub":
        return [c.item() for c in classes], classes.dtype.str
    if kind == "f":
        return [float(c) for c in classes], classes.dtype.str
    if kind == "U":
        return [str(c) for c in classes], classes.dtype.str
    values = [c.item() if isinstance(c, np.generic) else c for c in classes]
    if not all(isinstance(c, (str, int, float, bool)) for c in values):
        raise ModelFileError(f"cannot save class labels of type {type(values[0]).__name__} in JSON: {values[:5]!r}")
    return values, "object"




def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in model.json")


def save_classifier(clf, path) -> Path:
    """Write a fitted :class:`~instrumentid.classifier.InstrumentClassifier` to the model folder ``path``.

    An existing model folder (or empty folder) at ``path`` is replaced only once the new one is complete; any other
    existing file or folder is refused, so a run folder is never overwritten by mistake.

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
            f"than a saved model (save to e.g. {str(path / 'model')!r})"
        )
    state = {name: t.detach().cpu().contiguous() for name, t in clf.model_.state_dict().items()}
    classes, classes_dtype = _classes_to_json(np.asarray(clf.classes_))
    scaler = clf.scaler_
    feature_names = getattr(clf, "feature_names_in_", None)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "classes": classes,
        "classes_dtype": classes_dtype,
        "n_features": int(clf.n_features_in_),
        "feature_names": None if feature_names is None else [str(f) for f in feature_names],
        "architecture": {
            "name": type(clf.model_).__name__,
            "n_features": int(clf.n_features_in_),
            "n_classes": len(classes),
            "hidden_units": int(clf.hidden_units),
            "activation": str(clf.activation),
        },
        "tensors": {name: {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
                    for name, t in state.items()},
        "scaler": {
            "mean": np.asarray(scaler.mean_, dtype=np.float64).tolist(),
            "scale": np.asarray(scaler.scale_, dtype=np.float64).tolist(),
            "var": np.asarray(scaler.var_, dtype=np.float64).tolist(),
            "n_samples_seen": int(np.max(scaler.n_samples_seen_)),
        },
        "params": clf.get_params(),
        "feature_settings": getattr(clf, "feature_settings_", None),
        "history": None if getattr(clf, "history_", None) is None else clf.history_.to_dict(),
        "versions": package_versions(["instrumentid", "torch", "numpy", "scikit-learn", "python", "safetensors"]),
    }
    tmp = atomic_dir(path)
    try:
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})
        config["weights_sha256"] = file_sha256(tmp / WEIGHTS_FILE)
        config["weights_bytes"] = (tmp / WEIGHTS_FILE).stat().st_size
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=1, default=_json_default) + "\n")
        commit_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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
        for candidate in (path / CONFIG_FILE, path / "model" / CONFIG_FILE):
            if candidate.is_file():
                return candidate
        raise ModelFileError(f"{path}: no {CONFIG_FILE} in this folder or in {path / 'model'}")
    raise ModelFileError(f"{path}: no such model file or folder")


def read_config(path) -> dict:
    """Read and check ``model.json`` (format, version, required keys); return the config dict.

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


def _restore_classes(config, path) -> np.ndarray:
    classes, dtype = config["classes"], config["classes_dtype"]
    try:
        out = np.array(classes, dtype=object if dtype == "object" else np.dtype(dtype))
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"{path}: bad classes {classes!r} of dtype {dtype!r}: {err}") from None
    if out.ndim != 1 or len(out) < 2 or len(np.unique(out)) != len(out):
        raise ModelFileError(f"{path}: classes must be at least 2 distinct labels, got {classes!r}")
    return out


def _restore_scaler(config, n_features, path):
    from sklearn.preprocessing import StandardScaler

    raw = config["scaler"]
    try:
        mean = np.asarray(raw["mean"], dtype=np.float64)
        scale = np.asarray(raw["scale"], dtype=np.float64)
        var = np.asarray(raw.get("var", scale ** 2), dtype=np.float64)
        n_seen = int(raw.get("n_samples_seen", 0))
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"{path}: bad scaler statistics ({err})") from None
    for name, arr in (("mean", mean), ("scale", scale), ("var", var)):
        if arr.shape != (n_features,) or not np.all(np.isfinite(arr)):
            raise ModelFileError(
                f"{path}: scaler {name} must be {n_features} finite numbers, got shape {arr.shape}"
            )
    if np.any(scale <= 0):
        raise ModelFileError(f"{path}: scaler scale must be positive")
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = mean, scale, var
    scaler.n_features_in_ = n_features
    scaler.n_samples_seen_ = np.int64(n_seen)
    return scaler


def _load_weights(weights_path: Path, config: dict, config_path: Path):
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not weights_path.is_file():
        raise ModelFileError(f"{weights_path}: missing weights file (expected beside {config_path.name})")
    digest = file_sha256(weights_path)
    if digest != config["weights_sha256"]:
        raise ModelFileError(
            f"{weights_path}: sha256 {digest[:16]}... does not match {config['weights_sha256'][:16]}... recorded "
            f"in {config_path.name}; the weights were changed, truncated or replaced"
        )
    try:
        return load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"{weights_path}: not a readable safetensors file ({err})") from None


def load_classifier(path, *, cls=None):
    """Rebuild a classifier from a model folder, a run folder or a ``model.json`` (see :func:`save_classifier`).

    Parameters
    ----------
    path : str or Path
    cls : type, optional
        Class to build (default :class:`~instrumentid.classifier.InstrumentClassifier`).

    Raises
    ------
    ModelFileError
        Missing, truncated or tampered-with files, tensors that do not match the config, unknown format version.
    """
    from instrumentid.model import LabNet

    if cls is None:
        from instrumentid.classifier import InstrumentClassifier as cls

    config_path = resolve_model_path(path)
    config = read_config(config_path)
    weights_path = config_path.with_name(WEIGHTS_FILE)
    state = _load_weights(weights_path, config, config_path)

    classes = _restore_classes(config, config_path)
    arch = config["architecture"]
    try:
        n_features = int(arch["n_features"])
        hidden_units = int(arch["hidden_units"])
        activation = str(arch["activation"])
        n_classes = int(arch["n_classes"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"{config_path}: bad architecture {arch!r} ({err})") from None
    if n_classes != len(classes):
        raise ModelFileError(f"{config_path}: architecture has {n_classes} outputs but {len(classes)} classes")
    try:
        model = LabNet(n_features, n_classes, hidden_units=hidden_units, activation=activation)
    except (ValueError, TypeError) as err:
        raise ModelFileError(f"{config_path}: cannot build the network from {arch!r} ({err})") from None

    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    recorded = {name: tuple(spec["shape"]) for name, spec in config["tensors"].items()}
    found = {name: tuple(t.shape) for name, t in state.items()}
    for source, shapes in ((config_path, recorded), (weights_path, found)):
        if shapes != expected:
            diff = sorted(set(shapes.items()) ^ set(expected.items()))
            raise ModelFileError(
                f"{source}: tensors do not match a {arch.get('name', 'LabNet')} with {n_features} features, "
                f"{hidden_units} hidden units and {n_classes} classes (differences: {diff[:4]})"
            )
    model.load_state_dict({name: t.float() for name, t in state.items()}, strict=True)
    model.eval()

    params = dict(config.get("params") or {})
    valid = cls().get_params()
    clf = cls(**{k: v for k, v in params.items() if k in valid})
    clf.hidden_units, clf.activation = hidden_units, activation
    clf.classes_ = classes
    clf.n_features_in_ = n_features
    if config.get("feature_names"):
        clf.feature_names_in_ = np.asarray(config["feature_names"], dtype=object)
    clf.scaler_ = _restore_scaler(config, n_features, config_path)
    clf.model_ = model
    clf.history_ = _restore_history(config.get("history"), config_path)
    clf.feature_settings_ = config.get("feature_settings")
    return clf


def _restore_history(data, path):
    if data is None:
        return None
    from instrumentid.training import History

    try:
        return History.from_dict(data)
    except ParameterError as err:
        raise ModelFileError(f"{path}: bad training history ({err})") from None

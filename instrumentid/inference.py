"""Run a saved model with numpy alone: predicting needs neither torch nor scikit-learn.

:class:`LightClassifier` reads a model folder written by :meth:`InstrumentClassifier.save
<instrumentid.classifier.InstrumentClassifier.save>` (the same checks of both files, :func:`instrumentid.persistence.
read_model`), standardizes with the saved scaler and runs the lab's network (features -> hidden layer -> softmax) as
two matrix products. It is what ``instrumentid predict`` loads: importing torch and scikit-learn took about 2 of the
4 seconds of a ``predict`` from the shell. Its probabilities equal the torch model's to float rounding (tested).

The helpers that turn a model config back into values (:func:`restore_classes`, :func:`restore_scaler`,
:func:`restore_settings`) are shared with :class:`~instrumentid.classifier.InstrumentClassifier`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

from instrumentid.architecture import tensor_shapes
from instrumentid.calibration import check_temperature, softmax
from instrumentid.errors import ModelFileError, ParameterError
from instrumentid.persistence import read_model
from instrumentid.settings import FeatureSettings, NoteSettings
from instrumentid.util import one_blas_thread

__all__ = ["ACTIVATIONS", "NO_CALIBRATION", "LightClassifier", "model_facts", "read_model_facts", "restore_branches",
           "restore_calibration", "restore_classes", "restore_scaler", "restore_settings"]

#: The hidden-layer activations of :data:`instrumentid.model.ACTIVATIONS`, in numpy (a test checks they agree).
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),  # the logistic function, without overflow
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}

#: Rows per forward pass (bounds memory on large inputs; the result does not depend on it).
_BATCH = 8192
#: Up to this many rows (a recording's notes) the products run on one BLAS thread: the same bits (a test checks), and
#: a second BLAS thread that has gone idle took 10-30 ms to wake on a busy machine, for products of 0.07 ms.
_ONE_THREAD_ROWS = 4096
#: The calibration of a model that has none (a temperature of 1: the network's own softmax).
NO_CALIBRATION: dict[str, float | str | None] = {"temperature": 1.0, "method": None, "fitted_on": None}


def restore_classes(config: dict) -> np.ndarray:
    """The class labels of a model config, with their saved dtype; ModelFileError unless >= 2 distinct labels."""
    classes, dtype = config["classes"], config["classes_dtype"]
    try:
        out = np.array(classes, dtype=object if dtype == "object" else np.dtype(dtype))
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"bad classes {classes!r} of dtype {dtype!r}: {err}") from None
    if out.ndim != 1 or len(out) < 2 or len(np.unique(out)) != len(out):
        raise ModelFileError(f"classes must be at least 2 distinct labels, got {classes!r}")
    return out


def restore_branches(arch: dict, n_features) -> tuple | None:
    """The ``branches`` of a model's architecture (a :class:`~instrumentid.model.BranchNet`'s block widths).

    None for one network; else at least two positive widths summing to ``n_features``; ModelFileError otherwise, or
    when the architecture's ``name`` (if recorded) is not the network the branches make (``LabNet``, ``BranchNet``).
    """
    raw = arch.get("branches")
    if raw is not None and (not isinstance(raw, list) or len(raw) < 2 or not all(
            isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in raw) or sum(raw) != n_features):
        raise ModelFileError(f"bad branches {raw!r}: expected at least two positive widths summing to the "
                             f"{n_features} features")
    name, network = arch.get("name"), "LabNet" if raw is None else "BranchNet"
    if name is not None and name != network:
        raise ModelFileError(f"the architecture is named {name!r}, but its branches make a {network}")
    return None if raw is None else tuple(raw)


def _check_tensors(tensors: dict, arch: dict, n_classes: int) -> tuple | None:
    """The network's branches (:func:`restore_branches`), once its tensors are checked against ``arch``.

    ModelFileError unless ``tensors`` have the names and shapes of the network ``arch`` describes: one network
    (``hidden.weight``...) or a BranchNet's (``nets.<i>.hidden.weight``...), each of two layers.
    """
    n_features, hidden = int(arch["n_features"]), int(arch["hidden_units"])
    branches = restore_branches(arch, n_features)
    expected = tensor_shapes(n_features, n_classes, hidden_units=hidden, branches=branches)
    found = {name: tuple(t.shape) for name, t in tensors.items()}
    if found != expected:
        diff = sorted(set(found.items()) ^ set(expected.items()))
        raise ModelFileError(f"tensors do not match the architecture {arch!r} (differences: {diff[:4]})")
    return branches


def restore_scaler(raw, n_features: int) -> dict:
    """The standardization of a model config: ``mean``, ``scale``, ``var`` [shape=(n_features,)], ``n_samples_seen``.

    Raises
    ------
    ModelFileError
        Missing or non-numeric statistics, another width, non-finite values, a scale that is not positive or a count
        of samples outside int64.
    """
    try:
        mean = np.asarray(raw["mean"], dtype=np.float64)
        scale = np.asarray(raw["scale"], dtype=np.float64)
        var = np.asarray(raw.get("var", scale ** 2), dtype=np.float64)
        n_seen = int(raw.get("n_samples_seen", 0))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
        raise ModelFileError(f"bad scaler statistics ({err})") from None
    if not 0 <= n_seen < 2 ** 63:
        raise ModelFileError(f"scaler n_samples_seen must be a count from 0 to 2**63 - 1, got {n_seen}")
    for name, arr in (("mean", mean), ("scale", scale), ("var", var)):
        if arr.shape != (n_features,) or not np.all(np.isfinite(arr)):
            raise ModelFileError(f"scaler {name} must be {n_features} finite numbers, got shape {arr.shape}")
    if np.any(scale <= 0):
        raise ModelFileError("scaler scale must be positive")
    return {"mean": mean, "scale": scale, "var": var, "n_samples_seen": n_seen}


def restore_settings(data, kind, name: str, *, n_features=None):
    """Note or feature settings of a model config (None when absent).

    ModelFileError if they do not parse, or if feature settings make another number of features a note than the
    network's ``n_features`` (when given): its tensors were not trained on what those settings compute.
    """
    if data is None:
        return None
    try:
        value = kind.from_dict(data, what=name)
    except ParameterError as err:
        raise ModelFileError(f"bad {name.replace('_', ' ')} ({err})") from None
    if n_features is not None and isinstance(value, FeatureSettings) and value.n_features != n_features:
        raise ModelFileError(f"the feature settings make {value.n_features} features a note, but the network takes "
                             f"{n_features}")
    return value


def restore_calibration(config: dict) -> dict:
    """The ``calibration`` of a model config: ``{"temperature": T, "method": ..., "fitted_on": ...}``.

    A config without the field (saved before calibration existed), or with ``null``, gets :data:`NO_CALIBRATION`.

    Raises
    ------
    ModelFileError
        Not an object, other keys, a temperature that is not a finite number from 0.001 to 1000, or a method /
        fitted_on that is not a string or null; the message names the field.
    """
    raw = config.get("calibration")
    if raw is None:
        return dict(NO_CALIBRATION)
    if not isinstance(raw, dict) or "temperature" not in raw or not set(raw) <= set(NO_CALIBRATION):
        raise ModelFileError(f"bad calibration {raw!r}: expected {{\"temperature\": T > 0, \"method\": str or null, "
                             "\"fitted_on\": str or null}")
    try:
        temperature = check_temperature(raw["temperature"], what="calibration.temperature")
    except ParameterError as err:
        raise ModelFileError(str(err)) from None
    out: dict[str, float | str | None] = {"temperature": temperature}
    for name in ("method", "fitted_on"):
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise ModelFileError(f"calibration.{name} must be a string or null, got {value!r}")
        out[name] = value
    return out


def _log_mean_softmax(logits: list) -> np.ndarray:
    """``log(mean_i softmax(logits[i]))`` row by row, in float64 (a BranchNet's logits)."""
    z = np.stack(logits).astype(np.float64)
    z -= z.max(axis=2, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=2, keepdims=True))
    top = logp.max(axis=0)
    return top + np.log(np.exp(logp - top).mean(axis=0))


class LightClassifier:
    """A saved :class:`~instrumentid.classifier.InstrumentClassifier`, run with numpy (predicting only).

    Attributes
    ----------
    classes_ : np.ndarray [shape=(n_classes,)]
    n_features_in_ : int
    note_settings : NoteSettings or None
    feature_settings : FeatureSettings or None
        As saved with the model.
    activation : str
        The hidden layer's activation.
    branches : tuple of int or None
        The widths of a :class:`~instrumentid.model.BranchNet`'s blocks (its logits: the log of the branches' mean
        probabilities), or None for one network.
    calibration_ : dict
        ``{"temperature": T, "method": ..., "fitted_on": ...}`` as saved (temperature 1 when the file has none).
    temperature_ : float
        Divides the logits before the softmax.
    """

    def __init__(self, *, classes, scaler: dict, weights: dict, activation: str, note_settings=None,
                 feature_settings=None, calibration: dict | None = None, branches=None):
        self.classes_ = classes
        self.calibration_ = restore_calibration({"calibration": calibration})
        self.n_features_in_ = int(scaler["mean"].shape[0])
        self.note_settings, self.feature_settings = note_settings, feature_settings
        self.activation = activation
        self.branches = None if branches is None else tuple(branches)
        self._mean, self._scale = scaler["mean"], scaler["scale"]
        # per network: its columns and its two layers (one network, or one per branch of a BranchNet)
        edges = np.cumsum((0, *(self.branches or (self.n_features_in_,))))
        prefixes = [""] if self.branches is None else [f"nets.{i}." for i in range(len(self.branches))]
        self._nets = [(slice(a, b), *(weights[p + name] for name in ("hidden.weight", "hidden.bias", "output.weight",
                                                                      "output.bias")))
                      for p, a, b in zip(prefixes, edges[:-1], edges[1:], strict=True)]

    @classmethod
    def load(cls, path) -> LightClassifier:
        """Read a model folder, a run folder or a ``model.json``.

        Every check of :func:`~instrumentid.persistence.read_model` applies (hashes, the config against its copy in
        the weights, tensor shapes).

        Raises
        ------
        ModelFileError
            Missing, truncated, edited or inconsistent files, or a config field of the wrong type.
        """
        files = read_model(path, framework="numpy")
        where = files.config_path
        try:
            config = files.config
            classes = restore_classes(config)
            arch = config["architecture"]
            n_features = int(arch["n_features"])
            activation = str(arch["activation"])
            if activation not in ACTIVATIONS:
                raise ModelFileError(f"unknown activation {activation!r}")
            branches = _check_tensors(files.tensors, arch, len(classes))
            weights = {name: np.asarray(t, dtype=np.float32) for name, t in files.tensors.items()}
            return cls(classes=classes, scaler=restore_scaler(config["scaler"], n_features), weights=weights,
                       activation=activation,
                       note_settings=restore_settings(config.get("note_settings"), NoteSettings, "note_settings"),
                       feature_settings=restore_settings(config.get("feature_settings"), FeatureSettings,
                                                         "feature_settings", n_features=n_features),
                       calibration=restore_calibration(config), branches=branches)
        except ModelFileError as err:
            raise ModelFileError(f"{where}: {err}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ModelFileError(f"{where}: bad model config ({type(err).__name__}: {err})") from None

    @property
    def temperature_(self) -> float:
        """The softmax temperature (1 unless the model was calibrated)."""
        return float(self.calibration_["temperature"])

    def decision_function(self, X) -> np.ndarray:
        """The network's logits of raw feature rows, before the temperature and the softmax.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            Finite feature rows, not standardized.

        Returns
        -------
        np.ndarray [shape=(n_samples, n_classes), dtype=float64]
            Column ``j`` scores ``classes_[j]``.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ParameterError(f"X must have shape (n, {self.n_features_in_}), got {X.shape}")
        if not np.isfinite(X).all():
            raise ParameterError("X contains NaN or infinite values")
        out = np.empty((len(X), len(self.classes_)), dtype=np.float64)
        act = ACTIVATIONS[self.activation]
        with one_blas_thread() if len(X) <= _ONE_THREAD_ROWS else contextlib.nullcontext():
            for start in range(0, len(X), _BATCH):
                Xs = ((X[start:start + _BATCH] - self._mean) / self._scale).astype(np.float32)
                logits = [act(Xs[:, cols] @ w1.T + b1) @ w2.T + b2 for cols, w1, b1, w2, b2 in self._nets]
                out[start:start + _BATCH] = logits[0] if len(logits) == 1 else _log_mean_softmax(logits)
        return out

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of raw feature rows: softmax of the logits divided by ``temperature_``.

        ``X`` is as for :meth:`decision_function`: finite, unstandardized rows [shape=(n_samples, n_features_in_)].

        Returns
        -------
        np.ndarray [shape=(n_samples, n_classes), dtype=float64]
            Column ``j`` is the probability of ``classes_[j]``; rows sum to 1.
        """
        return softmax(self.decision_function(X), temperature=self.temperature_)

    def predict(self, X) -> np.ndarray:
        """Most probable class label per row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __repr__(self) -> str:
        return (f"LightClassifier({len(self.classes_)} classes, {self.n_features_in_} features, {self.activation}, "
                f"temperature {self.temperature_:g})")



def model_facts(config: dict) -> dict:
    """The key facts of a saved model's config: what it predicts, how it was trained and on what, with which code.

    Parameters
    ----------
    config : dict
        A model config (``model.json``, or the copy an ONNX export carries).

    Returns
    -------
    dict
        JSON-ready: ``classes``, ``n_features``, ``network`` (hidden units and activation; the blocks' widths,
        ``branches``, of a :class:`~instrumentid.model.BranchNet`), ``training`` (learning
        rate, epochs, batch size, seed), ``trained_on`` (the data set key and rows, when recorded), ``calibration``
        (temperature, method, fitted_on; temperature 1 when the model has none), ``final_epoch``
        (train and test loss and accuracy of the last epoch, when recorded), ``note_settings`` and
        ``feature_settings`` (version and key, or None), ``versions`` and ``weights_sha256``.
    """
    arch = config.get("architecture") or {}

    def settings_summary(name, kind):
        width = arch.get("n_features")
        value = restore_settings(config.get(name), kind, name, n_features=width if isinstance(width, int) else None)
        return None if value is None else {"version": value.version, "key": value.key()}

    history = config.get("history") or {}
    final = {k: v[-1] for k, v in history.items() if isinstance(v, list) and v} if isinstance(history, dict) else {}
    params = config.get("params") or {}
    branches = restore_branches(arch, arch.get("n_features"))  # what a loader would refuse is not shown as a fact
    return {
        "classes": [str(c) for c in config.get("classes", [])],
        "n_features": arch.get("n_features", config.get("n_features")),
        "network": {"hidden_units": arch.get("hidden_units"), "activation": arch.get("activation"),
                    **({"branches": list(branches)} if branches else {})},
        "training": {k: params.get(k) for k in ("lr", "epochs", "batch_size", "random_state", "input_noise")},
        "trained_on": config.get("trained_on"),
        "calibration": restore_calibration(config),
        "final_epoch": final or None,
        "note_settings": settings_summary("note_settings", NoteSettings),
        "feature_settings": settings_summary("feature_settings", FeatureSettings),
        "versions": config.get("versions"),
        "weights_sha256": config.get("weights_sha256"),
    }


def read_model_facts(path) -> dict:
    """Read :func:`model_facts` from a model folder, a run folder, a ``model.json`` or an exported ONNX file.

    ONNX files are those :func:`instrumentid.export.export_onnx` writes (they carry the model's config).

    Raises
    ------
    ModelFileError
        Files that cannot be read or trusted (see :func:`~instrumentid.persistence.read_model`), or an ONNX file
        without instrumentid's metadata.
    """
    from pathlib import Path

    path = Path(path)
    if path.suffix == ".onnx" and path.is_file():
        import json

        try:
            import onnx

            meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
            config = json.loads(meta["instrumentid_model"])
        except ImportError:
            raise ModelFileError(f"{path}: reading ONNX files needs the onnx package (pip install onnx)") from None
        except Exception as err:  # noqa: BLE001 - any damaged or foreign ONNX file is one clear message
            raise ModelFileError(f"{path}: not an ONNX model exported by instrumentid ({type(err).__name__}: "
                                 f"{err})") from None
        where = path
    else:
        files = read_model(path, framework="numpy")
        config, where = files.config, files.config_path
    try:
        facts = model_facts(config)
        if path.suffix != ".onnx":  # a network the weights do not make is not shown as the model's
            _check_tensors(files.tensors, config["architecture"], len(facts["classes"]))
        return {"path": str(where), **facts}
    except ModelFileError as err:
        raise ModelFileError(f"{where}: {err}") from None
    except (AttributeError, TypeError, ValueError, KeyError) as err:
        raise ModelFileError(f"{where}: bad model config ({type(err).__name__}: {err})") from None

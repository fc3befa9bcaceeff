"""A scikit-learn estimator around the lab's network: standardize, train, predict, save, load.

:class:`InstrumentClassifier` follows the scikit-learn estimator contract (``doc/developers/develop.rst``):
``__init__`` only stores hyperparameters, :meth:`~InstrumentClassifier.fit` validates its input, fits a
:class:`~sklearn.preprocessing.StandardScaler` on the training rows only, encodes the labels (any type, e.g.
instrument names) and trains :class:`~instrumentid.model.LabNet` with :func:`instrumentid.training.fit`. Learned
state ends in ``_``. It works in a :class:`~sklearn.pipeline.Pipeline`, with ``cross_val_score`` and
``GridSearchCV``.

The estimator owns its state: :meth:`~InstrumentClassifier.to_config` turns a fitted classifier into a JSON-ready
config and its tensors, :meth:`~InstrumentClassifier.from_config` rebuilds it from them (checking everything), and
:mod:`instrumentid.persistence` only writes and reads them as a folder with ``model.safetensors`` and ``model.json``;
nothing is ever pickled to disk.

Examples
--------
>>> clf = InstrumentClassifier(epochs=10).fit(X_train, names_train)      # doctest: +SKIP
>>> clf.score(X_test, names_test)                                          # doctest: +SKIP
>>> clf.save("runs/my-model")                                              # doctest: +SKIP
>>> InstrumentClassifier.load("runs/my-model").predict(X_test[:3])        # doctest: +SKIP
array(['violin', 'violin', 'flute'], dtype='<U8')
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from instrumentid.calibration import check_temperature
from instrumentid.errors import ModelFileError, NotFittedError, ParameterError
from instrumentid.inference import (
    NO_CALIBRATION,
    restore_branches,
    restore_calibration,
    restore_classes,
    restore_scaler,
    restore_settings,
)
from instrumentid.settings import DEFAULT_TRAINING, FeatureSettings, NoteSettings

__all__ = ["ClassifierNotFittedError", "InstrumentClassifier", "encode_labels"]

#: Rows per forward pass in predict_proba (bounds memory on large inputs; the result does not depend on it).
_PREDICT_BATCH = 8192
#: Keys of :meth:`InstrumentClassifier.to_config` that :meth:`InstrumentClassifier.from_config` cannot do without.
_REQUIRED = ("classes", "classes_dtype", "architecture", "scaler")
#: The hyperparameters saved under their own keys of the config rather than under ``params``.
_SETTINGS = {"feature_settings": FeatureSettings, "note_settings": NoteSettings}


class ClassifierNotFittedError(NotFittedError, _SklearnNotFittedError):
    """Raised when an unfitted classifier is used: both instrumentid's and scikit-learn's ``NotFittedError``."""


def encode_labels(y, classes=None) -> tuple[np.ndarray, np.ndarray]:
    """Class labels as indices into the sorted distinct labels: the class order of :class:`InstrumentClassifier`.

    The one label encoding of instrumentid: the classifier's ``fit`` and the lab's learning-rate sweep both use it, so
    that output ``j`` of every network is the same class.

    Parameters
    ----------
    y : array-like [shape=(n,)]
        Labels of any sortable type (instrument names, ints...).
    classes : array-like [shape=(n_classes,)], optional
        Sorted distinct labels to encode against (e.g. a fitted classifier's ``classes_``); default: those of ``y``.

    Returns
    -------
    classes : np.ndarray [shape=(n_classes,)]
        Sorted distinct labels.
    codes : np.ndarray [shape=(n,), dtype=int64]
        ``classes[codes] == y``.

    Raises
    ------
    ParameterError
        A label of ``y`` is not among ``classes``.
    """
    encoder = LabelEncoder()
    if classes is None:
        encoder.fit(y)
    else:
        encoder.classes_ = np.asarray(classes)
    try:
        return encoder.classes_, encoder.transform(y).astype(np.int64)
    except ValueError as err:
        raise ParameterError(f"labels outside the classes {[str(c) for c in encoder.classes_]!r}: {err}") from None


class InstrumentClassifier(ClassifierMixin, BaseEstimator):
    """The lab's network (features -> hidden layer -> softmax) as a scikit-learn classifier.

    The defaults are the lab's, from :data:`~instrumentid.settings.DEFAULT_TRAINING`.

    Parameters
    ----------
    hidden_units : int > 0
        Width of the hidden layer (the lab uses 256).
    activation : str
        Hidden-layer non-linearity understood by :class:`~instrumentid.model.LabNet` (the lab uses ``"sigmoid"``).
    lr : float > 0
        Adam learning rate.
    epochs : int > 0
        Passes over the training rows.
    batch_size : int > 0
        Rows per mini-batch.
    random_state : int, RandomState or None
        Seed of the weight initialisation and of the per-epoch shuffling; ``None`` draws a fresh seed.
    verbose : bool
        Show a progress bar per epoch.
    feature_settings : FeatureSettings or None
        How the feature rows were computed from audio, saved with the model so that prediction computes them the
        same way; None when the rows are not instrumentid's audio features (e.g. the UIowa files).
    note_settings : NoteSettings or None
        How notes were cut from recordings before featurization, saved likewise; None when unknown.
    input_noise : float >= 0
        Standard deviation of Gaussian noise added to the standardized training features of every batch (the lab:
        0; the shipped model's recipe, :data:`~instrumentid.settings.SHIPPED_TRAINING`, uses it against
        over-fitting the recordings it trains on).
    members : int > 0
        Networks of ``hidden_units`` trained with consecutive seeds and merged into one network whose logits are
        their mean (:func:`instrumentid.model.merge_nets`); 1 (the lab) trains one. ``model_`` then has
        ``members * hidden_units`` hidden units.
    branches : sequence of int or None
        Widths of consecutive blocks of the features, one network per block, their probabilities averaged
        (:class:`~instrumentid.model.BranchNet`; the shipped model: ``SHIPPED_FEATURES.branches``, the 120
        descriptors and musicnn's 1506 pools); None (the lab) trains one network on every feature. Each block is
        standardized on its own columns as always.

    Attributes
    ----------
    classes_ : np.ndarray [shape=(n_classes,)]
        Sorted class labels, of the type given to ``fit`` (e.g. instrument names).
    n_features_in_ : int
        Features per row seen by ``fit`` (120 for the lab's data).
    feature_names_in_ : np.ndarray of str
        Column names, only when ``fit`` was given a DataFrame with string column names.
    scaler_ : sklearn.preprocessing.StandardScaler
        Standardization fitted on the training rows only.
    model_ : instrumentid.model.LabNet or instrumentid.model.BranchNet
        The trained network (in eval mode); returns logits.
    history_ : instrumentid.history.History
        Per-epoch training (and ``eval_set``) loss and accuracy.
    calibration_ : dict
        ``{"temperature": T, "method": str or None, "fitted_on": str or None}``: ``predict_proba`` is the softmax
        of ``decision_function(X) / T``. ``fit`` resets it to ``T = 1`` (no calibration);
        :meth:`set_temperature` or :func:`instrumentid.calibration.calibrate` set it; it is saved with the model.
    temperature_ : float
        ``calibration_["temperature"]``.
    """

    def __init__(self, hidden_units=DEFAULT_TRAINING.hidden_units, activation=DEFAULT_TRAINING.activation,
                 lr=DEFAULT_TRAINING.lr, epochs=DEFAULT_TRAINING.epochs, batch_size=DEFAULT_TRAINING.batch_size,
                 random_state=DEFAULT_TRAINING.seed, verbose=False, feature_settings=None, note_settings=None,
                 input_noise=DEFAULT_TRAINING.input_noise, members=DEFAULT_TRAINING.members, branches=None):
        self.hidden_units = hidden_units
        self.activation = activation
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.feature_settings = feature_settings
        self.note_settings = note_settings
        self.input_noise, self.members, self.branches = input_noise, members, branches

    # ------------------------------------------------------------------------------------------- validation
    def _training_kwargs(self) -> dict:
        """Keyword arguments of :func:`instrumentid.training.fit` (which validates them, naming any bad value)."""
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            if rs < 0:
                raise ParameterError(f"random_state must be a non-negative integer, got {rs!r}")
            seed = int(rs)
        else:
            try:
                seed = int(check_random_state(rs).randint(np.iinfo(np.int32).max))
            except ValueError:
                raise ParameterError(f"random_state must be an int, a RandomState or None, got {rs!r}") from None
        for name, kind in _SETTINGS.items():
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise ParameterError(f"{name} must be a {kind.__name__} or None, got {type(value).__name__}")
        branches = self.branches
        if branches is not None:
            if isinstance(branches, (str, dict)) or not hasattr(branches, "__iter__"):
                raise ParameterError(f"branches must be a sequence of widths or None, got {branches!r}")
            branches = list(branches)
        return {"hidden_units": self.hidden_units, "activation": self.activation, "lr": self.lr, "epochs": self.epochs,
                "batch_size": self.batch_size, "random_state": seed, "progress": bool(self.verbose),
                "input_noise": self.input_noise, "members": self.members, "branches": branches}

    def _validate(self, X, y="no_validation", *, reset: bool):
        """scikit-learn's ``validate_data`` (float64 X, 1-d classification y); errors become :class:`ParameterError`.

        With ``reset=True`` this records ``n_features_in_`` (and ``feature_names_in_`` for DataFrames); with
        ``reset=False`` it checks ``X`` against them.
        """
        try:
            out = validate_data(self, X, y, reset=reset, dtype=np.float64)
            if not isinstance(y, str):
                check_classification_targets(out[1])
            return out
        except ParameterError:
            raise
        except ValueError as err:
            raise ParameterError(str(err)) from err

    # ------------------------------------------------------------------------------------------- fit / predict
    def fit(self, X, y, *, eval_set=None, trained_on=None):
        """Standardize on ``X``, train the network, and return ``self``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature rows (raw, not standardized), finite numbers.
        y : array-like of shape (n_samples,)
            Class labels of any type (ints, instrument names...), at least two distinct values.
        eval_set : tuple (X_val, y_val), optional
            Held-out rows scored after every epoch (recorded in ``history_``); ``y_val`` must use labels of ``y``.
        trained_on : dict, optional
            Which data ``X`` is: ``{"data": data set key or None, "rows": ["train"] or ["train", "test"]}``
            (kept as ``trained_on_`` and saved, so that an evaluation on rows the model was trained on is refused).

        Returns
        -------
        self : InstrumentClassifier

        Raises
        ------
        ParameterError
            Bad hyperparameter, NaN/inf or wrongly shaped ``X`` (or rows of another width than
            ``feature_settings`` make), continuous or single-class ``y``, unknown labels in ``eval_set``.
        """
        from instrumentid import training

        kwargs = self._training_kwargs()
        trained_on = _check_trained_on(trained_on)
        X, y = self._validate(X, y, reset=True)
        features = self.feature_settings
        if isinstance(features, FeatureSettings) and features.n_features != X.shape[1]:
            raise ParameterError(f"X has {X.shape[1]} features a row, but the feature settings make "
                                 f"{features.n_features}: give the settings the rows were computed with (or None)")
        classes, codes = encode_labels(y)
        if len(classes) < 2:
            raise ParameterError(
                f"y must hold at least 2 classes to train a classifier, got 1 class: {classes.tolist()!r}"
            )
        scaler = StandardScaler().fit(X)

        X_val = y_val = None
        if eval_set is not None:
            if not isinstance(eval_set, (tuple, list)) or len(eval_set) != 2:
                raise ParameterError(f"eval_set must be a pair (X_val, y_val), got {type(eval_set).__name__}")
            X_e = self._validate(eval_set[0], reset=False)
            y_e = np.asarray(eval_set[1]).ravel()
            if len(y_e) != len(X_e):
                raise ParameterError(f"eval_set has {len(X_e)} rows of X but {len(y_e)} labels")
            unknown = ~np.isin(y_e, classes)
            if unknown.any():
                bad = sorted({str(v) for v in y_e[unknown]})
                raise ParameterError(f"eval_set labels {bad[:10]!r} are not among the training labels "
                                     f"{[str(c) for c in classes]!r}")
            X_val = scaler.transform(X_e).astype(np.float32)
            y_val = encode_labels(y_e, classes)[1]

        model, history = training.fit(scaler.transform(X).astype(np.float32), codes, X_test=X_val, y_test=y_val,
                                      n_classes=len(classes), **kwargs)
        # learned state is set only once training succeeded, so a failed re-fit leaves no mixed state behind
        self.classes_, self.scaler_, self.model_, self.history_ = classes, scaler, model.eval(), history
        self.trained_on_ = trained_on
        self.calibration_ = dict(NO_CALIBRATION)
        return self

    def _check_fitted(self):
        try:
            check_is_fitted(self, ["classes_", "model_", "scaler_"])
        except _SklearnNotFittedError as err:
            raise ClassifierNotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(X, y) or InstrumentClassifier.load(path) "
                "first"
            ) from err

    @property
    def temperature_(self) -> float:
        """The softmax temperature of :meth:`predict_proba` (1 unless calibrated)."""
        return float(getattr(self, "calibration_", NO_CALIBRATION)["temperature"])

    def _logits(self, X):
        """The network's logits of raw rows, as a float64 torch tensor [shape=(n_samples, n_classes)]."""
        import torch

        self._check_fitted()
        X = self._validate(X, reset=False)
        Xs = self.scaler_.transform(X).astype(np.float32)
        out = torch.empty((len(Xs), len(self.classes_)), dtype=torch.float64)
        self.model_.eval()
        with torch.no_grad():
            for start in range(0, len(Xs), _PREDICT_BATCH):
                out[start:start + _PREDICT_BATCH] = self.model_(torch.from_numpy(Xs[start:start + _PREDICT_BATCH]))
        return out

    def decision_function(self, X) -> np.ndarray:
        """The network's logits, before the temperature and the softmax (scikit-learn's ``decision_function``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Raw feature rows, standardized here with ``scaler_``.

        Returns
        -------
        np.ndarray [shape=(n_samples, n_classes), dtype=float64], or [shape=(n_samples,)] for two classes
            Column ``j`` scores ``classes_[j]``; ``predict_proba(X)`` is the softmax of ``decision_function(X) /
            temperature_`` and the argmax of each row is ``predict(X)``. With two classes, scikit-learn's convention:
            one score per row, the logit of ``classes_[1]`` minus that of ``classes_[0]`` (> 0 predicts
            ``classes_[1]``). These are the uncalibrated logits that :func:`instrumentid.calibration.calibrate` fits
            a temperature on.
        """
        logits = self._logits(X).numpy()
        if logits.shape[1] == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities: softmax of the network's logits divided by ``temperature_``.

        ``X`` is as for :meth:`decision_function`: raw feature rows [shape=(n_samples, n_features)].

        Returns
        -------
        np.ndarray [shape=(n_samples, n_classes), dtype=float64]
            Column ``j`` is the probability of ``classes_[j]``; rows sum to 1. With ``temperature_ == 1`` these are
            the network's softmax outputs, bit for bit.
        """
        import torch

        logits = self._logits(X)
        return torch.softmax(logits / self.temperature_, dim=1).numpy()

    def set_temperature(self, temperature, *, method: str | None = "manual", fitted_on: str | None = None):
        """Set the softmax temperature of :meth:`predict_proba` (saved with the model, used by ``predict``).

        Parameters
        ----------
        temperature : float in [0.001, 1000]
            Divides the logits before the softmax: > 1 softens the probabilities, < 1 sharpens them; 1 removes any
            calibration. The most probable class never changes.
        method : str or None
            How it was chosen: ``"manual"`` by default, ``"temperature scaling"`` when fitted by
            :func:`~instrumentid.calibration.calibrate`; None (no calibration) for a temperature of 1 set without
            ``fitted_on``.
        fitted_on : str or None
            What it was fitted on, in words (e.g. the held-out sources and their number of notes).

        Returns
        -------
        self : InstrumentClassifier

        Raises
        ------
        NotFittedError
            The classifier is not fitted.
        ParameterError
            A temperature that is not a finite number from 0.001 to 1000, or ``method`` / ``fitted_on`` that are not
            strings.
        """
        self._check_fitted()
        temperature = check_temperature(temperature)
        for name, value in (("method", method), ("fitted_on", fitted_on)):
            if value is not None and not isinstance(value, str):
                raise ParameterError(f"{name} must be a string or None, got {type(value).__name__}")
        if temperature == 1.0 and method == "manual" and fitted_on is None:
            method = None
        self.calibration_ = {"temperature": temperature, "method": method, "fitted_on": fitted_on}
        return self

    def predict(self, X) -> np.ndarray:
        """Most probable class label per row.

        Returns
        -------
        np.ndarray [shape=(n_samples,)]
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_log_proba(self, X) -> np.ndarray:
        """Natural log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    # ------------------------------------------------------------------------------------------- state
    def to_config(self) -> tuple[dict, dict]:
        """The fitted classifier as a JSON-ready config and its network's tensors (what :meth:`save` writes).

        Returns
        -------
        config : dict
            ``classes`` and ``classes_dtype`` (to restore the labels exactly), ``n_features``, ``feature_names``,
            ``architecture`` (the network: name, features, classes, hidden units, activation), ``scaler`` (mean,
            scale, var, n_samples_seen), ``params`` (the training hyperparameters), ``feature_settings`` and
            ``note_settings`` (``to_dict()`` of the settings, or None), ``history``, ``trained_on``,
            ``calibration`` (``calibration_``: temperature, method, fitted_on) and ``versions``.
        tensors : dict of str -> torch.Tensor
            The network's ``state_dict``, contiguous, on the CPU.

        Raises
        ------
        NotFittedError
            The classifier is not fitted.
        ModelFileError
            Class labels that JSON cannot hold.
        """
        from instrumentid.model import BranchNet
        from instrumentid.util import package_versions

        self._check_fitted()
        tensors = {name: t.detach().cpu().contiguous() for name, t in self.model_.state_dict().items()}
        classes, classes_dtype = _classes_to_json(np.asarray(self.classes_))
        feature_names = getattr(self, "feature_names_in_", None)
        params = {k: v for k, v in self.get_params().items() if k not in _SETTINGS}
        config = {
            "classes": classes,
            "classes_dtype": classes_dtype,
            "n_features": int(self.n_features_in_),
            "feature_names": None if feature_names is None else [str(f) for f in feature_names],
            "architecture": {
                "name": type(self.model_).__name__,
                "n_features": int(self.n_features_in_),
                "n_classes": len(classes),
                "hidden_units": int(self.model_.hidden_units),
                "activation": str(self.model_.activation_name),
                **({"branches": list(self.model_.widths)} if isinstance(self.model_, BranchNet) else {}),
            },
            "scaler": {
                "mean": np.asarray(self.scaler_.mean_, dtype=np.float64).tolist(),
                "scale": np.asarray(self.scaler_.scale_, dtype=np.float64).tolist(),
                "var": np.asarray(self.scaler_.var_, dtype=np.float64).tolist(),
                "n_samples_seen": int(np.max(self.scaler_.n_samples_seen_)),
            },
            "params": params,
            **{name: None if getattr(self, name) is None else getattr(self, name).to_dict() for name in _SETTINGS},
            "history": None if getattr(self, "history_", None) is None else self.history_.to_dict(),
            "trained_on": getattr(self, "trained_on_", None),
            "calibration": dict(getattr(self, "calibration_", NO_CALIBRATION)),
            "versions": package_versions(["instrumentid", "torch", "numpy", "scikit-learn", "python", "safetensors"]),
        }
        return config, tensors

    @classmethod
    def from_config(cls, config: dict, tensors: dict):
        """Rebuild a fitted classifier from :meth:`to_config` output, checking every part.

        Parameters
        ----------
        config : dict
            As returned by :meth:`to_config` (other keys, e.g. those :mod:`instrumentid.persistence` adds, are
            ignored).
        tensors : dict of str -> torch.Tensor
            The network's tensors.

        Returns
        -------
        InstrumentClassifier
            Fitted: ``classes_``, ``n_features_in_``, ``scaler_``, ``model_``, ``history_``, ``calibration_``
            (temperature 1 when the config has none: files saved before calibration existed), and
            ``feature_names_in_`` when the config has names.

        Raises
        ------
        ModelFileError
            Missing keys, bad classes, an architecture that cannot be built, tensors that do not fit it, bad scaler
            statistics, history, settings or calibration; the message says which.
        """
        from instrumentid.model import BranchNet, LabNet

        if not isinstance(config, dict):
            raise ModelFileError(f"a model config must be a JSON object, got {type(config).__name__}")
        missing = [key for key in _REQUIRED if key not in config]
        if missing:
            raise ModelFileError(f"model config lacks {', '.join(missing)}")
        classes = restore_classes(config)
        arch = config["architecture"]
        try:
            n_features = int(arch["n_features"])
            hidden_units = int(arch["hidden_units"])
            activation = str(arch["activation"])
            n_classes = int(arch["n_classes"])
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFileError(f"bad architecture {arch!r} ({err})") from None
        if n_classes != len(classes):
            raise ModelFileError(f"architecture has {n_classes} outputs but {len(classes)} classes")
        widths = restore_branches(arch, n_features)
        # the shapes are checked before the network is built: an architecture of absurd size allocates nothing
        expected = (LabNet.parameter_shapes(n_features, n_classes, hidden_units=hidden_units) if widths is None
                    else BranchNet.parameter_shapes(widths, n_classes, hidden_units=hidden_units))
        found = {name: tuple(t.shape) for name, t in tensors.items()}
        if found != expected:
            diff = sorted(set(found.items()) ^ set(expected.items()))
            raise ModelFileError(
                f"tensors do not match a {arch.get('name', 'LabNet')} with {n_features} features, "
                f"{hidden_units} hidden units and {n_classes} classes (differences: {diff[:4]})"
            )
        try:
            model = (LabNet(n_features, n_classes, hidden_units=hidden_units, activation=activation) if widths is None
                     else BranchNet.empty(widths, n_classes, hidden_units=hidden_units, activation=activation))
        except (ValueError, TypeError) as err:
            raise ModelFileError(f"cannot build the network from {arch!r} ({err})") from None
        model.load_state_dict({name: t.float() for name, t in tensors.items()}, strict=True)
        model.eval()

        params = dict(config.get("params") or {})
        if params.get("branches") is not None and params["branches"] != (None if widths is None else list(widths)):
            raise ModelFileError(f"params branches {params['branches']!r} are not the network's "
                                 f"{None if widths is None else list(widths)}")
        valid = cls().get_params()
        kwargs = {k: v for k, v in params.items() if k in valid and k not in _SETTINGS}
        kwargs.update({name: restore_settings(config.get(name), kind, name, n_features=n_features)
                       for name, kind in _SETTINGS.items()})
        clf = cls(**kwargs)
        # a merged ensemble stores members * hidden_units units; the parameter is each member's width
        members = clf.members if isinstance(clf.members, int) and clf.members > 0 else 1
        if hidden_units % members:
            members = 1
        clf.hidden_units, clf.members, clf.activation = hidden_units // members, members, activation
        clf.classes_ = classes
        clf.n_features_in_ = n_features
        if config.get("feature_names"):
            clf.feature_names_in_ = np.asarray(config["feature_names"], dtype=object)
        clf.scaler_ = _restore_scaler(config["scaler"], n_features)
        clf.model_ = model
        clf.history_ = _restore_history(config.get("history"))
        clf.calibration_ = restore_calibration(config)
        try:
            clf.trained_on_ = _check_trained_on(config.get("trained_on"))
        except ParameterError as err:
            raise ModelFileError(str(err)) from None
        return clf

    # ------------------------------------------------------------------------------------------- files
    def save(self, path):
        """Write the fitted model to the folder ``path`` (``model.safetensors`` + ``model.json``), atomically.

        Returns the model folder (a :class:`~pathlib.Path`). Raises :class:`~instrumentid.errors.NotFittedError`
        when the classifier is not fitted, and :class:`~instrumentid.errors.ParameterError` when ``path`` is a file
        or a folder that holds other things than a saved model (see :func:`instrumentid.persistence.write_model`).
        """
        from instrumentid import persistence

        config, tensors = self.to_config()
        return persistence.write_model(path, config, tensors)

    @classmethod
    def load(cls, path):
        """Rebuild a classifier saved with :meth:`save`.

        Parameters
        ----------
        path : str or Path
            A model folder, a run folder (its ``model/`` sub-folder is used) or the ``model.json`` file.

        Raises
        ------
        ModelFileError
            Missing, truncated, tampered-with or mismatched files, or an unknown format version.
        """
        from instrumentid import persistence

        files = persistence.read_model(path)
        try:
            return cls.from_config(files.config, files.tensors)
        except ModelFileError as err:
            raise ModelFileError(f"{files.config_path}: {err}") from None
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as err:  # a field of the wrong type
            raise ModelFileError(f"{files.config_path}: bad model config ({type(err).__name__}: {err})") from None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None or isinstance(self.random_state, np.random.RandomState)
        return tags


# ----------------------------------------------------------------------------------------------- config helpers
def _check_trained_on(value) -> dict | None:
    """``{"data": str or None, "rows": ["train"] or ["train", "test"]}`` or None; ParameterError otherwise."""
    if value is None:
        return None
    if (not isinstance(value, dict) or set(value) != {"data", "rows"}
            or not (value["data"] is None or isinstance(value["data"], str))
            or not isinstance(value["rows"], list) or not value["rows"]
            or not set(value["rows"]) <= {"train", "test"}):
        raise ParameterError(f"trained_on must be {{'data': key or None, 'rows': ['train'] or ['train', 'test']}}, "
                             f"got {value!r}")
    return {"data": value["data"], "rows": sorted(set(value["rows"]), key=["train", "test"].index)}



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


def _restore_scaler(raw, n_features: int) -> StandardScaler:
    stats = restore_scaler(raw, n_features)
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = stats["mean"], stats["scale"], stats["var"]
    scaler.n_features_in_ = n_features
    scaler.n_samples_seen_ = np.int64(stats["n_samples_seen"])
    return scaler


def _restore_history(data):
    from instrumentid.history import History

    if data is None:
        return None
    try:
        return History.from_dict(data)
    except ParameterError as err:
        raise ModelFileError(f"bad training history ({err})") from None

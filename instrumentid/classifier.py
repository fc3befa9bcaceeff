"""A scikit-learn estimator around the lab's network: standardize, train, predict, save, load.

:class:`InstrumentClassifier` follows the scikit-learn estimator contract (``doc/developers/develop.rst``):
``__init__`` only stores hyperparameters, :meth:`~InstrumentClassifier.fit` validates its input, fits a
:class:`~sklearn.preprocessing.StandardScaler` on the training rows only, encodes the labels (any type, e.g.
instrument names) and trains :class:`~instrumentid.model.LabNet` with :func:`instrumentid.training.fit`. Learned
state ends in ``_``. It works in a :class:`~sklearn.pipeline.Pipeline`, with ``cross_val_score`` and
``GridSearchCV``.

Saved models are a folder with ``model.safetensors`` and ``model.json`` (see :mod:`instrumentid.persistence`);
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

from instrumentid.errors import NotFittedError, ParameterError

__all__ = ["ClassifierNotFittedError", "InstrumentClassifier"]

#: Rows per forward pass in predict_proba (bounds memory on large inputs; the result does not depend on it).
_PREDICT_BATCH = 8192


class ClassifierNotFittedError(NotFittedError, _SklearnNotFittedError):
    """Raised when an unfitted classifier is used: both instrumentid's and scikit-learn's ``NotFittedError``."""


class InstrumentClassifier(ClassifierMixin, BaseEstimator):
    """The lab's network (features -> hidden layer -> softmax) as a scikit-learn classifier.

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
    model_ : instrumentid.model.LabNet
        The trained network (in eval mode); returns logits.
    history_ : instrumentid.training.History
        Per-epoch training (and ``eval_set``) loss and accuracy.
    feature_settings_ : dict or None
        How the feature rows were computed (e.g. :data:`instrumentid.features.FEATURE_SETTINGS`); set by whoever
        trains on audio features, saved in ``model.json``. ``None`` after ``fit``.
    """

    def __init__(self, hidden_units=256, activation="sigmoid", lr=1e-3, epochs=10, batch_size=128,
                 random_state=0, verbose=False):
        self.hidden_units = hidden_units
        self.activation = activation
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose

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
        return {"hidden_units": self.hidden_units, "activation": self.activation, "lr": self.lr, "epochs": self.epochs,
                    "batch_size": self.batch_size, "random_state": seed, "progress": bool(self.verbose)}

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
    def fit(self, X, y, *, eval_set=None):
        """Standardize on ``X``, train the network, and return ``self``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature rows (raw, not standardized), finite numbers.
        y : array-like of shape (n_samples,)
            Class labels of any type (ints, instrument names...), at least two distinct values.
        eval_set : tuple (X_val, y_val), optional
            Held-out rows scored after every epoch (recorded in ``history_``); ``y_val`` must use labels of ``y``.

        Returns
        -------
        self : InstrumentClassifier

        Raises
        ------
        ParameterError
            Bad hyperparameter, NaN/inf or wrongly shaped ``X``, continuous or single-class ``y``, unknown
            labels in ``eval_set``.
        """
        from instrumentid import training

        kwargs = self._training_kwargs()
        X, y = self._validate(X, y, reset=True)
        encoder = LabelEncoder().fit(y)
        classes = encoder.classes_
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
            y_val = encoder.transform(y_e).astype(np.int64)

        model, history = training.fit(scaler.transform(X).astype(np.float32), encoder.transform(y).astype(np.int64),
                                      X_test=X_val, y_test=y_val, n_classes=len(classes), **kwargs)
        # learned state is set only once training succeeded, so a failed re-fit leaves no mixed state behind
        self.classes_, self.scaler_, self.model_, self.history_ = classes, scaler, model.eval(), history
        self.feature_settings_ = None
        return self

    def _check_fitted(self):
        try:
            check_is_fitted(self, ["classes_", "model_", "scaler_"])
        except _SklearnNotFittedError as err:
            raise ClassifierNotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(X, y) or InstrumentClassifier.load(path) "
                "first"
            ) from err

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (softmax of the network's logits).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Raw feature rows, standardized here with ``scaler_``.

        Returns
        -------
        np.ndarray [shape=(n_samples, n_classes), dtype=float64]
            Column ``j`` is the probability of ``classes_[j]``; rows sum to 1.
        """
        import torch

        self._check_fitted()
        X = self._validate(X, reset=False)
        Xs = self.scaler_.transform(X).astype(np.float32)
        out = np.empty((len(Xs), len(self.classes_)), dtype=np.float64)
        self.model_.eval()
        with torch.no_grad():
            for start in range(0, len(Xs), _PREDICT_BATCH):
                logits = self.model_(torch.from_numpy(Xs[start:start + _PREDICT_BATCH]))
                out[start:start + _PREDICT_BATCH] = torch.softmax(logits.double(), dim=1).numpy()
        return out

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

    # ------------------------------------------------------------------------------------------- persistence
    def save(self, path):
        """Write the fitted model to the folder ``path`` (``model.safetensors`` + ``model.json``), atomically.

        Returns
        -------
        Path
            The model folder.
        """
        from instrumentid import persistence

        self._check_fitted()
        return persistence.save_classifier(self, path)

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

        return persistence.load_classifier(path, cls=cls)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None or isinstance(self.random_state, np.random.RandomState)
        return tags

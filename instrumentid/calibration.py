"""Confidence that means something: temperature scaling, calibration error, and the "unknown" threshold.

A network trained with cross-entropy is often over-confident on recordings it never heard: it says "cello 99 %" and
is right far less often than 99 % of the time. Temperature scaling (Guo et al., "On Calibration of Modern Neural
Networks", 2017) divides the logits by one number ``T`` before the softmax: ``T > 1`` softens the probabilities,
``T < 1`` sharpens them, and the most probable class never changes. ``T`` is fitted on held-out rows (e.g. notes
of sources the model was not trained on) by minimizing their negative log-likelihood (:func:`fit_temperature`,
:func:`calibrate`); :func:`expected_calibration_error` and :func:`reliability_table` measure the result.

Below :data:`DEFAULT_MIN_CONFIDENCE` (or the threshold the user sets), a prediction is reported as
:data:`UNKNOWN` rather than shown as a fact; its guesses stay listed.

numpy is imported inside the functions (scipy only by :func:`fit_temperature`), so that the command line can read
the constants here without slowing ``instrumentid --help``.

Examples
--------
>>> from instrumentid.calibration import calibrate, expected_calibration_error     # doctest: +SKIP
>>> calibrate(clf, X_heldout, y_heldout, fitted_on="held-out source FluidR3")       # doctest: +SKIP
>>> clf.temperature_                                                               # doctest: +SKIP
1.83
"""

from __future__ import annotations

import math
import numbers

from instrumentid.errors import ParameterError

__all__ = [
    "DEFAULT_MIN_CONFIDENCE",
    "DEFAULT_N_BINS",
    "METHOD",
    "OBJECTIVES",
    "TEMPERATURE_RANGE",
    "UNKNOWN",
    "calibrate",
    "check_min_confidence",
    "check_temperature",
    "expected_calibration_error",
    "fit_temperature",
    "label_indices",
    "reliability_table",
    "softmax",
]

#: A prediction whose probability is below this is reported as :data:`UNKNOWN` (``predict(min_confidence=...)``,
#: ``instrumentid predict --min-confidence``); 0 never reports "unknown".
DEFAULT_MIN_CONFIDENCE = 0.5
#: The instrument name of a prediction below the confidence threshold.
UNKNOWN = "unknown"
#: The ``method`` recorded in a model's calibration by :func:`calibrate`.
METHOD = "temperature scaling"
#: Equal-width confidence bins of :func:`expected_calibration_error` and :func:`reliability_table`.
DEFAULT_N_BINS = 15
#: Range searched by :func:`fit_temperature`.
_T_BOUNDS = (1e-2, 1e2)
#: The temperatures a model can carry (:func:`check_temperature`): ten times wider than the search on each side. Far
#: outside it the division overflows: a tampered model's temperature of 1e-320 made every probability NaN (float64),
#: and the ONNX export divides in float32, whose smallest normal number is 1e-38.
TEMPERATURE_RANGE = (1e-3, 1e3)
#: What :func:`fit_temperature` can minimize over held-out rows (the negative log-likelihood, or the Brier score),
#: with the ``method`` a model's calibration records for each (:func:`calibrate`, ``scripts/train_default_model.py``).
OBJECTIVES = {"nll": METHOD, "brier": f"{METHOD} (Brier score)"}


# ----------------------------------------------------------------------------------------------- validators
def check_temperature(value, *, what: str = "temperature") -> float:
    """A softmax temperature: a real number in :data:`TEMPERATURE_RANGE` (not a bool); ParameterError otherwise."""
    lo, hi = TEMPERATURE_RANGE
    expected = f"{what} must be a finite number > 0, from {lo:g} to {hi:g}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{expected}, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ParameterError(f"{expected}, got {value!r}")
    return value


def check_min_confidence(value, *, what: str = "min_confidence") -> float:
    """A confidence threshold: a real number in [0, 1] (not a bool); ParameterError naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{what} must be a probability in [0, 1], got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ParameterError(f"{what} must be a probability in [0, 1], got {value!r}")
    return value


def _check_objective(objective) -> None:
    """ParameterError unless ``objective`` is a key of :data:`OBJECTIVES`."""
    if not isinstance(objective, str) or objective not in OBJECTIVES:
        raise ParameterError(f"objective must be one of {list(OBJECTIVES)}, got {objective!r}")


def _check_scores(scores, y, *, what: str):
    """``scores`` as float64 (n, n_classes), finite; ``y`` as int64 indices in [0, n_classes) of the same length."""
    import numpy as np

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] < 2:
        raise ParameterError(f"{what} must have shape (n_samples >= 1, n_classes >= 2), got {scores.shape}")
    if not np.isfinite(scores).all():
        raise ParameterError(f"{what} contains NaN or infinite values")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(scores):
        raise ParameterError(f"y must hold one label per row of {what} ({len(scores)}), got shape {y.shape}")
    if y.dtype.kind not in "iu" or (y < 0).any() or (y >= scores.shape[1]).any():
        bad = y[:5].tolist() if y.dtype.kind not in "iu" else y[(y < 0) | (y >= scores.shape[1])][:5].tolist()
        raise ParameterError(f"y must be class indices in [0, {scores.shape[1]}), got {bad!r}")
    return scores, y.astype(np.int64)


def label_indices(classes, y):
    """Class labels ``y`` as indices into ``classes`` (a classifier's ``classes_``), matched exactly.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=int64]

    Raises
    ------
    ParameterError
        A label that is not among ``classes``.
    """
    import numpy as np

    index = {c.item() if isinstance(c, np.generic) else c: i for i, c in enumerate(np.asarray(classes).tolist())}
    y = np.asarray(y).ravel().tolist()
    bad = sorted({str(v) for v in y if v not in index})
    if bad:
        raise ParameterError(f"labels {bad[:10]} are not classes of the model {[str(c) for c in index]}")
    return np.asarray([index[v] for v in y], dtype=np.int64)


# ----------------------------------------------------------------------------------------------- probabilities
def softmax(logits, *, temperature: float = 1.0):
    """Class probabilities of logits divided by ``temperature``.

    Parameters
    ----------
    logits : np.ndarray [shape=(n_samples, n_classes)]
    temperature : float > 0
        1 gives the plain softmax (exactly: dividing by 1 changes no bit).

    Returns
    -------
    np.ndarray [shape=(n_samples, n_classes), dtype=float64]
        Rows sum to 1.
    """
    import numpy as np

    z = np.asarray(logits, dtype=np.float64) / check_temperature(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits, y, *, objective: str = "nll") -> float:
    """The temperature that minimizes the negative log-likelihood (or the Brier score) of held-out logits and labels.

    The search is over ``log T`` in [log 0.01, log 100] (:func:`scipy.optimize.minimize_scalar`, bounded Brent), so
    the result is always a usable temperature.

    Parameters
    ----------
    logits : np.ndarray [shape=(n_samples, n_classes)]
        Uncalibrated logits of held-out rows (``InstrumentClassifier.decision_function``), never rows the model
        was trained on.
    y : np.ndarray [shape=(n_samples,), dtype=int]
        True class indices (columns of ``logits``).
    objective : {"nll", "brier"}
        What is minimized (:data:`OBJECTIVES`): the mean negative log-likelihood (Guo et al.'s temperature scaling),
        or the Brier score, the mean squared distance between the probabilities and the one-hot truth, which a few
        confidently wrong rows sway far less (the log-likelihood of a row grows without bound as its true class's
        probability goes to 0; its Brier term stays under 2).

    Returns
    -------
    float
        ``T > 1`` when the logits were over-confident, ``T < 1`` when under-confident.

    Raises
    ------
    ParameterError
        Empty, non-finite or wrongly shaped ``logits``; labels outside the columns.
    """
    import numpy as np
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp

    _check_objective(objective)
    logits, y = _check_scores(logits, y, what="logits")
    true = logits[np.arange(len(y)), y]
    onehot = np.eye(logits.shape[1])[y]

    def nll(log_t: float) -> float:
        t = math.exp(log_t)
        return float(np.mean(logsumexp(logits / t, axis=1) - true / t))

    def brier(log_t: float) -> float:
        return float(np.mean(np.sum((softmax(logits, temperature=math.exp(log_t)) - onehot) ** 2, axis=1)))

    lo, hi = (math.log(b) for b in _T_BOUNDS)
    result = minimize_scalar(nll if objective == "nll" else brier, bounds=(lo, hi), method="bounded",
                             options={"xatol": 1e-6})
    return float(math.exp(result.x))


# ----------------------------------------------------------------------------------------------- measures
def reliability_table(proba, y, *, n_bins: int = DEFAULT_N_BINS) -> list[dict]:
    """Confidence against accuracy in equal-width bins of the top probability (a reliability diagram as numbers).

    Parameters
    ----------
    proba : np.ndarray [shape=(n_samples, n_classes)]
        Class probabilities (rows sum to 1).
    y : np.ndarray [shape=(n_samples,), dtype=int]
        True class indices.
    n_bins : int > 0
        Bins ``(0, 1/n_bins], ..., ((n_bins-1)/n_bins, 1]`` (a top probability of 0 falls in the first).

    Returns
    -------
    list of dict, one per bin
        ``lower``, ``upper`` (the bin's edges), ``count`` (rows whose top probability falls in it), ``confidence``
        (their mean top probability) and ``accuracy`` (the fraction whose most probable class is right); the last
        two are None for an empty bin.
    """
    import numpy as np

    proba, y = _check_scores(proba, y, what="proba")
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 1:
        raise ParameterError(f"n_bins must be a positive integer, got {n_bins!r}")
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    which = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    table = []
    for b in range(n_bins):
        mask = which == b
        count = int(mask.sum())
        table.append({
            "lower": b / n_bins, "upper": (b + 1) / n_bins, "count": count,
            "confidence": float(confidence[mask].mean()) if count else None,
            "accuracy": float(correct[mask].mean()) if count else None,
        })
    return table


def expected_calibration_error(proba, y, *, n_bins: int = DEFAULT_N_BINS) -> float:
    """Expected calibration error: the mean gap between confidence and accuracy, weighted by the rows per bin.

    ``ECE = sum_b (n_b / n) * |accuracy_b - confidence_b|`` over the bins of :func:`reliability_table`: 0 for
    perfectly calibrated probabilities, up to 1.

    Parameters
    ----------
    proba : np.ndarray [shape=(n_samples, n_classes)]
        Class probabilities.
    y : np.ndarray [shape=(n_samples,), dtype=int]
        True class indices.
    n_bins : int > 0

    Returns
    -------
    float
        In [0, 1].
    """
    table = reliability_table(proba, y, n_bins=n_bins)
    n = sum(row["count"] for row in table)
    return float(sum(row["count"] * abs(row["accuracy"] - row["confidence"]) for row in table if row["count"]) / n)


# ----------------------------------------------------------------------------------------------- the classifier
def calibrate(clf, X, y, *, fitted_on: str | None = None, objective: str = "nll"):
    """Fit the temperature of a classifier on held-out rows and set it (:meth:`InstrumentClassifier.set_temperature`).

    Parameters
    ----------
    clf : InstrumentClassifier
        Fitted; its ``decision_function`` gives the uncalibrated logits (one score per row for two classes, as
        scikit-learn's convention has it, is understood).
    X : array-like of shape (n_samples, n_features)
        Raw feature rows the model was not trained on (e.g. notes of a held-out source).
    y : array-like of shape (n_samples,)
        Their true labels, among ``clf.classes_``.
    fitted_on : str, optional
        What ``X`` is, saved with the model (e.g. ``"held-out sources FluidR3, GMbank (2,400 notes)"``).
    objective : {"nll", "brier"}
        What the temperature minimizes (:func:`fit_temperature`).

    Returns
    -------
    clf
        The same classifier, with ``temperature_`` set.

    Raises
    ------
    ParameterError
        Labels the classifier does not know, bad rows.
    """
    import numpy as np

    _check_objective(objective)  # before the logits of every row are computed
    codes = label_indices(clf.classes_, y)
    logits = np.asarray(clf.decision_function(X), dtype=np.float64)
    if logits.ndim == 1:  # two classes, scikit-learn's convention: z1 - z0; softmax([0, z1 - z0]) = softmax([z0, z1])
        logits = np.stack([np.zeros_like(logits), logits], axis=1)
    temperature = fit_temperature(logits, codes, objective=objective)
    return clf.set_temperature(temperature, method=OBJECTIVES[objective], fitted_on=fitted_on)

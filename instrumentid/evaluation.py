"""How good is a classifier on labelled rows: accuracy, per-class figures, confusion matrix, calibration error.

Besides accuracy, per-class precision / recall / F1 and the confusion matrix, :func:`evaluate` measures how far the
classifier's confidence can be trusted (expected calibration error, reliability table).

The numbers come from scikit-learn's metrics (``precision_recall_fscore_support``, ``confusion_matrix``) and use
the same keys as ``classification_report(output_dict=True)`` ("precision", "recall", "f1-score", "support"), so
they can be compared one to one. The calibration measures are :mod:`instrumentid.calibration`'s.
:func:`evaluate_by_source` gives the same figures per source of a data set (its ``source`` metadata column), so a
model can be judged on the recordings it never heard one by one.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from instrumentid.calibration import (
    DEFAULT_N_BINS,
    expected_calibration_error,
    fit_temperature,
    label_indices,
    reliability_table,
    softmax,
)
from instrumentid.errors import ParameterError
from instrumentid.runfolder import CONFUSION_MATRIX_PNG, EVALUATION_JSON
from instrumentid.settings import FeatureSettings

__all__ = ["SOURCE_COLUMN", "dataset_labels", "default_data_settings", "evaluate", "evaluate_by_source",
           "evaluate_dataset", "format_by_source", "format_confusion_matrix", "format_evaluation", "held_out_figures",
           "write_evaluation"]

#: The metadata column of a data set that names the recording (SoundFont, sample set...) each row comes from.
SOURCE_COLUMN = "source"

_METRICS = ("precision", "recall", "f1-score", "support")


def _metrics_dict(p, r, f, s) -> dict:
    return dict(zip(_METRICS, (float(p), float(r), float(f), int(s)), strict=True))


def evaluate(clf, X, y) -> dict:
    """Score a fitted classifier on feature rows ``X`` with true labels ``y``.

    Parameters
    ----------
    clf : InstrumentClassifier
        Fitted (or loaded) classifier: anything with ``classes_`` and ``predict_proba``.
    X : np.ndarray [shape=(n_samples, n_features)]
        Raw feature rows.
    y : array-like [shape=(n_samples,)]
        True labels, all among ``clf.classes_``.

    Returns
    -------
    dict
        ``accuracy`` (float), ``n_samples``, ``class_names`` (str of ``clf.classes_``, the order of every table),
        ``per_class`` (``{name: {precision, recall, f1-score, support}}``), ``macro avg`` and ``weighted avg``
        (same keys), ``confusion_matrix`` (list of lists, rows = true class, columns = predicted class),
        ``expected_calibration_error`` (of the classifier's probabilities, :data:`~instrumentid.calibration.
        DEFAULT_N_BINS` bins), ``reliability`` (its table: per bin ``lower``, ``upper``, ``count``, ``confidence``,
        ``accuracy``) and ``temperature`` (the classifier's, 1 when uncalibrated).

    Raises
    ------
    ParameterError
        ``y`` has labels the classifier does not know, or its length differs from ``X``.
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    y = np.asarray(y).ravel()
    labels = np.asarray(clf.classes_)
    unknown = ~np.isin(y, labels)
    if unknown.any():
        bad = sorted({str(v) for v in y[unknown]})
        raise ParameterError(
            f"labels {bad[:10]} are not classes of the model; expected labels among {[str(c) for c in labels]}"
        )
    proba = np.asarray(clf.predict_proba(X))
    if len(proba) != len(y):
        raise ParameterError(f"X has {len(proba)} rows but y has {len(y)} labels")
    if len(y) == 0:
        raise ParameterError("no rows to evaluate")
    y_pred = labels[np.argmax(proba, axis=1)]
    names = [str(c) for c in labels]
    kwargs = {"labels": labels, "zero_division": 0.0}
    per_class = precision_recall_fscore_support(y, y_pred, average=None, **kwargs)
    result = {
        "accuracy": float(accuracy_score(y, y_pred)),
        "n_samples": len(y),
        "class_names": names,
        "per_class": {name: _metrics_dict(*values)
                      for name, values in zip(names, zip(*per_class, strict=True), strict=True)},
    }
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, y_pred, average=average, **kwargs)
        result[f"{average} avg"] = _metrics_dict(p, r, f, len(y))
    result["confusion_matrix"] = confusion_matrix(y, y_pred, labels=labels).tolist()
    codes = label_indices(labels, y)
    result["expected_calibration_error"] = expected_calibration_error(proba, codes, n_bins=DEFAULT_N_BINS)
    result["reliability"] = reliability_table(proba, codes, n_bins=DEFAULT_N_BINS)
    result["temperature"] = float(getattr(clf, "temperature_", 1.0))
    return result


def _check_same_features(clf, dataset, where: str) -> None:
    """Refuse data whose rows were computed otherwise than the model's (both known): its score would mean nothing.

    Rows as wide as the model's can still be other features: musicnn's pools of the first 3 s of each note instead
    of the first second (``embedding_frames``), or features of another version.
    """
    model, data = getattr(clf, "feature_settings", None), dataset.feature_settings
    if model is None or data is None or model == data:
        return
    diffs = [f"{f.name}: {getattr(model, f.name)!r} in the model, {getattr(data, f.name)!r} in the data"
             for f in dataclasses.fields(model) if getattr(model, f.name) != getattr(data, f.name)]
    raise ParameterError(f"the data{where} was computed with other feature settings than the model's "
                         f"({'; '.join(diffs)}): build it with the model's settings, or evaluate on other data")


def default_data_settings(clf):
    """The feature settings to evaluate ``clf`` on the default data set with: the model's (None: the lab's 120).

    Checked before the data set is built (the default notes with other settings than those cached take minutes).

    Raises
    ------
    ParameterError
        Feature settings of another version than this code computes (a model saved by an older instrumentid), or
        that make rows of another width than the model takes (an edited model).
    """
    features = getattr(clf, "feature_settings", None)
    if features is not None and features.version != FeatureSettings().version:
        raise ParameterError(f"the model's features are of version {features.version}, this instrumentid computes "
                             f"version {FeatureSettings().version}: retrain the model, or evaluate it with --data")
    if features is not None and features.n_features != clf.n_features_in_:
        raise ParameterError(f"the model's feature settings make {features.n_features} features but it takes "
                             f"{clf.n_features_in_}: it cannot be evaluated on the default notes (give --data)")
    return features


def _split_rows(clf, dataset, split: str):
    """``(X, labels, metadata rows or None)`` of one split, after every check of :func:`evaluate_dataset`."""
    if split not in ("test", "train"):
        raise ParameterError(f"split must be 'test' or 'train', got {split!r}")
    X, y_idx = (dataset.X_test, dataset.y_test) if split == "test" else (dataset.X_train, dataset.y_train)
    where = f" in {dataset.path}" if dataset.path else ""
    if dataset.n_features != clf.n_features_in_:
        raise ParameterError(
            f"the data{where} has {dataset.n_features} features per row but the model expects {clf.n_features_in_}"
        )
    _check_same_features(clf, dataset, where)
    if len(y_idx) == 0:
        raise ParameterError(f"the data{where} has no {split} rows to evaluate")
    trained_on = getattr(clf, "trained_on_", None)
    if trained_on and trained_on["data"] is not None and trained_on["data"] == dataset.key \
            and split in trained_on["rows"]:
        raise ParameterError(
            f"the model was trained on the {split} rows of this data set{where} (data set key {dataset.key}), so its "
            "score on them says nothing about recordings it never heard: evaluate it on other data (--data)"
        )
    metadata = dataset.metadata
    if metadata is not None:
        n_train = len(dataset.y_train)
        metadata = metadata[n_train:] if split == "test" else metadata[:n_train]
    return X, dataset_labels(clf, dataset.class_names, y_idx), metadata


def evaluate_dataset(clf, dataset, *, split: str = "test") -> dict:
    """:func:`evaluate` on one split of a :class:`~instrumentid.datasets.base.FeatureDataset`.

    The data's class indices are matched to the model's classes by name (see :func:`dataset_labels`).

    Parameters
    ----------
    clf : InstrumentClassifier
    dataset : FeatureDataset
    split : {"test", "train"}

    Raises
    ------
    ParameterError
        Unknown split, a feature count or feature settings that differ from the model's, data classes the model
        does not know, or rows the model was trained on (its ``trained_on_`` names this data set and split).
    """
    X, y, _ = _split_rows(clf, dataset, split)
    return evaluate(clf, X, y)


def evaluate_by_source(clf, dataset, *, split: str = "test", column: str = SOURCE_COLUMN) -> dict:
    """:func:`evaluate` on one split of a data set, overall and for the rows of each source separately.

    Parameters
    ----------
    clf : InstrumentClassifier
    dataset : FeatureDataset
        With per-row metadata (``metadata.csv``) that has the column ``column``.
    split : {"test", "train"}
    column : str
        The metadata column naming each row's source (default ``"source"``).

    Returns
    -------
    dict
        ``overall`` (:func:`evaluate` on every row of the split), ``column``, and ``sources``: ``{source: result of
        evaluate on its rows}`` in sorted order, each with its accuracy, per-class figures, confusion matrix and
        expected calibration error.

    Raises
    ------
    ParameterError
        Every error of :func:`evaluate_dataset`, or a data set without per-row metadata or without ``column``.
    """
    X, y, metadata = _split_rows(clf, dataset, split)
    where = f" {str(dataset.path)!r}" if dataset.path else ""
    if metadata is None:
        raise ParameterError(f"the data set{where} has no metadata.csv, so its rows have no {column!r} to group by")
    if not all(column in row for row in metadata):
        found = sorted(metadata[0]) if metadata else []
        raise ParameterError(f"the metadata.csv of the data set{where} has no {column!r} column (columns: "
                             f"{', '.join(found)}), so its rows cannot be grouped by source")
    sources = np.asarray([str(row[column]) for row in metadata])
    per_source = {source: evaluate(clf, X[sources == source], y[sources == source])
                  for source in sorted(set(sources.tolist()))}
    return {"column": column, "split": split, "overall": evaluate(clf, X, y), "sources": per_source}


def held_out_figures(logits: dict, codes: dict, n_classes: int, *, objective: str = "nll") -> dict:
    """Figures of leave-one-group-out predictions (e.g. leave one source out): accuracy, recall, calibration.

    Parameters
    ----------
    logits : dict of str -> np.ndarray [shape=(n_rows, n_classes)]
        Per held-out group, the uncalibrated logits of its rows from a model that never trained on the group.
    codes : dict of str -> np.ndarray [shape=(n_rows,), dtype=int]
        Per group, the true class index of each row.
    n_classes : int
    objective : {"nll", "brier"}
        What the temperatures minimize (:func:`~instrumentid.calibration.fit_temperature`).

    Returns
    -------
    dict
        ``groups``: per group (in the order of ``logits``) ``notes``, ``accuracy``, ``recall`` (class index -> recall,
        for the classes the group has), ``ece_before`` and ``ece_after`` (expected calibration error of the plain
        softmax, and at ``temperature_from_others``: the temperature fitted on the other groups' rows only, so the
        figure is honest); ``confusion`` (np.ndarray (n_classes, n_classes) of counts, rows true, columns
        predicted, over every group); ``temperature`` (fitted on every group's rows: the one to ship).
    """
    names = list(logits)
    groups: dict = {}
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    for name in names:
        others = [n for n in names if n != name]
        t_other = fit_temperature(np.concatenate([logits[n] for n in others]),
                                  np.concatenate([codes[n] for n in others]), objective=objective)
        pred, true = logits[name].argmax(1), codes[name]
        np.add.at(confusion, (true, pred), 1)
        groups[name] = {
            "notes": int(len(pred)), "accuracy": float(np.mean(pred == true)),
            "recall": {c: float(np.mean(pred[true == c] == c)) for c in range(n_classes) if np.any(true == c)},
            "ece_before": expected_calibration_error(softmax(logits[name]), true),
            "ece_after": expected_calibration_error(softmax(logits[name], temperature=t_other), true),
            "temperature_from_others": t_other,
        }
    temperature = fit_temperature(np.concatenate([logits[n] for n in names]),
                                  np.concatenate([codes[n] for n in names]), objective=objective)
    return {"groups": groups, "confusion": confusion, "temperature": temperature}


def format_confusion_matrix(result: dict) -> str:
    """The confusion matrix of an :func:`evaluate` result as text (rows: true class, columns: predicted class)."""
    names = list(result["class_names"])
    cm = result["confusion_matrix"]
    width = max(len(n) for n in names)
    cell = max(5, *(len(str(v)) + 1 for row in cm for v in row))
    short = [n[:cell - 1] for n in names]
    corner = "true \\ predicted"
    width = max(width, len(corner))
    lines = [f"{corner:>{width}}  " + "".join(f"{n:>{cell}}" for n in short)]
    for name, row in zip(names, cm, strict=True):
        lines.append(f"{name:>{width}}  " + "".join(f"{v:>{cell}d}" for v in row))
    return "\n".join(lines)


def format_by_source(result: dict) -> str:
    """An :func:`evaluate_by_source` result as text: a summary row per source, then each source's figures."""
    sources = result["sources"]
    width = max([len(s) for s in sources] + [len("overall"), len(result["column"])])
    lines = [f"by {result['column']} ({result['split']} rows):",
             f"{result['column']:<{width}}  {'rows':>6}  {'accuracy':>8}  {'ECE':>6}"]
    for name, r in [*sources.items(), ("overall", result["overall"])]:
        lines.append(f"{name:<{width}}  {r['n_samples']:>6d}  {r['accuracy']:>8.4f}  "
                     f"{r['expected_calibration_error']:>6.4f}")
    for name, r in sources.items():
        lines += ["", f"== {result['column']} {name}", format_evaluation(r), "",
                  "confusion matrix (rows: true class, columns: predicted class)", format_confusion_matrix(r)]
    return "\n".join(lines)


def format_evaluation(result: dict) -> str:
    """The evaluation as a text table (one row per class, then the averages), for the terminal."""
    names = list(result["class_names"])
    width = max([len(n) for n in names] + [len("weighted avg")])
    header = f"{'':>{width}}  {'precision':>9}  {'recall':>9}  {'f1-score':>9}  {'support':>9}"
    lines = [f"accuracy: {result['accuracy']:.4f} ({result['n_samples']} rows)"]
    if result.get("expected_calibration_error") is not None:
        lines.append(f"expected calibration error: {result['expected_calibration_error']:.4f} "
                     f"({len(result.get('reliability') or []) or DEFAULT_N_BINS} bins, temperature "
                     f"{result.get('temperature', 1.0):.3g})")
    lines += ["", header]
    rows = [(n, result["per_class"][n]) for n in names]
    rows += [(None, None)] + [(key, result[key]) for key in ("macro avg", "weighted avg")]
    for name, m in rows:
        if name is None:
            lines.append("")
            continue
        lines.append(f"{name:>{width}}  {m['precision']:>9.4f}  {m['recall']:>9.4f}  {m['f1-score']:>9.4f}"
                     f"  {m['support']:>9d}")
    return "\n".join(lines)


def write_evaluation(result: dict, out_dir, *, extra: dict | None = None) -> list:
    """Write ``evaluation.json`` and ``confusion_matrix.png`` into ``out_dir`` (each atomically).

    Parameters
    ----------
    result : dict
        Output of :func:`evaluate`.
    out_dir : str or Path
        Folder to write into (created if needed).
    extra : dict, optional
        More keys for the JSON (e.g. the model and data paths).

    Returns
    -------
    list of Path
        ``[evaluation.json, confusion_matrix.png]``.
    """
    from instrumentid import plots
    from instrumentid.util import atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = atomic_write_text(out_dir / EVALUATION_JSON,
                                  json.dumps({**result, **(extra or {})}, indent=1, default=str) + "\n")
    cm = np.asarray(result["confusion_matrix"])
    fig, _ = plots.plot_confusion_matrix(cm, class_names=result["class_names"])
    png_path = plots.save_figure(fig, out_dir / CONFUSION_MATRIX_PNG)
    return [json_path, png_path]


def dataset_labels(clf, class_names, y_idx) -> np.ndarray:
    """Turn a data set's class indices into labels of the classifier's type, matched by name.

    Parameters
    ----------
    clf : InstrumentClassifier
        Fitted classifier; its ``classes_`` are compared with the data's class names as strings.
    class_names : list of str
        The data set's class names (``FeatureDataset.class_names``).
    y_idx : np.ndarray [shape=(n,), dtype=int]
        Class indices into ``class_names``.

    Returns
    -------
    np.ndarray [shape=(n,)]
        Labels taken from ``clf.classes_``.

    Raises
    ------
    ParameterError
        Some class of the data is not a class of the model.
    """
    by_name = {str(c): c for c in clf.classes_}
    names = np.asarray([str(n) for n in class_names])[np.asarray(y_idx)]
    missing = sorted(set(names.tolist()) - set(by_name))
    if missing:
        raise ParameterError(
            f"the data has classes the model does not know: {missing}; the model's classes are {sorted(by_name)}"
        )
    return np.asarray([by_name[n] for n in names.tolist()], dtype=np.asarray(clf.classes_).dtype)

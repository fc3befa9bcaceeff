"""The lab's UIowa feature files, loaded and validated.

A data set folder holds ``uiowa_train_data.npy`` (n_train x n_features), ``uiowa_train_labels.npy`` (n_train,),
``uiowa_test_data.npy`` and ``uiowa_test_labels.npy``, plus, for sets built by instrumentid, ``classes.json``,
``metadata.csv`` and ``dataset.json`` (see :mod:`instrumentid.datasets.base`). The original UIowa files carry no
class names; their classes are called ``"0"`` ... ``"9"``.

Every problem with the files is reported as one :class:`~instrumentid.errors.ParameterError` that names the file and
the bad value: a missing or unreadable file, Python objects inside a ``.npy`` file, wrong shapes, NaN or Inf values,
labels that are not class indices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from instrumentid.datasets.base import FILES, FeatureDataset, read_metadata
from instrumentid.errors import ParameterError

__all__ = ["UIOWA_N_CLASSES", "describe", "load_uiowa"]

#: Number of classes of the original UIowa files (labels 0-9), used when a folder has no ``classes.json``.
UIOWA_N_CLASSES = 10

_NPY_MAGIC = b"\x93NUMPY"


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise ParameterError(f"missing file {path.name!r} in {str(path.parent)!r} (a UIowa data set needs "
                             f"{', '.join(FILES.values())})")
    try:
        with open(path, "rb") as fh:
            if fh.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
                raise ParameterError(f"cannot read {str(path)!r} as a .npy array: it is not a .npy file")
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise ParameterError(f"{str(path)!r} holds Python objects, expected a numeric array") from None
        raise ParameterError(f"cannot read {str(path)!r} as a .npy array: {err}") from None
    except ParameterError:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged header fails anywhere in numpy's parser (SyntaxError, TokenError, ...)
        raise ParameterError(f"cannot read {str(path)!r} as a .npy array: {type(err).__name__}: {err}") from None
    return array


def _check_data(X: np.ndarray, name: str) -> np.ndarray:
    if X.ndim != 2:
        raise ParameterError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ParameterError(f"{name} is empty: shape {X.shape}")
    if X.dtype.kind not in "iuf":
        raise ParameterError(f"{name} must hold numbers, got dtype {X.dtype}")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ParameterError(f"{name} has {int(bad.sum())} NaN/Inf values of {X.size} "
                             f"(first at row {row}, column {col}: {X[row, col].item()})")
    return X


def _check_labels(y: np.ndarray, name: str, *, n_rows: int, data_name: str, n_classes: int,
                  names_known: bool) -> np.ndarray:
    if y.ndim != 1:
        raise ParameterError(f"{name} must be 1-D (n_samples,), got shape {y.shape}")
    if y.shape[0] != n_rows:
        raise ParameterError(f"{name} has {y.shape[0]} labels but {data_name} has {n_rows} rows")
    if y.dtype.kind == "f":
        fractional = ~np.isfinite(y) | (y != np.round(y))
        if fractional.any():
            row = int(np.argmax(fractional))
            raise ParameterError(f"{name} must hold integer class indices, got {y[row].item()!r} at row {row} "
                                 f"({int(fractional.sum())} non-integer labels)")
    elif y.dtype.kind not in "iu":
        raise ParameterError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    outside = (y < 0) | (y >= n_classes)
    if outside.any():
        row = int(np.argmax(outside))
        hint = "" if names_known else " (UIowa labels are 0-9; give other class sets a classes.json)"
        raise ParameterError(f"{name} must hold labels in 0..{n_classes - 1}, got {y[row].item()!r} at row {row} "
                             f"({int(outside.sum())} labels out of range){hint}")
    return y.astype(np.int64)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ParameterError(f"cannot read {str(path)!r} as JSON: {err}") from None


def _class_names(folder: Path) -> list | None:
    path = folder / "classes.json"
    if not path.exists():
        return None
    names = _read_json(path)
    if (not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) and n for n in names)
            or len(set(names)) != len(names)):
        raise ParameterError(f"{str(path)!r} must be a list of at least 2 distinct class names, got {names!r:.80}")
    return names


def load_uiowa(path) -> FeatureDataset:
    """Read and validate a data set folder in the lab's UIowa layout.

    Parameters
    ----------
    path : str or Path
        Folder holding the four ``uiowa_*.npy`` files (and optionally ``classes.json``, ``metadata.csv``,
        ``dataset.json``).

    Returns
    -------
    FeatureDataset
        ``X_train (n_train, n_features)``, ``y_train (n_train,)`` int64, ``X_test``, ``y_test``, class names
        (``"0"``..``"9"`` without ``classes.json``), per-row metadata and build information when present.

    Raises
    ------
    ParameterError
        A missing or unreadable file, an object array, wrong shapes, train/test widths that differ, NaN or Inf
        features, labels that are not integers in ``0..n_classes-1``, or metadata that does not match the rows.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ParameterError(f"data set folder {str(folder)!r} does not exist or is not a folder")
    names = _class_names(folder)
    n_classes = len(names) if names else UIOWA_N_CLASSES
    arrays = {}
    for split in ("train", "test"):
        data_file, label_file = FILES[f"X_{split}"], FILES[f"y_{split}"]
        X = _check_data(_load_npy(folder / data_file), data_file)
        y = _check_labels(_load_npy(folder / label_file), label_file, n_rows=X.shape[0], data_name=data_file,
                          n_classes=n_classes, names_known=names is not None)
        arrays[split] = (X, y)
    (X_train, y_train), (X_test, y_test) = arrays["train"], arrays["test"]
    if X_train.shape[1] != X_test.shape[1]:
        raise ParameterError(f"{FILES['X_train']} has {X_train.shape[1]} features per row but {FILES['X_test']} "
                             f"has {X_test.shape[1]}; both splits must have the same features")
    metadata = read_metadata(folder)
    if metadata is not None and len(metadata) != len(y_train) + len(y_test):
        raise ParameterError(f"{str(folder / 'metadata.csv')!r} has {len(metadata)} rows, expected one per sample "
                             f"({len(y_train)} train + {len(y_test)} test)")
    info = _read_json(folder / "dataset.json") if (folder / "dataset.json").exists() else {}
    if not isinstance(info, dict):
        raise ParameterError(f"{str(folder / 'dataset.json')!r} must hold a JSON object, got {type(info).__name__}")
    return FeatureDataset(X_train, y_train, X_test, y_test,
                          class_names=names or [str(i) for i in range(n_classes)],
                          metadata=metadata, info=info, path=folder)


def _count_table(title: str, counts: dict) -> list:
    width = max([len(title)] + [len(str(k)) for k in counts])
    lines = [f"  {title:<{width}}  {'train':>8}  {'test':>8}"]
    for key, (n_train, n_test) in counts.items():
        lines.append(f"  {key!s:<{width}}  {n_train:>8,}  {n_test:>8,}")
    total_train = sum(c[0] for c in counts.values())
    total_test = sum(c[1] for c in counts.values())
    lines.append(f"  {'total':<{width}}  {total_train:>8,}  {total_test:>8,}")
    return lines


def describe(dataset: FeatureDataset) -> str:
    """What the lab prints about its data: sample, feature and class counts, then rows per class (and per source).

    Returns
    -------
    str
        Several lines of text, no trailing newline.
    """
    lines = []
    if dataset.path is not None:
        lines.append(f"Data set: {dataset.path}")
    lines += [
        f"Number of training samples: {len(dataset.y_train):,}",
        f"Number of test samples: {len(dataset.y_test):,}",
        f"Number of features per sample: {dataset.n_features}",
        f"Number of classes: {dataset.n_classes}",
        "",
        "Samples per class:",
    ]
    counts = dataset.class_counts()
    labelled = {(f"{i} {name}" if name != str(i) else name): c for i, (name, c) in enumerate(counts.items())}
    lines += _count_table("class", labelled)
    sources = dataset.counts_by("source")
    if sources:
        lines += ["", "Samples per source:", *_count_table("source", dict(sorted(sources.items())))]
    return "\n".join(lines)

"""The lab's UIowa feature files, loaded and validated.

A data set folder holds ``uiowa_train_data.npy`` (n_train x n_features), ``uiowa_train_labels.npy`` (n_train,),
``uiowa_test_data.npy`` and ``uiowa_test_labels.npy``, plus, for sets built by instrumentid, ``classes.json``,
``metadata.csv`` and ``dataset.json`` (see :mod:`instrumentid.datasets.base`). The original UIowa files carry no
class names; their classes are called ``"0"`` ... ``"9"``.

Every problem with the files is reported as one :class:`~instrumentid.errors.ParameterError` that names the file and
the bad value: a missing or unreadable file, Python objects inside a ``.npy`` file, wrong shapes, NaN or Inf values,
labels that are not class indices (:func:`instrumentid.datasets.base.load_dataset`, the loader of every data set).
"""

from __future__ import annotations

from pathlib import Path

from instrumentid.datasets.base import UIOWA_N_CLASSES, FeatureDataset, load_dataset

__all__ = ["UIOWA_N_CLASSES", "describe", "load_uiowa"]


def load_uiowa(path) -> FeatureDataset:
    """Read and validate a data set folder in the lab's UIowa layout (:func:`~instrumentid.datasets.base.load_dataset`).

    Parameters
    ----------
    path : str or os.PathLike
        Folder holding the four ``uiowa_*.npy`` files (and optionally ``classes.json``, ``metadata.csv``,
        ``dataset.json``).

    Returns
    -------
    FeatureDataset
        ``X_train (n_train, n_features)``, ``y_train (n_train,)`` int64, ``X_test``, ``y_test``, class names
        (``"0"``..``"9"`` without ``classes.json``, :data:`UIOWA_N_CLASSES` classes), per-row metadata and build
        information when present.

    Raises
    ------
    ParameterError
        A missing or unreadable file, an object array, wrong shapes, train/test widths that differ, NaN or Inf
        features, labels that are not integers in ``0..n_classes-1``, or metadata that does not match the rows.
    """
    return load_dataset(Path(path))


def _count_table(title: str, counts: dict) -> list:
    """Lines of a table of ``{key: (n_train, n_test)}`` with a total row."""
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

    Parameters
    ----------
    dataset : FeatureDataset

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

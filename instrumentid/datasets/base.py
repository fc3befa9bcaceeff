"""The feature data set container and its on-disk layout.

A data set folder holds the lab's four files plus optional extras::

    uiowa_train_data.npy    float (n_train, n_features)
    uiowa_train_labels.npy  int64 (n_train,)      class indices 0..n_classes-1
    uiowa_test_data.npy     float (n_test, n_features)
    uiowa_test_labels.npy   int64 (n_test,)
    classes.json            optional: list of class names, index -> name
    metadata.csv            optional: one row per note, train rows first then test rows, with a ``split`` column
    dataset.json            optional: how the set was built (settings, versions, counts)

The UIowa originals have only the four ``.npy`` files; :func:`instrumentid.datasets.uiowa.load_uiowa` reads them all.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from instrumentid.util import atomic_dir, commit_dir

__all__ = [
    "FILES",
    "FeatureDataset",
    "read_metadata",
    "save_dataset",
]

#: The four files of the lab's layout, by role.
FILES = {
    "X_train": "uiowa_train_data.npy",
    "y_train": "uiowa_train_labels.npy",
    "X_test": "uiowa_test_data.npy",
    "y_test": "uiowa_test_labels.npy",
}


@dataclass
class FeatureDataset:
    """Train/test features and labels, with class names and per-row metadata.

    Attributes
    ----------
    X_train : np.ndarray [shape=(n_train, n_features)]
    y_train : np.ndarray [shape=(n_train,), dtype=int64]
        Class indices in ``[0, n_classes)``.
    X_test : np.ndarray [shape=(n_test, n_features)]
    y_test : np.ndarray [shape=(n_test,), dtype=int64]
    class_names : list of str
        ``class_names[i]`` names class index ``i``; ``"0"``, ``"1"``, ... when the files carry no names.
    metadata : list of dict, optional
        One dict per row, train rows first, then test rows (e.g. source, program, pitch, file, split).
    info : dict
        How the set was built (``dataset.json``), empty if unknown.
    path : Path, optional
        Folder the set was loaded from.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list
    metadata: list | None = None
    info: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def class_counts(self) -> dict:
        """Per-class row counts: ``{name: (n_train, n_test)}``."""
        tr = np.bincount(self.y_train, minlength=self.n_classes)
        te = np.bincount(self.y_test, minlength=self.n_classes)
        return {name: (int(tr[i]), int(te[i])) for i, name in enumerate(self.class_names)}

    def counts_by(self, column: str) -> dict:
        """Row counts per value of a metadata column: ``{value: (n_train, n_test)}`` (empty without metadata)."""
        out: dict = {}
        for row in self.metadata or []:
            if column not in row:
                return {}
            tr, te = out.get(row[column], (0, 0))
            if row.get("split") == "test":
                te += 1
            else:
                tr += 1
            out[row[column]] = (tr, te)
        return out


def save_dataset(dataset: FeatureDataset, path) -> Path:
    """Write ``dataset`` to the folder ``path`` in the UIowa layout, atomically.

    The folder is written under a temporary name and renamed when complete, so an interrupted save never leaves
    a half-written data set.

    Returns
    -------
    Path
        The data set folder.
    """
    path = Path(path)
    tmp = atomic_dir(path)
    try:
        np.save(tmp / FILES["X_train"], np.asarray(dataset.X_train))
        np.save(tmp / FILES["y_train"], np.asarray(dataset.y_train, dtype=np.int64))
        np.save(tmp / FILES["X_test"], np.asarray(dataset.X_test))
        np.save(tmp / FILES["y_test"], np.asarray(dataset.y_test, dtype=np.int64))
        (tmp / "classes.json").write_text(json.dumps(list(dataset.class_names), indent=1) + "\n")
        if dataset.metadata:
            columns: list = []
            for row in dataset.metadata:
                columns.extend(k for k in row if k not in columns)
            with open(tmp / "metadata.csv", "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=columns)
                writer.writeheader()
                writer.writerows(dataset.metadata)
        if dataset.info:
            (tmp / "dataset.json").write_text(json.dumps(dataset.info, indent=1, default=str) + "\n")
        commit_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_metadata(path) -> list | None:
    """Read ``metadata.csv`` from a data set folder as a list of dicts (strings), or None if absent."""
    f = Path(path) / "metadata.csv"
    if not f.exists():
        return None
    with open(f, newline="") as fh:
        return list(csv.DictReader(fh))

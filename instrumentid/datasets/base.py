"""What every feature data set shares: the container, the on-disk layout, one validated loader, one cache, one pool.

A data set folder holds the lab's four files plus optional extras::

    uiowa_train_data.npy    float (n_train, n_features)
    uiowa_train_labels.npy  int64 (n_train,)      class indices 0..n_classes-1
    uiowa_test_data.npy     float (n_test, n_features)
    uiowa_test_labels.npy   int64 (n_test,)
    classes.json            optional: list of class names, index -> name
    metadata.csv            optional: one row per note, train rows first then test rows, with a ``split`` column
    dataset.json            optional: how the set was built (settings, versions, counts, ``cache_key``)

- :func:`save_dataset` writes a :class:`FeatureDataset` in that layout, atomically;
- :func:`load_dataset` reads one back and validates every file (the UIowa originals, the SoundFont and folder sets);
- :func:`cached` is the builders' one cache: a saved data set is reused when its ``dataset.json`` carries the same
  ``cache_key`` (a hash of every setting the build depends on), and rebuilt with a warning when it is damaged;
- :func:`map_in_workers` is the builders' one worker pool (processes with one BLAS thread each, results in order).
"""

from __future__ import annotations

import csv
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from instrumentid.errors import InstrumentIdError, ParameterError
from instrumentid.settings import FeatureSettings, NoteSettings
from instrumentid.util import atomic_folder, cpu_count, limit_worker_threads, read_json

__all__ = [
    "FILES",
    "FeatureDataset",
    "cached",
    "load_dataset",
    "map_in_workers",
    "read_metadata",
    "resolve_settings",
    "save_dataset",
]

#: The four files of the lab's layout, by role.
FILES = {
    "X_train": "uiowa_train_data.npy",
    "y_train": "uiowa_train_labels.npy",
    "X_test": "uiowa_test_data.npy",
    "y_test": "uiowa_test_labels.npy",
}
#: Metadata columns read back as numbers (``metadata.csv`` holds text): column -> type.
METADATA_TYPES = {
    "label": int, "program": int, "pitch": int, "velocity": int, "note_index": int, "midi": int,
    "length_s": float, "start_s": float, "end_s": float, "f0_hz": float,
}
#: Number of classes of a folder without ``classes.json`` (the original UIowa files, labels 0-9).
UIOWA_N_CLASSES = 10

_NPY_MAGIC = b"\x93NUMPY"


# ----------------------------------------------------------------------------------------------- the container
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
        """Length of a feature row."""
        return int(self.X_train.shape[1])

    @property
    def key(self) -> str | None:
        """What identifies the data set's rows: its build's cache key (None when unknown, e.g. UIowa files)."""
        info = self.info or {}
        key = info.get("cache_key") or info.get("key")
        return str(key) if key else None

    @property
    def n_classes(self) -> int:
        """Number of classes (of :attr:`class_names`)."""
        return len(self.class_names)

    @property
    def feature_settings(self) -> FeatureSettings | None:
        """The feature settings the rows were computed with, from :attr:`info`; None when unknown (UIowa files).

        Raises
        ------
        ParameterError
            The recorded settings do not match this version's :class:`~instrumentid.settings.FeatureSettings`.
        """
        saved = self.info.get("feature_settings")
        if saved is None:  # SoundFont sets built before the settings had their own key
            saved = (self.info.get("settings") or {}).get("features")
        return None if saved is None else FeatureSettings.from_dict(saved, what="the data set's feature settings")

    @property
    def note_settings(self) -> NoteSettings | None:
        """The note-detection settings of a set cut from recordings, from :attr:`info`, or None.

        None when unknown (UIowa files) or when every row is a rendered note (SoundFont sets).

        Raises
        ------
        ParameterError
            The recorded settings do not match this version's :class:`~instrumentid.settings.NoteSettings`.
        """
        saved = self.info.get("note_settings")
        return None if saved is None else NoteSettings.from_dict(saved, what="the data set's note settings")

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


# ----------------------------------------------------------------------------------------------- writing
def save_dataset(dataset: FeatureDataset, path) -> Path:
    """Write ``dataset`` to the folder ``path`` in the UIowa layout, atomically.

    The folder is written under a temporary name and renamed when complete (:func:`~instrumentid.util.atomic_folder`),
    so an interrupted save never leaves a half-written data set.

    Parameters
    ----------
    dataset : FeatureDataset
    path : str or os.PathLike
        The data set folder; an existing one is replaced.

    Returns
    -------
    Path
        The data set folder.
    """
    path = Path(path)
    with atomic_folder(path) as tmp:
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
    return path


# ----------------------------------------------------------------------------------------------- reading
def read_metadata(path) -> list | None:
    """Read ``metadata.csv`` from a data set folder, with the columns of :data:`METADATA_TYPES` back as numbers.

    Parameters
    ----------
    path : str or os.PathLike
        The data set folder.

    Returns
    -------
    list of dict or None
        One dict per row (other columns as text), or None if the folder has no ``metadata.csv``.

    Raises
    ------
    ParameterError
        A numeric column holds a value that is not a number of its type.
    """
    f = Path(path) / "metadata.csv"
    if not f.exists():
        return None
    with open(f, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for i, row in enumerate(rows):
        for column, kind in METADATA_TYPES.items():
            if column in row:
                try:
                    row[column] = kind(row[column])
                except (TypeError, ValueError):
                    raise ParameterError(f"{str(f)!r} row {i + 1}: column {column!r} must hold "
                                         f"{'integers' if kind is int else 'numbers'}, got {row[column]!r}") from None
    return rows


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


def _check_data(X: np.ndarray, name: str, *, allow_empty: bool = False) -> np.ndarray:
    if X.ndim != 2:
        raise ParameterError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[1] == 0 or (X.shape[0] == 0 and not allow_empty):
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


def _class_names(folder: Path) -> list | None:
    path = folder / "classes.json"
    if not path.exists():
        return None
    names = read_json(path)
    if (not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) and n for n in names)
            or len(set(names)) != len(names)):
        raise ParameterError(f"{str(path)!r} must be a list of at least 2 distinct class names, got {names!r:.80}")
    return names


def load_dataset(path, *, allow_empty_test: bool = False) -> FeatureDataset:
    """Read and validate a data set folder in the UIowa layout: the one loader of every data set.

    Parameters
    ----------
    path : str or os.PathLike
        Folder holding the four ``uiowa_*.npy`` files (and optionally ``classes.json``, ``metadata.csv``,
        ``dataset.json``).
    allow_empty_test : bool
        Accept a test split without rows (the SoundFont builder's table of every rendered note).

    Returns
    -------
    FeatureDataset
        ``X_train (n_train, n_features)``, ``y_train (n_train,)`` int64, ``X_test (n_test, n_features)``,
        ``y_test (n_test,)``, class names (``"0"``..``"9"`` without ``classes.json``), per-row metadata with the
        numeric columns as numbers (:func:`read_metadata`), build information (``dataset.json``, or ``{}``) and
        ``path``.

    Raises
    ------
    ParameterError
        A missing or unreadable file, an object array, wrong shapes, an empty split, train/test widths that differ,
        NaN or Inf features, labels that are not integers in ``0..n_classes-1``, metadata that does not match the
        rows, a bad ``classes.json``, a ``dataset.json`` that is not a JSON object or whose feature settings make
        rows of another width.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ParameterError(f"data set folder {str(folder)!r} does not exist or is not a folder")
    names = _class_names(folder)
    n_classes = len(names) if names else UIOWA_N_CLASSES
    arrays = {}
    for split in ("train", "test"):
        data_file, label_file = FILES[f"X_{split}"], FILES[f"y_{split}"]
        X = _check_data(_load_npy(folder / data_file), data_file, allow_empty=allow_empty_test and split == "test")
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
    info = read_json(folder / "dataset.json") if (folder / "dataset.json").exists() else {}
    if not isinstance(info, dict):
        raise ParameterError(f"{str(folder / 'dataset.json')!r} must hold a JSON object, got {type(info).__name__}")
    dataset = FeatureDataset(X_train, y_train, X_test, y_test,
                             class_names=names or [str(i) for i in range(n_classes)],
                             metadata=metadata, info=info, path=folder)
    _check_width(dataset)
    return dataset


def _check_width(dataset: FeatureDataset) -> None:
    """ParameterError when the rows are not as wide as the feature settings ``dataset.json`` records make them.

    Such a set (an edited ``dataset.json``, files of another build) trained a model that could never predict, or failed
    in training on branches it did not have. Settings that do not parse are left to whoever uses them.
    """
    try:
        features = dataset.feature_settings
    except ParameterError:
        return
    if features is not None and dataset.n_features != features.n_features:
        embedding = f" with the {features.embedding} embedding" if features.embedding else ""
        raise ParameterError(f"{str(dataset.path)!r}: the rows have {dataset.n_features} features but the feature "
                             f"settings in dataset.json{embedding} make {features.n_features}")


# ----------------------------------------------------------------------------------------------- the cache
def resolve_settings(value, kind: type[NoteSettings | FeatureSettings], *, name: str):
    """The settings a builder runs with: ``value``, or the defaults ``kind()`` when it is None.

    Parameters
    ----------
    value : NoteSettings or FeatureSettings or None
    kind : type
        :class:`~instrumentid.settings.NoteSettings` or :class:`~instrumentid.settings.FeatureSettings`.
    name : str
        The argument's name, for the message.

    Returns
    -------
    NoteSettings or FeatureSettings

    Raises
    ------
    ParameterError
        ``value`` is neither None nor a ``kind``, or settings of another version (e.g. a model's saved by an older
        instrumentid): this code would compute this version's notes or features and label them with that one.
    ModelFileError
        Feature settings with an embedding whose network file is missing, damaged or another network.
    """
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise ParameterError(f"{name} must be a {kind.__name__} or None, got {type(value).__name__}")
    current = kind().version
    if value.version != current:
        raise ParameterError(f"{name} are of version {value.version!r}, but this version of instrumentid computes "
                             f"version {current}: build with this version's settings")
    if isinstance(value, FeatureSettings):
        # a missing or damaged network: one error now, not one skipped file per file after decoding them all
        from instrumentid.analysis import check_embedding

        check_embedding(value)
    return value


def cached(path, key: str, *, allow_empty_test: bool = False) -> FeatureDataset | None:
    """The data set saved at ``path`` if it was built with the cache key ``key``, else None.

    Parameters
    ----------
    path : str or os.PathLike
        A data set folder (it may not exist).
    key : str
        Hash of every setting the build depends on; a build records it as ``cache_key`` in ``dataset.json``.
    allow_empty_test : bool
        See :func:`load_dataset`.

    Returns
    -------
    FeatureDataset or None
        None when the folder holds no data set, another build, or a damaged one (then with a warning).

    Warns
    -----
    UserWarning
        The folder carries ``key`` but does not load: the caller rebuilds it.
    """
    path = Path(path)
    try:
        info = read_json(path / "dataset.json")
    except ParameterError:
        return None
    if not isinstance(info, dict) or info.get("cache_key") != key:
        return None
    try:
        return load_dataset(path, allow_empty_test=allow_empty_test)
    except InstrumentIdError as err:
        warnings.warn(f"cached data set {str(path)!r} is damaged ({err}); rebuilding", UserWarning, stacklevel=3)
        return None


# ----------------------------------------------------------------------------------------------- the worker pool
def map_in_workers(fn, tasks, *, jobs: int | None = None, progress: bool = True, desc: str | None = None,
                   unit: str = "task", sizes=None) -> list:
    """``[fn(task) for task in tasks]``, in ``jobs`` worker processes, with a progress bar.

    Workers start clean (``forkserver``, with ``fn``'s module preloaded) and use one BLAS/OpenMP thread each
    (:func:`~instrumentid.util.limit_worker_threads`), so ``jobs`` workers use ``jobs`` cores. With one job or one
    task everything runs in this process. An exception raised by ``fn`` ends the map and is raised here.

    Parameters
    ----------
    fn : callable
        A module-level function, or a :func:`functools.partial` of one (it is pickled by reference).
    tasks : iterable
        Arguments of ``fn``, each picklable.
    jobs : int, optional
        Worker processes (default: the cores this process may use).
    progress : bool
        Show a progress bar.
    desc : str, optional
        Label of the bar.
    unit : str
        What the bar counts.
    sizes : sequence of int, optional
        How many ``unit`` each task counts for on the bar (default 1 each).

    Returns
    -------
    list
        ``fn(task)`` for every task, in task order.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    tasks = list(tasks)
    jobs = cpu_count() if jobs is None else int(jobs)
    sizes = [1] * len(tasks) if sizes is None else list(sizes)
    results: list = [None] * len(tasks)
    with tqdm(total=sum(sizes), desc=desc, unit=unit, disable=not progress) as bar:
        if jobs <= 1 or len(tasks) <= 1:
            for i, task in enumerate(tasks):
                results[i] = fn(task)
                bar.update(sizes[i])
            return results
        # forkserver: workers start clean, not forked from a parent that may hold torch/OpenMP threads
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([getattr(fn, "func", fn).__module__])
        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx,
                                 initializer=limit_worker_threads) as ex:
            futures = {ex.submit(fn, task): i for i, task in enumerate(tasks)}
            try:
                for fut in as_completed(futures):
                    i = futures[fut]
                    results[i] = fut.result()
                    bar.update(sizes[i])
            except BaseException:
                ex.shutdown(wait=False, cancel_futures=True)
                raise
    return results

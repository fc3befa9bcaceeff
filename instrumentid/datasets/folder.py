"""A feature data set from your own folder of audio files, one sub-folder per class.

::

    my_instruments/
      violin/   a.wav  b.flac  session2/c.aiff ...
      flute/    ...
      oboe/     ...

Every file goes through the same path as prediction, :func:`instrumentid.analysis.analyze` (decode, find the notes,
one feature row per note), so a file may hold one note or a whole run of notes, and every note becomes one row. The
train/test split is grouped by file (the notes of one recording never land on both sides), stratified by class and
seeded; an explicit split can be given as a CSV of ``path,split`` lines. The result is saved in the lab's UIowa layout
(:func:`instrumentid.datasets.base.save_dataset`), so ``lab``, ``train``, ``evaluate`` and ``sweep`` read it
unchanged. It is reused while the files, the note and feature settings and the split options stay the same
(:func:`instrumentid.datasets.base.cached`).

Files that cannot be used (undecodable, not audio, no notes found) are skipped and reported: one warning each and
the list ``info["skipped"]`` (also in ``dataset.json``).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
import time
import warnings
from pathlib import Path, PurePosixPath

import numpy as np

from instrumentid.audio import is_audio_file
from instrumentid.datasets.base import FILES, FeatureDataset, cached, map_in_workers, resolve_settings, save_dataset
from instrumentid.errors import InstrumentIdError, ParameterError
from instrumentid.settings import SR, FeatureSettings, NoteSettings, settings_key
from instrumentid.util import cache_dir, cpu_count, package_versions

__all__ = ["build_folder_dataset", "extract_file", "find_class_files", "grouped_split", "read_split_csv"]

#: Bump when the rows this module writes change for the same audio and settings (invalidates cached builds).
FORMAT_VERSION = 1
_SPLITS = ("train", "test")


# ----------------------------------------------------------------------------------------------- finding files
def find_class_files(folder) -> tuple[list, dict, list]:
    """List the audio files of a folder with one sub-folder per class.

    Hidden files and folders (names starting with ``.``) are ignored. Files below a class folder may be nested in
    further folders.

    Parameters
    ----------
    folder : str or os.PathLike

    Returns
    -------
    class_names : list of str
        The class sub-folders, sorted; ``class_names[i]`` names class index ``i``.
    files : dict
        ``{class name: [relative POSIX path, ...]}``, sorted, audio files only.
    skipped : list of dict
        ``{"file": relative path, "reason": str}`` for files that are not audio or not inside a class folder.

    Raises
    ------
    ParameterError
        The folder is missing or not a folder, has no class sub-folders, a class folder holds no audio file, or
        there are fewer than two classes.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ParameterError(f"audio folder not found: {str(folder)!r}")
    if not folder.is_dir():
        raise ParameterError(f"expected a folder with one sub-folder per class, got a file: {str(folder)!r}")
    skipped = []
    class_dirs = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            class_dirs.append(entry)
        elif is_audio_file(entry):
            skipped.append({"file": entry.name, "reason": "not inside a class sub-folder"})
    if not class_dirs:
        raise ParameterError(
            f"no class sub-folders in {str(folder)!r}: expected one sub-folder of audio files per class "
            "(e.g. violin/, flute/)"
        )
    files = {}
    for class_dir in class_dirs:
        found = []
        for path in sorted(class_dir.rglob("*")):
            rel = path.relative_to(folder)
            if any(part.startswith(".") for part in rel.parts) or not path.is_file():
                continue
            if is_audio_file(path):
                found.append(rel.as_posix())
            else:
                skipped.append({"file": rel.as_posix(), "reason": f"not an audio file extension ({path.suffix!r})"})
        if not found:
            raise ParameterError(f"class folder {class_dir.name!r} in {str(folder)!r} holds no audio files")
        files[class_dir.name] = found
    if len(files) < 2:
        raise ParameterError(
            f"need at least 2 classes (sub-folders) in {str(folder)!r}, got {len(files)}: {sorted(files)}"
        )
    return sorted(files), files, skipped


# ----------------------------------------------------------------------------------------------- splits
def read_split_csv(path, *, folder, files) -> dict:
    """Read an explicit split: a CSV with one ``path,split`` line per file.

    ``path`` is relative to ``folder`` (or absolute, inside it); ``split`` is ``train`` or ``test``. A header line
    ``path,split``, blank lines and lines starting with ``#`` are skipped.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file.
    folder : str or os.PathLike
        The audio folder the paths are relative to.
    files : iterable of str
        The relative POSIX paths of the folder's audio files (see :func:`find_class_files`).

    Returns
    -------
    dict
        ``{relative path: "train" or "test"}`` for every file in ``files``.

    Raises
    ------
    ParameterError
        Unreadable CSV; a line without two fields, with an unknown path, a split other than train/test, or a path
        given twice with different splits (the message names the line); files of the folder that the CSV omits.
    """
    path = Path(path)
    folder = Path(folder).resolve()
    known = set(files)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ParameterError(f"cannot read split CSV {str(path)!r}: {err}") from None
    split: dict[str, str] = {}
    where: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        line = reader.line_num
        fields = [f.strip() for f in row]
        if not any(fields) or fields[0].startswith("#"):
            continue
        if len(fields) != 2:
            raise ParameterError(f"split CSV {path.name} line {line}: expected 'path,split', got {','.join(row)!r}")
        name, value = fields
        if (name.lower(), value.lower()) == ("path", "split"):
            continue
        rel = _relative_to(name, folder)
        if rel not in known:
            raise ParameterError(
                f"split CSV {path.name} line {line}: {name!r} is not an audio file of the class folders of "
                f"{str(folder)!r}"
            )
        value = value.lower()
        if value not in _SPLITS:
            raise ParameterError(
                f"split CSV {path.name} line {line}: split must be 'train' or 'test', got {fields[1]!r}"
            )
        if split.get(rel, value) != value:
            raise ParameterError(
                f"split CSV {path.name} line {line}: {name!r} is already in {split[rel]!r} (line {where[rel]})"
            )
        split[rel], where[rel] = value, line
    missing = [f for f in files if f not in split]
    if missing:
        raise ParameterError(
            f"split CSV {path.name} lists no split for {len(missing)} file(s) of the folder, e.g. {missing[0]!r}"
        )
    return split


def _relative_to(name: str, folder: Path) -> str:
    """A CSV path as a POSIX path relative to ``folder`` (absolute paths inside the folder are accepted)."""
    if os.path.isabs(name):
        try:
            return Path(name).resolve().relative_to(folder).as_posix()
        except ValueError:
            return name
    return str(PurePosixPath(name.replace("\\", "/")))


def grouped_split(files_by_class: dict, *, test_size: float = 0.2, seed: int = 0) -> dict:
    """Split files, not notes, class by class: a seeded, stratified split grouped by recording.

    Within each class, ``ceil(test_size * n_files)`` files go to the test side (scikit-learn's
    :func:`~sklearn.model_selection.train_test_split`), so every class with at least two files has test files; a
    class with a single file is trained on only (with a warning).

    Parameters
    ----------
    files_by_class : dict
        ``{class name: [file, ...]}``.
    test_size : float
        Fraction of each class's files held out, in (0, 1).
    seed : int
        Random seed.

    Returns
    -------
    dict
        ``{file: "train" or "test"}``.
    """
    from sklearn.model_selection import train_test_split

    _check_test_size(test_size)
    rs = np.random.RandomState(seed)
    split = {}
    for name in sorted(files_by_class):
        group = list(files_by_class[name])
        if len(group) < 2:
            warnings.warn(
                f"class {name!r} has only {len(group)} usable file: all its notes are in the training set",
                UserWarning,
                stacklevel=2,
            )
            split.update(dict.fromkeys(group, "train"))
            continue
        train, test = train_test_split(group, test_size=test_size, random_state=rs)
        split.update(dict.fromkeys(train, "train"))
        split.update(dict.fromkeys(test, "test"))
    return split


def _check_test_size(test_size) -> None:
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not 0 < test_size < 1:
        raise ParameterError(f"test_size must be a fraction in (0, 1), got {test_size!r}")


# ----------------------------------------------------------------------------------------------- extraction
def extract_file(path, *, note_settings: NoteSettings | None = None,
                 feature_settings: FeatureSettings | None = None) -> dict:
    """Split one recording into notes and compute one feature row per note (:func:`instrumentid.analysis.analyze`).

    Parameters
    ----------
    path : str or os.PathLike
        Audio file.
    note_settings : NoteSettings, optional
        How notes are found (default :data:`~instrumentid.settings.DEFAULT_NOTES`).
    feature_settings : FeatureSettings, optional
        How features are computed (default :data:`~instrumentid.settings.DEFAULT_FEATURES`).

    Returns
    -------
    dict
        ``X`` : np.ndarray [shape=(n_notes, n_features), dtype=float32];
        ``notes`` : tuple of :class:`~instrumentid.notes.Note`;
        ``duration_s`` : float, length of the recording;
        ``warnings`` : list of str, warnings raised while reading it.

    Raises
    ------
    InstrumentIdError
        The file cannot be read or holds unusable audio.
    """
    from instrumentid.analysis import analyze

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = analyze(path, note_settings=note_settings, feature_settings=feature_settings)
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    return {"X": result.X, "notes": result.notes, "duration_s": result.duration_s, "warnings": messages}


def _extract_job(path: str, *, note_settings: NoteSettings, feature_settings: FeatureSettings) -> dict:
    """Worker task: :func:`extract_file`, with a failure turned into a reason instead of an exception."""
    try:
        return extract_file(path, note_settings=note_settings, feature_settings=feature_settings)
    except InstrumentIdError as err:
        return {"error": str(err)}
    except Exception as err:  # noqa: BLE001 - one odd file must not end a long build; it is reported, not hidden
        return {"error": f"{type(err).__name__}: {err}"}


def _extract_all(folder: Path, files: list, *, jobs: int, progress: bool, note_settings: NoteSettings,
                 feature_settings: FeatureSettings) -> list:
    """Run :func:`_extract_job` on every file in ``jobs`` processes (in this process if 1); results in file order."""
    job = functools.partial(_extract_job, note_settings=note_settings, feature_settings=feature_settings)
    return map_in_workers(job, [str(folder / f) for f in files], jobs=jobs, progress=progress,
                          desc="extracting notes", unit="file")


# ----------------------------------------------------------------------------------------------- cache
def _cache_key(folder: Path, files: dict, skipped: list, *, test_size, seed, split_csv,
               note_settings: NoteSettings, feature_settings: FeatureSettings) -> str:
    """Hash of everything the build depends on: file names, sizes, mtimes; note and feature settings; split options."""
    from instrumentid import __version__

    listing = []
    for rel in sorted([f for group in files.values() for f in group] + [s["file"] for s in skipped]):
        st = (folder / rel).stat()
        listing.append([rel, st.st_size, st.st_mtime_ns])
    return settings_key({
        "format": FORMAT_VERSION,
        "instrumentid": __version__,
        "sr": SR,
        "feature_settings": feature_settings.to_dict(),
        "note_settings": note_settings.to_dict(),
        "files": listing,
        "test_size": None if split_csv is not None else test_size,
        "seed": None if split_csv is not None else seed,
        "split_csv": None if split_csv is None else hashlib.sha256(Path(split_csv).read_bytes()).hexdigest(),
    })


def _check_out(out: Path, folder: Path) -> None:
    """Refuse an output folder that is a file, inside the audio folder, or a non-empty folder that is no data set."""
    if out.exists() and not out.is_dir():
        raise ParameterError(f"output must be a folder, got a file: {str(out)!r}")
    if out.resolve().is_relative_to(folder.resolve()):
        raise ParameterError(f"output folder {str(out)!r} must be outside the audio folder {str(folder)!r}")
    if out.is_dir() and any(out.iterdir()) and not (out / FILES["X_train"]).exists():
        raise ParameterError(f"refusing to replace {str(out)!r}: it is a non-empty folder but not a data set")


# ----------------------------------------------------------------------------------------------- the build
def build_folder_dataset(
    folder,
    *,
    out=None,
    test_size: float = 0.2,
    split_csv=None,
    jobs: int | None = None,
    seed: int = 0,
    note_settings: NoteSettings | None = None,
    feature_settings: FeatureSettings | None = None,
    force: bool = False,
    progress: bool = True,
    extract=None,
) -> FeatureDataset:
    """Build (or reuse) a feature data set from a folder with one sub-folder of audio files per class.

    Parameters
    ----------
    folder : str or os.PathLike
        ``folder/<class name>/**/<audio file>``; any format :func:`~instrumentid.audio.load_audio` reads.
    out : str or os.PathLike, optional
        Data set folder to write. Default: a folder in the cache named after the content hash. Either way, a folder
        that already holds this exact build (same files, sizes, mtimes, settings, split) is reused.
    test_size : float
        Fraction of each class's files held out for testing, in (0, 1); ignored with ``split_csv``.
    split_csv : str or os.PathLike, optional
        Explicit split: CSV of ``path,split`` lines (see :func:`read_split_csv`).
    jobs : int, optional
        Worker processes for the extraction (default: all cores); 1 runs in this process.
    seed : int
        Seed of the random split.
    note_settings : NoteSettings, optional
        How notes are found (default :data:`~instrumentid.settings.DEFAULT_NOTES`); part of the cache key and
        recorded in ``dataset.json``.
    feature_settings : FeatureSettings, optional
        How notes are featurized (default :data:`~instrumentid.settings.DEFAULT_FEATURES`); part of the cache key
        and recorded in ``dataset.json``.
    force : bool
        Rebuild even if a matching build exists.
    progress : bool
        Show a progress bar over files.
    extract : callable, optional
        Runs the extraction instead of the local worker pool (``jobs`` is then unused), as
        ``extract(folder, files, out=out, key=key, note_settings=..., feature_settings=..., progress=...)`` with
        ``files`` the relative paths and ``key`` the build's cache key; returns one result per file, in order, as
        :func:`extract_file` returns them or ``{"error": reason}``. Its attribute ``backend`` (a name) is recorded in
        ``dataset.json``. :func:`instrumentid.distributed.build_dataset` passes Ray's.

    Returns
    -------
    FeatureDataset
        ``X_*`` of shape (n_notes, n_features), class names = sub-folder names, one metadata row per note (``file``,
        ``class``, ``note_index`` (within the file), ``start_s``, ``end_s``, ``f0_hz``, ``midi``, ``note_name``,
        ``split``), ``info`` with the build settings and ``skipped`` (``[{"file", "reason"}]``), ``path`` = where
        it is saved.

    Raises
    ------
    ParameterError
        Missing folder, no class sub-folders, fewer than 2 classes, a class with no usable file, a bad split CSV,
        a bad option, no test files, or an output folder that cannot be used.

    Warns
    -----
    UserWarning
        One per skipped file (unreadable, not audio, no notes), naming it and the reason.
    """
    folder = Path(folder)
    _check_test_size(test_size)
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ParameterError(f"jobs must be a positive integer, got {jobs!r}")
    note_settings = resolve_settings(note_settings, NoteSettings, name="note_settings")
    feature_settings = resolve_settings(feature_settings, FeatureSettings, name="feature_settings")
    class_names, files, skipped = find_class_files(folder)
    all_files = [f for name in class_names for f in files[name]]
    n_files = len(all_files) + len(skipped)
    explicit = None
    if split_csv is not None:
        explicit = read_split_csv(split_csv, folder=folder, files=all_files)

    key = _cache_key(folder, files, skipped, test_size=test_size, seed=seed, split_csv=split_csv,
                     note_settings=note_settings, feature_settings=feature_settings)
    if out is None:
        out = cache_dir() / "folders" / f"{folder.resolve().name}-{key}"
    out = Path(out)
    _check_out(out, folder)
    if not force:
        ds = cached(out, key)
        if ds is not None:
            _warn_skipped(ds.info.get("skipped", []))
            return ds

    start = time.perf_counter()
    if extract is None:
        results = _extract_all(folder, all_files, jobs=jobs or cpu_count(), progress=progress,
                               note_settings=note_settings, feature_settings=feature_settings)
    else:
        results = extract(folder, all_files, out=out, key=key, note_settings=note_settings,
                          feature_settings=feature_settings, progress=progress)
    extraction_s = time.perf_counter() - start

    usable, file_warnings, audio_s = {}, {}, 0.0
    for rel, res in zip(all_files, results, strict=True):
        if "error" in res:
            skipped.append({"file": rel, "reason": res["error"]})
            continue
        audio_s += res["duration_s"]
        if res["warnings"]:
            file_warnings[rel] = res["warnings"]
        if not res["notes"]:
            reason = "no notes detected" + (f" ({'; '.join(res['warnings'])})" if res["warnings"] else "")
            skipped.append({"file": rel, "reason": reason})
            continue
        usable[rel] = res
    _warn_skipped(skipped)
    for name in class_names:
        if not any(f in usable for f in files[name]):
            reasons = "; ".join(f"{s['file']}: {s['reason']}" for s in skipped if s["file"].startswith(f"{name}/"))
            raise ParameterError(f"class {name!r} has no usable audio file ({reasons})")

    if explicit is None:
        split = grouped_split(
            {name: [f for f in files[name] if f in usable] for name in class_names}, test_size=test_size, seed=seed
        )
    else:
        split = {f: explicit[f] for f in usable}
    _check_split(split, class_names)

    ds = _assemble(usable, split, class_names)
    ds.info = {
        "kind": "folder",
        "folder": str(folder.resolve()),
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cache_key": key,
        "format": FORMAT_VERSION,
        "sr": SR,
        "feature_settings": feature_settings.to_dict(),
        "note_settings": note_settings.to_dict(),
        "split": "csv" if explicit is not None else "grouped by file, stratified by class",
        "split_csv": None if split_csv is None else str(Path(split_csv).resolve()),
        "test_size": None if explicit is not None else test_size,
        "seed": None if explicit is not None else seed,
        "n_files": n_files,
        "n_files_used": len(usable),
        "n_files_train": sum(1 for v in split.values() if v == "train"),
        "n_files_test": sum(1 for v in split.values() if v == "test"),
        "n_notes": len(ds.y_train) + len(ds.y_test),
        "audio_s": round(audio_s, 3),
        "extraction_s": round(extraction_s, 3),
        "backend": "local" if extract is None else getattr(extract, "backend", type(extract).__name__),
        "jobs": jobs or cpu_count() if extract is None else None,
        "class_counts": ds.class_counts(),
        "skipped": skipped,
        "warnings": file_warnings,
        "versions": package_versions(["instrumentid", "numpy", "librosa", "scikit-learn"]),
    }
    ds.path = save_dataset(ds, out)
    return ds


def _warn_skipped(skipped: list) -> None:
    for s in skipped:
        warnings.warn(f"skipped {s['file']}: {s['reason']}", UserWarning, stacklevel=3)


def _check_split(split: dict, class_names: list) -> None:
    """Every class needs training files; the test side must not be empty; a class without test files is warned."""
    for name in class_names:
        sides = {v for f, v in split.items() if f.startswith(f"{name}/")}
        if "train" not in sides:
            raise ParameterError(f"class {name!r} has no usable file in the training split")
        if "test" not in sides:
            warnings.warn(f"class {name!r} has no file in the test split", UserWarning, stacklevel=3)
    if "test" not in split.values():
        raise ParameterError(
            "the test split is empty: give each class at least 2 usable files, or mark test files in the split CSV"
        )


def _assemble(usable: dict, split: dict, class_names: list) -> FeatureDataset:
    """Stack the per-file rows into train and test arrays (train rows first), with one metadata dict per row."""
    index = {name: i for i, name in enumerate(class_names)}
    parts: dict[str, tuple[list, list, list]] = {side: ([], [], []) for side in _SPLITS}
    for rel, res in usable.items():
        name = rel.split("/", 1)[0]
        X, labels, meta = parts[split[rel]]
        X.append(res["X"])
        labels.extend([index[name]] * len(res["notes"]))
        for i, note in enumerate(res["notes"]):
            meta.append({
                "file": rel, "class": name, "note_index": i,
                "start_s": round(float(note.start_s), 4), "end_s": round(float(note.end_s), 4),
                "f0_hz": round(note.f0_hz, 2), "midi": note.midi, "note_name": note.name,
                "split": split[rel],
            })
    n_features = next(iter(usable.values()))["X"].shape[1]
    arrays = {
        side: (
            np.concatenate(parts[side][0]) if parts[side][0] else np.zeros((0, n_features), np.float32),
            np.asarray(parts[side][1], dtype=np.int64),
        )
        for side in _SPLITS
    }
    return FeatureDataset(
        X_train=arrays["train"][0], y_train=arrays["train"][1], X_test=arrays["test"][0], y_test=arrays["test"][1],
        class_names=list(class_names), metadata=parts["train"][2] + parts["test"][2],
    )

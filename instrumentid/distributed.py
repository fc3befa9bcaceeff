"""Corpus scale on Ray: ``predict --backend ray`` and ``dataset build --from-folder --backend ray``.

One Ray Data pipeline over the same code the local backend runs (:func:`instrumentid.analysis.analyze`), one stage
per step, shared by both commands::

    list files (driver) -> read bytes -> analyse (notes, features) -> rows in batches of files -> Parquet in OUT
                                                     predict:  the model (loaded once per worker) names each note
                                                     dataset:  the feature columns of each note

A file that cannot be read or analysed becomes one row naming it and the reason (column ``error``), and never stops the
job; a worker that dies is retried by Ray (:data:`MAX_RETRIES` times; Ray Data's default is to retry forever), and a
file whose worker dies every time is reported like an unreadable one. Rerunning into the same output skips every file
already written (resume); ``summary.json`` describes the whole output. ``dataset build`` then hands the rows to the
local builder (:func:`instrumentid.datasets.folder.build_folder_dataset`: same split, same files, same cache), so the
data set is the local backend's. Ray is an optional extra: ``pip install "instrumentid[ray]"``.

Examples
--------
>>> from instrumentid.distributed import build_dataset, predict_corpus  # doctest: +SKIP
>>> summary = predict_corpus(["recordings/"], out="notes.parquet.d")   # doctest: +SKIP
>>> print(summary.to_table())                                        # doctest: +SKIP
>>> ds = build_dataset("my_instruments", out="my_ds")                # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrumentid.analysis import Note, analyze, no_notes_message
from instrumentid.audio import MAX_DURATION_S
from instrumentid.calibration import DEFAULT_MIN_CONFIDENCE, UNKNOWN, check_min_confidence
from instrumentid.datasets.base import FeatureDataset, resolve_settings
from instrumentid.datasets.folder import build_folder_dataset
from instrumentid.errors import InstrumentIdError, ParameterError
from instrumentid.prediction import find_audio_files, load_model
from instrumentid.settings import FeatureSettings, NoteSettings
from instrumentid.util import atomic_write_text, cpu_count, limit_worker_threads

__all__ = ["INSTALL_HINT", "MAX_RETRIES", "NOTES_FOLDER", "NOTE_FIELDS", "SUMMARY_FILE", "CorpusSummary",
           "build_dataset", "predict_corpus", "require_ray"]

#: How to get the optional dependencies of this module.
INSTALL_HINT = 'pip install "instrumentid[ray]"'
#: The summary written into the output folder.
SUMMARY_FILE = "summary.json"
#: The note columns of the Parquet output, in order (then instrument, confidence, ``proba_<class>``...).
NOTE_FIELDS = ("start_s", "end_s", "f0_hz", "midi", "release_s", "name")
#: Files per batch of the row stage (and so at most per Parquet file).
BATCH_FILES = 32
#: How often Ray runs a file's task again when its worker process dies (and restarts a dead row-stage actor).
MAX_RETRIES = 3
#: The sub-folder of a data set built on Ray that holds its Parquet rows and ``summary.json``.
NOTES_FOLDER = "notes"


def require_ray():
    """Import Ray (with Ray Data and pyarrow), or say which extra to install.

    Raises
    ------
    InstrumentIdError
        Ray or pyarrow is not installed.
    """
    try:
        ray = importlib.import_module("ray")
        importlib.import_module("ray.data")
        importlib.import_module("pyarrow")
    except ImportError as err:
        raise InstrumentIdError(
            f"--backend ray needs Ray Data and pyarrow, which are not installed ({err}): {INSTALL_HINT}"
        ) from None
    return ray


@dataclass(frozen=True)
class CorpusSummary:
    """What an output folder holds after :func:`predict_corpus` (or the Parquet rows of :func:`build_dataset`).

    Attributes
    ----------
    out : Path
        The output folder (Parquet files and ``summary.json``).
    n_files : int
        Files asked for in this run.
    n_skipped : int
        Of those, files found already written in ``out`` (resume), not analysed again.
    done : tuple of str
        Every file in ``out`` with its notes (this run and earlier ones).
    failed : tuple of (str, str)
        Every file in ``out`` that could not be read or analysed, with the reason.
    n_notes : int
        Note rows in ``out``.
    elapsed_s : float
        Wall time of this run in seconds.
    """

    out: Path
    n_files: int
    n_skipped: int
    done: tuple
    failed: tuple
    n_notes: int
    elapsed_s: float

    def to_dict(self) -> dict:
        """JSON-ready dict (the content of ``summary.json``)."""
        return {
            "out": str(self.out), "n_files": self.n_files, "n_skipped": self.n_skipped, "n_done": len(self.done),
            "n_failed": len(self.failed), "n_notes": self.n_notes, "elapsed_s": round(self.elapsed_s, 3),
            "failed": [{"file": f, "error": e} for f, e in self.failed],
        }

    def to_table(self) -> str:
        """A few lines for people: counts, then one line per failed file."""
        lines = [f"{self.out}: {len(self.done)} files done ({self.n_notes} notes), {len(self.failed)} failed; "
                 f"this run: {self.n_files} files, {self.n_skipped} already written, {self.elapsed_s:.1f} s"]
        lines += [f"failed: {f}: {e}" for f, e in self.failed]
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- the stages
# Module-level functions and classes, so Ray ships them to workers by reference.
def _read_bytes(row: dict) -> dict:
    """Stage 1: the bytes of ``row["path"]`` (``error`` names the reason when it cannot be read)."""
    try:
        data, error = Path(row["path"]).read_bytes(), ""
    except OSError as err:
        data, error = b"", f"cannot read {row['path']!r}: {err.strerror or err}"
    return {"file": row["file"], "path": row["path"], "data": data, "error": error}


_threads_limited = False


def _analyse(row: dict, *, note_settings, feature_settings, max_duration_s) -> dict:
    """Stage 2: :func:`~instrumentid.analysis.analyze` on the bytes: the notes (JSON), their feature rows, warnings.

    A file without notes is no error here (``n_notes`` 0, the warnings say why): each command words it its own way.
    """
    global _threads_limited
    if not _threads_limited:  # one BLAS thread per task's CPU, as the local pool's workers: the same float results
        limit_worker_threads()
        _threads_limited = True
    file, path = row["file"], row["path"]
    result = {"file": file, "error": row["error"], "notes": "[]", "X": b"", "n_notes": 0, "warnings": "[]",
              "duration_s": 0.0}
    if row["error"]:
        return result
    with tempfile.TemporaryDirectory(prefix="instrumentid-") as tmp:
        copy = Path(tmp) / Path(path).name  # same name and extension: the decoder and the messages see the original
        try:
            copy.write_bytes(row["data"])
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                analysis = analyze(copy, name=path, note_settings=note_settings, feature_settings=feature_settings,
                                   max_duration_s=max_duration_s)
        except Exception as err:  # noqa: BLE001 - one bad file is reported, never ends the job
            reason = str(err).replace(str(copy), path)
            result["error"] = reason if isinstance(err, InstrumentIdError) else f"{type(err).__name__}: {reason}"
            return result
    X = np.ascontiguousarray(analysis.X, dtype=np.float32)
    result.update(notes=json.dumps([n.to_dict() for n in analysis.notes]), X=X.tobytes(), n_notes=len(X),
                  warnings=json.dumps(list(dict.fromkeys(str(w.message) for w in caught))),
                  duration_s=float(analysis.duration_s))
    return result


class _Rows:
    """Stage 3, one per worker: a batch of analysed files -> an Arrow table, one row per note (:attr:`schema`).

    A failed file is one row with ``file``, ``n_notes`` 0 and ``error``; subclasses name the notes' columns.
    """

    schema = None

    def no_notes(self, file: str, messages: list) -> str | None:
        """The failure reason of a file without notes, or None to keep it as one row without a note."""
        return None

    def note_rows(self, file: str, notes: list, X: np.ndarray, extra: dict) -> list:
        """One dict per note of ``file`` (columns of :attr:`schema`)."""
        raise NotImplementedError

    def __call__(self, batch: dict):
        import pyarrow as pa

        rows: list = []
        for i, file in enumerate(batch["file"]):
            n_notes, error = int(batch["n_notes"][i]), batch["error"][i]
            extra = {"duration_s": float(batch["duration_s"][i]), "warnings": batch["warnings"][i]}
            if not error and not n_notes:
                error = self.no_notes(file, json.loads(batch["warnings"][i]))
            if error:
                rows.append({"file": file, "n_notes": 0, "error": error})
            elif not n_notes:
                rows.append({"file": file, "n_notes": 0, **extra})
            else:
                X = np.frombuffer(batch["X"][i], dtype=np.float32).reshape(n_notes, -1)
                rows += self.note_rows(file, json.loads(batch["notes"][i]), X, extra)
        return pa.Table.from_pylist(rows, schema=self.schema)


def _predict_schema(classes):
    import pyarrow as pa

    return pa.schema([
        ("file", pa.string()), ("index", pa.int32()),
        ("start_s", pa.float64()), ("end_s", pa.float64()), ("f0_hz", pa.float64()), ("midi", pa.int32()),
        ("release_s", pa.float64()), ("name", pa.string()),
        ("instrument", pa.string()), ("confidence", pa.float64()),
        *((f"proba_{c}", pa.float64()) for c in classes),
        ("n_notes", pa.int32()), ("error", pa.string()),
    ])


class _Classify(_Rows):
    """predict: the model, loaded once per worker, names every note (as :func:`~instrumentid.prediction.predict`)."""

    def __init__(self, model, *, min_confidence: float):
        self.clf = load_model(model)
        self.classes = [str(c) for c in self.clf.classes_]
        self.min_confidence = min_confidence
        self.schema = _predict_schema(self.classes)

    def no_notes(self, file, messages):
        # as the local backend: a file without notes is a failure, with the warnings' reasons
        return no_notes_message(file, [m.removeprefix(f"{Path(file).name}: ") for m in messages])

    def note_rows(self, file, notes, X, extra):
        proba = self.clf.predict_proba(X)
        rows = []
        for i, (note, p) in enumerate(zip(notes, proba, strict=True), start=1):
            best = int(np.argsort(p)[::-1][0])  # as prediction.classify ranks them
            confidence = float(p[best])
            rows.append({
                "file": file, "index": i, **{name: note[name] for name in NOTE_FIELDS},
                "instrument": UNKNOWN if confidence < self.min_confidence else self.classes[best],
                "confidence": confidence, **{f"proba_{c}": float(p[j]) for j, c in enumerate(self.classes)},
                "n_notes": len(notes),
            })
        return rows


def _dataset_schema(feature_names):
    import pyarrow as pa

    return pa.schema([
        ("file", pa.string()), ("class", pa.string()), ("note_index", pa.int32()),
        ("start_s", pa.float64()), ("end_s", pa.float64()), ("f0_hz", pa.float64()), ("midi", pa.int32()),
        ("release_s", pa.float64()), ("note_name", pa.string()),
        *((name, pa.float32()) for name in feature_names),
        ("n_notes", pa.int32()), ("duration_s", pa.float64()), ("warnings", pa.string()), ("error", pa.string()),
    ])


class _Features(_Rows):
    """dataset build: the class (the file's first folder), the note and its feature columns."""

    def __init__(self, feature_names):
        self.feature_names = list(feature_names)
        self.schema = _dataset_schema(self.feature_names)

    def note_rows(self, file, notes, X, extra):
        return [{"file": file, "class": file.split("/", 1)[0], "note_index": i, "note_name": note["name"],
                 **{name: note[name] for name in NOTE_FIELDS if name != "name"},
                 **dict(zip(self.feature_names, x.tolist(), strict=True)), "n_notes": len(notes), **extra}
                for i, (note, x) in enumerate(zip(notes, X, strict=True))]


# ----------------------------------------------------------------------------------------------- the output folder
def _read_output(out: Path) -> tuple[dict, dict, int]:
    """Files fully written in ``out``: ({file: n_notes}, {file: error}, note rows).

    A file counts as done when all its ``n_notes`` rows are there. A Parquet file that cannot be read (a job killed
    while writing it) is removed, so its files are done again.
    """
    import pyarrow.parquet as pq

    rows: dict = {}
    n_notes: dict = {}
    failed: dict = {}
    for part in sorted(out.glob("*.parquet")):
        try:
            table = pq.read_table(part, columns=["file", "n_notes", "error"])
        except Exception as err:  # noqa: BLE001 - any unreadable part is a partial write
            warnings.warn(f"removing {str(part)!r}, a Parquet file that cannot be read (an interrupted run?): {err}",
                          UserWarning, stacklevel=3)
            part.unlink()
            continue
        for file, n, error in zip(*(table.column(c).to_pylist() for c in ("file", "n_notes", "error")), strict=True):
            if error is not None:
                failed[file] = error
            else:
                rows[file] = rows.get(file, 0) + 1
                n_notes[file] = n
    done = {f: n for f, n in n_notes.items() if rows[f] >= n}
    return done, {f: e for f, e in failed.items() if f not in done}, sum(done.values())


def _start_ray(ray, *, address: str | None, num_cpus: int | None) -> bool:
    """Join ``address`` (or ``RAY_ADDRESS``), or start a quiet local instance; True when this call started Ray."""
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    if ray.is_initialized():
        return False
    options: dict = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False,
                     "configure_logging": True}
    if address is None and not os.environ.get("RAY_ADDRESS"):
        options["num_cpus"] = cpu_count() if num_cpus is None else num_cpus
    try:
        ray.init(address=address, **options)
    except ConnectionError as err:
        raise ParameterError(f"cannot join the Ray cluster at {address or os.environ.get('RAY_ADDRESS')!r}: {err}") \
            from None
    return True


def _run(items: list, out: Path, *, rows, rows_kwargs: dict, analyse_kwargs: dict, empty_schema, address, num_cpus,
         progress: bool) -> None:
    """The pipeline: ``items`` (``{"file": name in the output, "path": where to read it}``) -> Parquet parts in ``out``.

    Worker death: Ray runs a file's task again when its worker process dies, and restarts a dead row-stage actor,
    :data:`MAX_RETRIES` times (Ray Data's default is forever: a file that kills its worker every time would never
    end). A block that fails anyway no longer ends the job (``DataContext.max_errored_blocks = -1``, and one file per
    block): the driver writes its file as a failure row (``empty_schema``), so it is reported and the job completes.
    """
    ray = require_ray()
    started = _start_ray(ray, address=address, num_cpus=num_cpus)
    ctx = ray.data.DataContext.get_current()
    saved = ctx.enable_progress_bars, ctx.max_errored_blocks
    try:
        # one file per block: a block lost to workers that kept dying costs one file, reported below
        ctx.enable_progress_bars, ctx.max_errored_blocks = progress, -1
        n_cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        with warnings.catch_warnings():
            # Ray 2.60 deprecates these remote args without a named replacement yet (kept until Ray 2.64)
            warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
            ds = ray.data.from_items(items, override_num_blocks=len(items))
            ds = ds.map(_read_bytes, max_retries=MAX_RETRIES, retry_exceptions=False)
            ds = ds.map(_analyse, fn_kwargs=analyse_kwargs, max_retries=MAX_RETRIES, retry_exceptions=False)
            # the row stage is light (numpy; for predict one matrix product per note): its actors take no CPU
            ds = ds.map_batches(rows, fn_constructor_kwargs=rows_kwargs, batch_size=BATCH_FILES,
                                batch_format="numpy", num_cpus=0, max_restarts=MAX_RETRIES,
                                max_task_retries=MAX_RETRIES,
                                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=math.ceil(n_cpus / 8)))
        ds.write_parquet(str(out))
    finally:
        ctx.enable_progress_bars, ctx.max_errored_blocks = saved
        if started:
            ray.shutdown()
    done, failed, _ = _read_output(out)
    lost = [item["file"] for item in items if item["file"] not in done and item["file"] not in failed]
    if lost:
        import pyarrow as pa
        import pyarrow.parquet as pq

        reason = (f"its Ray worker failed at every attempt ({MAX_RETRIES + 1}: died or raised while analysing it; "
                  "see Ray's logs)")
        table = pa.Table.from_pylist([{"file": f, "n_notes": 0, "error": reason} for f in lost], schema=empty_schema)
        pq.write_table(table, out / f"lost-{time.time_ns()}.parquet")


def _summarize(out: Path, *, n_files: int, n_skipped: int, start: float) -> CorpusSummary:
    """The summary of ``out`` (also written to ``out/summary.json``)."""
    done, failed, n_notes = _read_output(out)
    summary = CorpusSummary(out=out, n_files=n_files, n_skipped=n_skipped, done=tuple(sorted(done)),
                            failed=tuple(sorted(failed.items())), n_notes=n_notes,
                            elapsed_s=time.perf_counter() - start)
    atomic_write_text(out / SUMMARY_FILE, json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


# ----------------------------------------------------------------------------------------------- predict
def predict_corpus(inputs, *, out, model=None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                   max_duration_s: float | None = MAX_DURATION_S, address: str | None = None,
                   num_cpus: int | None = None, progress: bool = True) -> CorpusSummary:
    """Name the instrument of every note of many recordings on Ray; write Parquet, one row per note, into ``out``.

    Parameters
    ----------
    inputs : sequence of str or Path
        Audio files and folders (walked recursively, as :func:`~instrumentid.prediction.find_audio_files` does). On
        a cluster every node must read them under the same path (a shared filesystem).
    out : str or Path
        Output folder (created): Parquet files with the columns ``file, index, start_s, end_s, f0_hz, midi,
        release_s, name, instrument, confidence, proba_<class>..., n_notes, error`` (a failed file is one row with
        ``error`` set and the note columns null), and ``summary.json``. Files already written there are skipped.
    model : None, str, Path or a fitted classifier
        See :func:`~instrumentid.prediction.load_model`; each worker loads it once.
    min_confidence : float in [0, 1]
        Below it a note is :data:`~instrumentid.calibration.UNKNOWN` (as :func:`~instrumentid.prediction.predict`).
    max_duration_s : float or None
        Longest file accepted, in seconds.
    address : str, optional
        A Ray cluster to join (default ``RAY_ADDRESS``, else a local instance is started and stopped at the end). A
        Ray already initialized in this process is used as it is.
    num_cpus : int, optional
        CPUs of a local instance (default: the cores this process may use).
    progress : bool
        Show Ray Data's progress bars.

    Returns
    -------
    CorpusSummary
        Of the whole output folder (also written to ``out/summary.json``).

    Raises
    ------
    InstrumentIdError
        Ray is not installed, or ``out`` is a file; a missing input, a bad model or ``min_confidence``
        (:class:`~instrumentid.errors.ParameterError`).
    """
    start = time.perf_counter()
    require_ray()
    min_confidence = check_min_confidence(min_confidence)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"out must be a folder for the Parquet files, got a file: {str(out)!r}")
    files = [str(p.resolve()) for p in find_audio_files(inputs)]
    clf = load_model(model)  # checked here once, so a bad model is one error and not one per worker
    model_arg = str(Path(model).resolve()) if isinstance(model, (str, Path)) else model
    out.mkdir(parents=True, exist_ok=True)
    done, failed, _ = _read_output(out)
    todo = [f for f in files if f not in done and f not in failed]
    if todo:
        _run([{"file": f, "path": f} for f in todo], out, rows=_Classify,
             rows_kwargs={"model": model_arg, "min_confidence": min_confidence},
             analyse_kwargs={"note_settings": clf.note_settings, "feature_settings": clf.feature_settings,
                             "max_duration_s": max_duration_s},
             empty_schema=_predict_schema([str(c) for c in clf.classes_]), address=address, num_cpus=num_cpus,
             progress=progress)
    return _summarize(out, n_files=len(files), n_skipped=len(files) - len(todo), start=start)


# ----------------------------------------------------------------------------------------------- dataset build
class _RayExtract:
    """The extraction step of :func:`~instrumentid.datasets.folder.build_folder_dataset`, run on Ray.

    The Parquet rows go to a folder beside the data set named after its cache key while the job runs (so a rerun of
    the same build resumes from them), and into the data set's :data:`NOTES_FOLDER` once it is saved.
    """

    backend = "ray"

    def __init__(self, *, address, num_cpus, max_duration_s):
        self.address, self.num_cpus, self.max_duration_s = address, num_cpus, max_duration_s
        self.summary: CorpusSummary | None = None
        self.parts: Path | None = None

    def __call__(self, folder: Path, files: list, *, out: Path, key: str, note_settings: NoteSettings,
                 feature_settings: FeatureSettings, progress: bool) -> list:
        import pyarrow.parquet as pq

        start = time.perf_counter()
        self.parts = parts = out.parent / f".{out.name}.ray-{key}"
        parts.mkdir(parents=True, exist_ok=True)
        done, failed, _ = _read_output(parts)
        todo = [f for f in files if f not in done and f not in failed]
        root = folder.resolve()
        if todo:
            _run([{"file": f, "path": str(root / f)} for f in todo], parts, rows=_Features,
                 rows_kwargs={"feature_names": feature_settings.feature_names},
                 analyse_kwargs={"note_settings": note_settings, "feature_settings": feature_settings,
                                 "max_duration_s": self.max_duration_s},
                 empty_schema=_dataset_schema(feature_settings.feature_names), address=self.address,
                 num_cpus=self.num_cpus, progress=progress)
        self.summary = _summarize(parts, n_files=len(files), n_skipped=len(files) - len(todo), start=start)
        done, failed, _ = _read_output(parts)
        table = pq.read_table(sorted(parts.glob("*.parquet"))).sort_by([("file", "ascending"),
                                                                          ("note_index", "ascending")])
        by_file: dict = {}
        for row in table.to_pylist():
            if row["file"] in done and (row["note_index"] is not None or not done[row["file"]]):
                by_file.setdefault(row["file"], {})[row["note_index"]] = row  # a file done twice: one copy
        return [_result(by_file[f], feature_settings.feature_names) if f in by_file else {"error": failed[f]}
                for f in files]

    def publish(self, dataset_path: Path) -> None:
        """Move the Parquet rows into the saved data set (``NOTES_FOLDER``), replacing older ones."""
        import shutil

        if self.parts is None or not self.parts.is_dir():
            return
        target = Path(dataset_path) / NOTES_FOLDER
        if target.exists():
            shutil.rmtree(target)
        self.parts.rename(target)
        if self.summary is not None:
            self.summary = dataclasses.replace(self.summary, out=target)
            atomic_write_text(target / SUMMARY_FILE, json.dumps(self.summary.to_dict(), indent=2) + "\n")


def _result(rows: dict, feature_names: list) -> dict:
    """One file's Parquet rows ({note_index: row}) -> :func:`~instrumentid.datasets.folder.extract_file`'s result."""
    notes = [rows[i] for i in sorted(i for i in rows if i is not None)]
    first = next(iter(rows.values()))
    X = np.array([[row[name] for name in feature_names] for row in notes], dtype=np.float32)
    return {"X": X.reshape(len(notes), len(feature_names)),
            "notes": tuple(Note(r["start_s"], r["end_s"], r["f0_hz"], r["midi"], r["release_s"]) for r in notes),
            "duration_s": first["duration_s"], "warnings": json.loads(first["warnings"])}


def build_dataset(folder, *, out=None, test_size: float = 0.2, split_csv=None, seed: int = 0,
                  note_settings: NoteSettings | None = None, feature_settings: FeatureSettings | None = None,
                  force: bool = False, progress: bool = True, address: str | None = None,
                  num_cpus: int | None = None, max_duration_s: float | None = MAX_DURATION_S) -> FeatureDataset:
    """:func:`~instrumentid.datasets.folder.build_folder_dataset` with the notes and features computed on Ray.

    The data set is the local backend's (same rows, split, files and cache key: either backend reuses the other's
    build), plus ``NOTES_FOLDER/`` in it: Parquet, one row per note (``file`` (relative to ``folder``), ``class``,
    ``note_index``, ``start_s, end_s, f0_hz, midi, release_s, note_name``, one float32 column per feature (named as
    :attr:`~instrumentid.settings.FeatureSettings.feature_names`), ``n_notes, duration_s, warnings, error``; a failed
    file is one row with ``error``, a file without notes one row without a note) and ``summary.json``. An interrupted
    build rerun with the same options resumes: the files already analysed are not analysed again.

    Parameters
    ----------
    folder, out, test_size, split_csv, seed, note_settings, feature_settings, force, progress
        As :func:`~instrumentid.datasets.folder.build_folder_dataset`. On a cluster every node must read ``folder``
        and write beside ``out`` under the same paths (a shared filesystem).
    address, num_cpus
        As :func:`predict_corpus`.
    max_duration_s : float or None
        Longest file accepted, in seconds.

    Returns
    -------
    FeatureDataset
        As :func:`~instrumentid.datasets.folder.build_folder_dataset` returns it.

    Raises
    ------
    InstrumentIdError
        Ray is not installed; every error of :func:`~instrumentid.datasets.folder.build_folder_dataset`.
    """
    require_ray()
    note_settings = resolve_settings(note_settings, NoteSettings, name="note_settings")
    feature_settings = resolve_settings(feature_settings, FeatureSettings, name="feature_settings")
    extract = _RayExtract(address=address, num_cpus=num_cpus, max_duration_s=max_duration_s)
    ds = build_folder_dataset(folder, out=out, test_size=test_size, split_csv=split_csv, seed=seed,
                              note_settings=note_settings, feature_settings=feature_settings, force=force,
                              progress=progress, extract=extract)
    if ds.path is not None:
        extract.publish(ds.path)
    return ds

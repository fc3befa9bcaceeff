"""Corpus scale: name the instrument of every note of a whole collection on Ray (``predict --backend ray``).

A Ray Data pipeline over the same code the local backend runs (:func:`instrumentid.analysis.analyze`, the model of
:func:`instrumentid.prediction.load_model`), one stage per step::

    list files (driver) -> read bytes -> analyse (notes, features) -> classify in batches (model loaded once per
    worker) -> Parquet, one row per note, in OUT

A file that cannot be read or analysed becomes one row naming it and the reason (column ``error``), and never stops
the job. Rerunning into the same OUT skips every file already written (resume); ``summary.json`` in OUT describes the
whole folder. Ray is an optional extra: ``pip install "instrumentid[ray]"``.

Examples
--------
>>> from instrumentid.distributed import predict_corpus               # doctest: +SKIP
>>> summary = predict_corpus(["recordings/"], out="notes.parquet.d")   # doctest: +SKIP
>>> print(summary.to_table())                                        # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrumentid.analysis import analyze
from instrumentid.audio import MAX_DURATION_S
from instrumentid.calibration import DEFAULT_MIN_CONFIDENCE, UNKNOWN, check_min_confidence
from instrumentid.errors import InstrumentIdError, ParameterError
from instrumentid.prediction import find_audio_files, load_model
from instrumentid.util import atomic_write_text, cpu_count

__all__ = ["INSTALL_HINT", "NOTE_FIELDS", "SUMMARY_FILE", "CorpusSummary", "predict_corpus", "require_ray"]

#: How to get the optional dependencies of this module.
INSTALL_HINT = 'pip install "instrumentid[ray]"'
#: The summary written into the output folder.
SUMMARY_FILE = "summary.json"
#: The note columns of the Parquet output, in order (then instrument, confidence, ``proba_<class>``...).
NOTE_FIELDS = ("start_s", "end_s", "f0_hz", "midi", "release_s", "name")
#: Files per batch of the classifier stage (and so at most per Parquet file).
BATCH_FILES = 32


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
    """What an output folder holds after :func:`predict_corpus`.

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
# Module-level functions and a class, so Ray ships them to workers by reference.
def _read_bytes(row: dict) -> dict:
    """Stage 1: the bytes of ``row["file"]`` (``error`` names the reason when it cannot be read)."""
    try:
        data, error = Path(row["file"]).read_bytes(), ""
    except OSError as err:
        data, error = b"", f"cannot read {row['file']!r}: {err.strerror or err}"
    return {"file": row["file"], "data": data, "error": error}


def _failure(file: str, error: str) -> dict:
    return {"file": file, "error": error, "notes": "[]", "X": b"", "n_notes": 0}


def _analyse(row: dict, *, note_settings, feature_settings, max_duration_s) -> dict:
    """Stage 2: :func:`~instrumentid.analysis.analyze` on the bytes: the notes (JSON) and their feature rows."""
    file, error = row["file"], row["error"]
    if error:
        return _failure(file, error)
    with tempfile.TemporaryDirectory(prefix="instrumentid-") as tmp:
        copy = Path(tmp) / Path(file).name  # same name and extension: the decoder and the messages see the original
        try:
            copy.write_bytes(row["data"])
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                analysis = analyze(copy, name=file, note_settings=note_settings, feature_settings=feature_settings,
                                   max_duration_s=max_duration_s)
        except Exception as err:  # noqa: BLE001 - one bad file is reported, never ends the job
            reason = str(err).replace(str(copy), file)
            if not isinstance(err, InstrumentIdError):
                reason = f"internal error: {type(err).__name__}: {reason}"
            return _failure(file, reason)
    if not analysis.notes:  # as the local backend: a file without notes is a failure, with the warnings' reasons
        messages = [str(w.message).removeprefix(f"{Path(file).name}: ") for w in caught]
        reasons = [m for m in dict.fromkeys(messages) if not m.startswith("no notes found")]
        why = f" ({'; '.join(reasons)})" if reasons else ""
        return _failure(file, f"no notes found in {file!r}{why}")
    notes = json.dumps([n.to_dict() for n in analysis.notes])
    X = np.ascontiguousarray(analysis.X, dtype=np.float32)
    return {"file": file, "error": "", "notes": notes, "X": X.tobytes(), "n_notes": len(analysis.notes)}


def _schema(classes):
    import pyarrow as pa

    return pa.schema([
        ("file", pa.string()), ("index", pa.int32()),
        ("start_s", pa.float64()), ("end_s", pa.float64()), ("f0_hz", pa.float64()), ("midi", pa.int32()),
        ("release_s", pa.float64()), ("name", pa.string()),
        ("instrument", pa.string()), ("confidence", pa.float64()),
        *((f"proba_{c}", pa.float64()) for c in classes),
        ("n_notes", pa.int32()), ("error", pa.string()),
    ])


class _Classify:
    """Stage 3, one per worker: the model, loaded once; a batch of analysed files -> one Parquet row per note."""

    def __init__(self, model, *, min_confidence: float):
        self.clf = load_model(model)
        self.classes = [str(c) for c in self.clf.classes_]
        self.min_confidence = min_confidence
        self.schema = _schema(self.classes)

    def __call__(self, batch: dict):
        import pyarrow as pa

        n_features = self.clf.feature_settings.n_features
        columns: dict = {name: [] for name in self.schema.names}
        blocks = [np.frombuffer(x, dtype=np.float32).reshape(-1, n_features) for x in batch["X"]]
        X = np.concatenate(blocks) if blocks else np.zeros((0, n_features), np.float32)
        proba = self.clf.predict_proba(X) if len(X) else np.zeros((0, len(self.classes)))
        row = 0
        for file, error, notes in zip(batch["file"], batch["error"], batch["notes"], strict=True):
            if error:
                values = dict.fromkeys(self.schema.names)
                values.update(file=file, n_notes=0, error=error)
                for name in self.schema.names:
                    columns[name].append(values[name])
                continue
            notes = json.loads(notes)
            for i, note in enumerate(notes, start=1):
                p = proba[row]
                row += 1
                best = int(np.argsort(p)[::-1][0])  # as prediction.classify ranks them
                confidence = float(p[best])
                columns["file"].append(file)
                columns["index"].append(i)
                for name in NOTE_FIELDS:
                    columns[name].append(note[name])
                columns["instrument"].append(UNKNOWN if confidence < self.min_confidence else self.classes[best])
                columns["confidence"].append(confidence)
                for j, c in enumerate(self.classes):
                    columns[f"proba_{c}"].append(float(p[j]))
                columns["n_notes"].append(len(notes))
                columns["error"].append(None)
        return pa.Table.from_pydict(columns, schema=self.schema)


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


def _start_ray(ray, *, address: str | None, num_cpus: int | None, progress: bool) -> bool:
    """Join ``address`` (or ``RAY_ADDRESS``), or start a quiet local instance; True when this call started Ray."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    if ray.is_initialized():
        return False
    options: dict = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False,
                     "configure_logging": True}
    import os

    if address is None and not os.environ.get("RAY_ADDRESS"):
        options["num_cpus"] = cpu_count() if num_cpus is None else num_cpus
    try:
        ray.init(address=address, **options)
    except ConnectionError as err:
        raise ParameterError(f"cannot join the Ray cluster at {address or os.environ.get('RAY_ADDRESS')!r}: {err}") \
            from None
    return True


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
    ray = require_ray()
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
        started = _start_ray(ray, address=address, num_cpus=num_cpus, progress=progress)
        try:
            n_cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            ds = ray.data.from_items([{"file": f} for f in todo], override_num_blocks=len(todo))
            ds = ds.map(_read_bytes)
            ds = ds.map(_analyse, fn_kwargs={"note_settings": clf.note_settings,
                                             "feature_settings": clf.feature_settings,
                                             "max_duration_s": max_duration_s})
            # the classifier is light (numpy, one matrix product per batch): its actors take no CPU of the analysis
            ds = ds.map_batches(_Classify, fn_constructor_kwargs={"model": model_arg, "min_confidence": min_confidence},
                                batch_size=BATCH_FILES, batch_format="numpy", num_cpus=0,
                                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=math.ceil(n_cpus / 8)))
            ds.write_parquet(str(out))
        finally:
            if started:
                ray.shutdown()
    done, failed, n_notes = _read_output(out)
    summary = CorpusSummary(out=out, n_files=len(files), n_skipped=len(files) - len(todo), done=tuple(sorted(done)),
                            failed=tuple(sorted(failed.items())), n_notes=n_notes,
                            elapsed_s=time.perf_counter() - start)
    atomic_write_text(out / SUMMARY_FILE, json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary

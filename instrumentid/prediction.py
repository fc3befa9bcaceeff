"""Name the instrument of every note in a recording.

The pipeline is the same as training's: :func:`instrumentid.analysis.analyze` (decode, notes, one feature row per
note) -> :meth:`InstrumentClassifier.predict_proba <instrumentid.classifier.InstrumentClassifier.predict_proba>`.

The default model ships in the package (``instrumentid/data/default_model/``); ``scripts/train_default_model.py``
rebuilds it from the default data set.

Examples
--------
>>> from instrumentid.prediction import predict                      # doctest: +SKIP
>>> result = predict("sax.aiff")                                   # doctest: +SKIP
>>> print(result.to_table())                                       # doctest: +SKIP
>>> result.instrument, [p.note.name for p in result.notes]         # doctest: +SKIP
('saxophone', ['C6', 'C#6', 'D6', 'D#6'])
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from instrumentid.analysis import NOTE_COLUMNS, Analysis, Note, analyze, check_embedding, format_records, note_row
from instrumentid.audio import MAX_DURATION_S
from instrumentid.calibration import DEFAULT_MIN_CONFIDENCE, UNKNOWN, check_min_confidence
from instrumentid.errors import ModelFileError, ParameterError
from instrumentid.inference import LightClassifier
from instrumentid.settings import DEFAULT_FEATURES, DEFAULT_NOTES, check_same

__all__ = [
    "DEFAULT_MIN_CONFIDENCE",
    "DEFAULT_MODEL",
    "TOP_K",
    "UNKNOWN",
    "NotePrediction",
    "RecordingPrediction",
    "check_model_settings",
    "classify",
    "find_audio_files",
    "format_predictions",
    "load_model",
    "predict",
]

#: Folder of the model shipped with the package (model.safetensors + model.json).
DEFAULT_MODEL = Path(__file__).resolve().parent / "data" / "default_model"
#: Number of (instrument, probability) pairs kept per note.
TOP_K = 3


def _probability(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{what} must be a probability, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and -1e-6 <= value <= 1 + 1e-6):
        raise ParameterError(f"{what} must be a probability in [0, 1], got {value!r}")
    return min(max(value, 0.0), 1.0)


def _ranking(pairs, what: str) -> tuple:
    """Validate (name, probability) pairs sorted by decreasing probability; return them as a tuple of tuples."""
    out = tuple((str(name), _probability(p, f"{what} probability of {name!r}")) for name, p in pairs)
    if not out:
        raise ParameterError(f"{what} must hold at least one (instrument, probability) pair")
    probs = [p for _, p in out]
    if any(a < b for a, b in itertools.pairwise(probs)):
        raise ParameterError(f"{what} must be sorted by decreasing probability, got {out!r}")
    return out


def _check_leader(record, ranking_field: str) -> None:
    """Normalize ``record.confidence`` and ``record.<ranking_field>``.

    The ranking must start with ``(record.instrument, record.confidence)``, or with ``(guess, record.confidence)``
    when the instrument is :data:`UNKNOWN` (a guess below the confidence threshold).
    """
    kind = type(record).__name__
    object.__setattr__(record, "confidence", _probability(record.confidence, f"{kind}.confidence"))
    ranking = _ranking(getattr(record, ranking_field), f"{kind}.{ranking_field}")
    object.__setattr__(record, ranking_field, ranking)
    name_ok = record.instrument == UNKNOWN or ranking[0][0] == record.instrument
    if not name_ok or not math.isclose(ranking[0][1], record.confidence, abs_tol=1e-9):
        raise ParameterError(
            f"{kind}.{ranking_field} must start with (instrument, confidence) = ({record.instrument!r}, "
            f"{record.confidence}), got {ranking[0]!r}"
        )


@dataclass(frozen=True)
class NotePrediction:
    """The instrument of one note.

    Attributes
    ----------
    note : Note
        Where the note is and its pitch.
    instrument : str
        Most probable instrument, or :data:`UNKNOWN` when its probability is below the confidence threshold
        (``min_confidence`` of :func:`predict`).
    confidence : float
        The probability of the most probable instrument, in [0, 1] (also when ``instrument`` is "unknown").
    top : tuple of (str, float)
        The :data:`TOP_K` most probable instruments with their probabilities, most probable first
        (``top[0] == (guess, confidence)``).
    """

    note: Note
    instrument: str
    confidence: float
    top: tuple

    def __post_init__(self):
        if not isinstance(self.note, Note):
            raise ParameterError(f"NotePrediction.note must be a Note, got {type(self.note).__name__}")
        _check_leader(self, "top")

    @property
    def guess(self) -> str:
        """The most probable instrument, whatever its probability (``instrument`` unless that is "unknown")."""
        return self.top[0][0]

    @property
    def is_unknown(self) -> bool:
        """True when the most probable instrument was below the confidence threshold."""
        return self.instrument == UNKNOWN

    def to_dict(self) -> dict:
        """JSON-ready dict: the note's fields plus instrument, confidence and top."""
        return {
            **self.note.to_dict(),
            "instrument": self.instrument,
            "confidence": self.confidence,
            "top": [{"instrument": name, "probability": p} for name, p in self.top],
        }


@dataclass(frozen=True)
class RecordingPrediction:
    """Every note of a recording with its instrument, and the recording's instrument overall.

    Attributes
    ----------
    source : str
        File name (or ``"<array>"``).
    duration_s : float
        Length of the recording in seconds.
    notes : tuple of NotePrediction
        In time order.
    instrument : str or None
        Most likely instrument overall: the class with the highest mean probability over the notes, each note
        weighted by its length; :data:`UNKNOWN` when that mean probability is below ``min_confidence``. None when
        no note was found.
    confidence : float or None
        That mean probability.
    probabilities : tuple of (str, float)
        Length-weighted mean probability of every instrument, most probable first (empty without notes).
    min_confidence : float
        The threshold in [0, 1] below which a note or the recording is :data:`UNKNOWN` (0: never); checked
        against every note and the recording.
    analysis : Analysis, optional
        The decoded recording, its notes and feature rows (for plots); not part of comparisons or ``to_dict``.
    """

    source: str
    duration_s: float
    notes: tuple
    instrument: str | None
    confidence: float | None
    probabilities: tuple
    min_confidence: float = 0.0
    analysis: Analysis | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if not (isinstance(self.duration_s, (int, float)) and math.isfinite(self.duration_s) and self.duration_s >= 0):
            raise ParameterError(
                f"RecordingPrediction.duration_s must be a length in seconds >= 0, got {self.duration_s!r}"
            )
        notes = tuple(self.notes)
        if not all(isinstance(p, NotePrediction) for p in notes):
            raise ParameterError("RecordingPrediction.notes must hold NotePrediction records")
        if any(a.note.start_s > b.note.start_s for a, b in itertools.pairwise(notes)):
            raise ParameterError("RecordingPrediction.notes must be in time order")
        object.__setattr__(self, "notes", notes)
        object.__setattr__(self, "min_confidence",
                           check_min_confidence(self.min_confidence, what="RecordingPrediction.min_confidence"))
        for p in notes:
            _check_threshold(p, self.min_confidence)
        if not notes:
            if self.instrument is not None or self.confidence is not None or self.probabilities:
                raise ParameterError(
                    "a RecordingPrediction without notes has no instrument, confidence or probabilities"
                )
            return
        _check_leader(self, "probabilities")
        _check_threshold(self, self.min_confidence)

    @property
    def guess(self) -> str | None:
        """The most probable instrument overall, whatever its probability (None without notes)."""
        return self.probabilities[0][0] if self.probabilities else None

    def to_dict(self) -> dict:
        """JSON-ready dict: source, duration_s, instrument, confidence, probabilities, min_confidence and the notes."""
        return {
            "source": self.source,
            "duration_s": self.duration_s,
            "instrument": self.instrument,
            "confidence": self.confidence,
            "probabilities": {name: p for name, p in self.probabilities},
            "min_confidence": self.min_confidence,
            "notes": [p.to_dict() for p in self.notes],
        }

    def to_rows(self) -> list[dict]:
        """One flat dict per note (for CSV): source, note fields, instrument, guess, confidence, then the runners-up.

        ``guess`` is the most probable instrument and ``confidence`` its probability; ``instrument`` is the guess,
        or "unknown" when the confidence is below the threshold.
        """
        rows = []
        for i, p in enumerate(self.notes, start=1):
            row = note_row(self.source, i, p.note)
            row.update(instrument=p.instrument, guess=p.guess, confidence=round(p.confidence, 4))
            for rank in range(2, TOP_K + 1):
                name, prob = p.top[rank - 1] if rank <= len(p.top) else ("", None)
                row[f"instrument_{rank}"] = name
                row[f"confidence_{rank}"] = "" if prob is None else round(prob, 4)
            rows.append(row)
        return rows

    def to_table(self) -> str:
        """Human-readable table: a summary line, then one line per note."""
        if not self.notes:
            return f"{self.source}: no notes found ({self.duration_s:.1f} s)"
        total_s = sum(p.note.duration_s for p in self.notes)
        n_unknown = sum(p.is_unknown for p in self.notes)
        best = f"best guess {self.guess} " if self.instrument == UNKNOWN else ""
        below = f"; {n_unknown} below {self.min_confidence:.0%}: {UNKNOWN}" if n_unknown else ""
        lines = [
            (f"{self.source}: {self.instrument} ({best}{self.confidence:.0%} over {len(self.notes)} notes, "
            f"{total_s:.1f} s of {self.duration_s:.1f} s{below})"),
            (f"{'#':>3}  {'start_s':>7}  {'end_s':>7}  {'note':<4}  {'f0_hz':>7}  {'instrument':<12} {'conf':>5}  "
            "other guesses"),
        ]
        for i, p in enumerate(self.notes, start=1):
            n = p.note
            # an "unknown" note lists every guess, its most probable one first; a named note its runners-up
            others = ", ".join(f"{name} {prob:.0%}" for name, prob in p.top[0 if p.is_unknown else 1:])
            lines.append(
                f"{i:>3}  {n.start_s:7.3f}  {n.end_s:7.3f}  {n.name:<4}  {n.f0_hz:7.1f}  {p.instrument:<12} "
                f"{p.confidence:5.0%}  {others}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_table()


def _check_threshold(record, min_confidence: float) -> None:
    """A note or recording is :data:`UNKNOWN` exactly when its confidence is below ``min_confidence``."""
    below = record.confidence < min_confidence
    if below != (record.instrument == UNKNOWN):
        raise ParameterError(
            f"{type(record).__name__} with confidence {record.confidence} and min_confidence {min_confidence} must "
            f"have instrument {UNKNOWN!r} exactly when its confidence is below the threshold, got "
            f"{record.instrument!r}"
        )


# ----------------------------------------------------------------------------------------------- the model
def check_model_settings(clf, *, name: str = "model") -> None:
    """Refuse a model whose notes or features were not computed the way :func:`instrumentid.analysis.analyze` does now.

    Raises
    ------
    ParameterError
        The model carries no feature settings (e.g. it was trained on the UIowa feature files, whose features cannot
        be computed from audio), note or feature settings that differ from this version's (each difference named),
        or another number of features.
    ModelFileError
        The network of the model's embedding is missing, damaged or another network.
    """
    feature_settings = getattr(clf, "feature_settings", None)
    if feature_settings is None:
        raise ParameterError(
            f"{name} has no feature settings: it was not trained on instrumentid's audio features (e.g. it was "
            "trained on the UIowa feature files), so it cannot name the notes of a recording"
        )
    # an embedding is the model's choice (the shipped model's musicnn pools), not another version of the features
    current = dataclasses.replace(DEFAULT_FEATURES, embedding=feature_settings.embedding,
                                  embedding_frames=feature_settings.embedding_frames)
    check_same(feature_settings.to_dict(), current, name=name, what="feature")
    note_settings = getattr(clf, "note_settings", None)
    check_same(None if note_settings is None else note_settings.to_dict(), DEFAULT_NOTES, name=name,
               what="note detection")
    n_features = current.n_features
    if getattr(clf, "n_features_in_", n_features) != n_features:
        raise ParameterError(f"{name} expects {clf.n_features_in_} features, the feature code makes {n_features}")
    check_embedding(feature_settings)  # missing or damaged: one error now, not one per recording


@functools.lru_cache(maxsize=1)
def _default_model():
    if not (DEFAULT_MODEL / "model.json").is_file():
        raise ModelFileError(
            f"the built-in model is missing from {str(DEFAULT_MODEL)!r}: rebuild it with "
            "scripts/train_default_model.py, or pass a model folder (--model)"
        )
    clf = LightClassifier.load(DEFAULT_MODEL)
    check_model_settings(clf, name="the built-in model")
    return clf


def load_model(model=None):
    """The classifier to predict with.

    Parameters
    ----------
    model : None, str, Path or a fitted classifier
        None for the built-in model (loaded once per process), a model or run folder (read as a
        :class:`~instrumentid.inference.LightClassifier`: numpy only, no torch or scikit-learn), or a fitted
        classifier (an :class:`~instrumentid.classifier.InstrumentClassifier` or anything with ``classes_``,
        ``predict_proba`` and the note and feature settings).

    Returns
    -------
    LightClassifier or the classifier given
        Checked with :func:`check_model_settings`.
    """
    if model is None:
        return _default_model()
    if isinstance(model, (str, os.PathLike)):
        clf = LightClassifier.load(model)
        check_model_settings(clf, name=f"model {str(model)!r}")
        return clf
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        check_model_settings(model)
        return model
    raise ParameterError(f"model must be None, a model folder or a fitted classifier, got {type(model).__name__}")


# ----------------------------------------------------------------------------------------------- prediction
def predict(path_or_array, *, sr: float | None = None, model=None, name: str | None = None,
            max_duration_s: float | None = MAX_DURATION_S,
            min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> RecordingPrediction:
    """Find the notes of a recording and name the instrument of each.

    Parameters
    ----------
    path_or_array : str, Path or np.ndarray [shape=(n,) or (n_channels, n)]
        An audio file (any format :func:`~instrumentid.audio.load_audio` reads) or samples.
    sr : float, optional
        Sample rate of an array in Hz (required for arrays; files carry their own).
    model : None, str, Path or InstrumentClassifier
        See :func:`load_model`; load it once and pass the classifier when predicting many files.
    name : str, optional
        What to call the recording in the result (default: the path, or ``"<array>"``).
    max_duration_s : float or None
        Longest file accepted, in seconds (see :func:`~instrumentid.audio.load_audio`).
    min_confidence : float in [0, 1]
        A note whose most probable instrument has a lower probability is reported as :data:`UNKNOWN` (its guesses
        stay in ``top``), and so is the recording when its mean probability is lower; 0 never says "unknown".
        Default :data:`DEFAULT_MIN_CONFIDENCE`.

    Returns
    -------
    RecordingPrediction
        Without notes (and with a warning) if none were found; ``.analysis`` holds the decoded recording.

    Raises
    ------
    ParameterError
        Unreadable or invalid audio, a missing ``sr`` for an array, a ``min_confidence`` outside [0, 1], or a model
        made for other settings.
    ModelFileError
        A missing or damaged model.
    """
    min_confidence = check_min_confidence(min_confidence)
    clf = load_model(model)
    # Collect the warnings of loading and note detection, and give each distinct one once.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        analysis = analyze(path_or_array, sr=sr, name=name, note_settings=clf.note_settings,
                           feature_settings=clf.feature_settings, max_duration_s=max_duration_s)
    for message in dict.fromkeys(str(w.message) for w in caught):
        warnings.warn(message, UserWarning, stacklevel=2)
    return classify(analysis, clf, min_confidence=min_confidence)


def classify(analysis: Analysis, clf, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> RecordingPrediction:
    """Name the instrument of every note of an :class:`~instrumentid.analysis.Analysis` with a fitted classifier.

    Parameters
    ----------
    analysis : Analysis
    clf : LightClassifier or InstrumentClassifier
        Fitted; its (calibrated) ``predict_proba`` gives the probabilities.
    min_confidence : float in [0, 1]
        Below it a note, or the recording, is :data:`UNKNOWN` (see :func:`predict`).

    Returns
    -------
    RecordingPrediction
        One NotePrediction per note (top :data:`TOP_K` instruments each) and the recording's instrument: the class
        with the highest mean probability over the notes, each note weighted by its length.

    Raises
    ------
    ParameterError
        A ``min_confidence`` outside [0, 1], or a model with a class named "unknown".
    """
    min_confidence = check_min_confidence(min_confidence)
    if not analysis.notes:
        return RecordingPrediction(analysis.name, analysis.duration_s, (), None, None, (),
                                   min_confidence=min_confidence, analysis=analysis)
    classes = [str(c) for c in clf.classes_]
    if UNKNOWN in classes:
        raise ParameterError(f"the model has a class named {UNKNOWN!r}, the name of a prediction below the "
                             "confidence threshold: rename that class")
    proba = clf.predict_proba(analysis.X)
    k = min(TOP_K, len(classes))

    def named(top):
        return UNKNOWN if top[0][1] < min_confidence else top[0][0]

    results = []
    for note, row in zip(analysis.notes, proba, strict=True):
        order = np.argsort(row)[::-1][:k]
        top = tuple((classes[j], float(row[j])) for j in order)
        results.append(NotePrediction(note, named(top), top[0][1], top))
    weights = np.array([n.duration_s for n in analysis.notes])
    overall = weights @ proba / weights.sum()
    ranking = tuple((classes[j], float(overall[j])) for j in np.argsort(overall)[::-1])
    return RecordingPrediction(analysis.name, analysis.duration_s, tuple(results), named(ranking), ranking[0][1],
                               ranking, min_confidence=min_confidence, analysis=analysis)


# ----------------------------------------------------------------------------------------------- many files
def find_audio_files(inputs) -> list[Path]:
    """Expand files and folders into a list of files (folders walked recursively for audio file extensions).

    Files named explicitly are kept whatever their extension (reading them tells whether they are audio).

    Raises
    ------
    ParameterError
        A path that does not exist, or a folder without audio files.
    """
    from instrumentid.audio import AUDIO_EXTENSIONS, is_audio_file

    files = []
    for path in map(Path, inputs):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_audio_file(p))
            if not found:
                raise ParameterError(f"no audio files ({' '.join(AUDIO_EXTENSIONS)}) in folder {str(path)!r}")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise ParameterError(f"no such file or folder: {str(path)!r}")
    return list(dict.fromkeys(files))


def format_predictions(recordings, *, fmt: str = "table") -> str:
    """Render several recordings' predictions as a table, JSON (a list of recordings) or CSV (a row per note)."""
    columns = [*NOTE_COLUMNS, "instrument", "guess", "confidence"]
    columns += [f"{kind}_{rank}" for rank in range(2, TOP_K + 1) for kind in ("instrument", "confidence")]
    return format_records(recordings, fmt=fmt, columns=columns)

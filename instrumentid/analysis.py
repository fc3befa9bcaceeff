"""The one path from audio to feature rows: decode -> notes -> one feature row per note.

Everything that turns audio into features goes through this module: :func:`instrumentid.prediction.predict`, the
folder data set builder, the lab's steps 1-2, ``predict --plot`` and the SoundFont data set builder. It is the only
caller of :func:`instrumentid.notes.detect_notes` and of the feature code (:mod:`instrumentid.features`); the
architecture contract in ``pyproject.toml`` and ``tests/test_analysis.py`` keep it so.

Examples
--------
>>> from instrumentid.analysis import analyze                      # doctest: +SKIP
>>> a = analyze("sax.aiff")                                         # doctest: +SKIP
>>> a.X.shape, [n.name for n in a.notes]                            # doctest: +SKIP
((4, 120), ['C6', 'C#6', 'D6', 'D#6'])
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from instrumentid import features
from instrumentid.audio import MAX_DURATION_S, load_audio, prepare
from instrumentid.errors import ParameterError
from instrumentid.notes import Note, detect_notes
from instrumentid.pretrained import check_network
from instrumentid.settings import DEFAULT_FEATURES, DEFAULT_NOTES, SR, FeatureSettings, NoteSettings

__all__ = [
    "NOTE_COLUMNS",
    "Analysis",
    "Note",
    "analyze",
    "check_embedding",
    "clip_features",
    "find_notes",
    "format_notes",
    "format_records",
    "load",
    "mel_spectrogram",
    "no_notes_message",
    "note_row",
]


@dataclass(frozen=True)
class Analysis:
    """A recording cut into notes, with one feature row per note.

    Attributes
    ----------
    name : str
        What the recording is called in messages and results (its path, or ``"<array>"``).
    y : np.ndarray [shape=(n,), dtype=float32]
        The decoded samples, mono, at ``sr``.
    sr : int
        Sample rate of ``y`` in Hz (the analysis rate :data:`~instrumentid.settings.SR`).
    notes : tuple of Note
        In time order, not overlapping; empty when none was found.
    X : np.ndarray [shape=(n_notes, n_features), dtype=float32]
        Row ``i`` holds the features of ``notes[i]``.
    note_settings : NoteSettings
    feature_settings : FeatureSettings or None
        The settings the notes and features were computed with (None when no features were computed,
        :func:`find_notes`).
    """

    name: str
    y: np.ndarray = field(repr=False)
    sr: int
    notes: tuple
    X: np.ndarray = field(repr=False)
    note_settings: NoteSettings = DEFAULT_NOTES
    feature_settings: FeatureSettings | None = DEFAULT_FEATURES

    def __post_init__(self):
        notes = tuple(self.notes)
        if not all(isinstance(n, Note) for n in notes):
            raise ParameterError("Analysis.notes must hold Note records")
        n_features = 0 if self.feature_settings is None else self.feature_settings.n_features
        if self.X.shape != (len(notes), n_features):
            raise ParameterError(f"Analysis.X must have shape ({len(notes)}, {n_features}), got {self.X.shape}")
        object.__setattr__(self, "notes", notes)

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.y.shape[-1] / self.sr

    def to_dict(self) -> dict:
        """JSON-ready dict: source, duration_s and the notes (start_s, end_s, f0_hz, midi, name)."""
        return {"source": self.name, "duration_s": self.duration_s, "notes": [n.to_dict() for n in self.notes]}

    def to_rows(self) -> list[dict]:
        """One flat dict per note (for CSV), see :func:`note_row`."""
        return [note_row(self.name, i, n) for i, n in enumerate(self.notes, start=1)]

    def to_table(self) -> str:
        """Human-readable table: a summary line, then one line per note."""
        if not self.notes:
            return f"{self.name}: no notes found ({self.duration_s:.1f} s)"
        total_s = sum(n.duration_s for n in self.notes)
        lines = [f"{self.name}: {len(self.notes)} notes, {total_s:.1f} s of {self.duration_s:.1f} s",
                 f"{'#':>3}  {'start_s':>7}  {'end_s':>7}  {'note':<4}  {'f0_hz':>7}"]
        lines += [f"{i:>3}  {n.start_s:7.3f}  {n.end_s:7.3f}  {n.name:<4}  {n.f0_hz:7.1f}"
                  for i, n in enumerate(self.notes, start=1)]
        return "\n".join(lines)

    def mel_spectrogram(self) -> features.MelSpectrogram:
        """The lab's mel spectrogram of the recording (see :func:`instrumentid.features.mel_spectrogram`)."""
        return features.mel_spectrogram(self.y, sr=self.sr)


def load(source, *, sr: float | None = None, name: str | None = None,
         max_duration_s: float | None = MAX_DURATION_S) -> tuple[np.ndarray, str]:
    """Decode a file, or validate an array, into mono float32 samples at the analysis rate.

    Parameters
    ----------
    source : str, os.PathLike or np.ndarray [shape=(n,) or (n_channels, n)]
        An audio file (any format :func:`~instrumentid.audio.load_audio` reads) or samples.
    sr : float, optional
        Sample rate of an array in Hz (required for arrays; files carry their own).
    name : str, optional
        What to call the recording (default: the path, or ``"<array>"``).
    max_duration_s : float or None
        Longest file accepted, in seconds (see :func:`~instrumentid.audio.load_audio`).

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        At :data:`~instrumentid.settings.SR`.
    name : str

    Raises
    ------
    ParameterError
        Unreadable or invalid audio, ``sr`` given for a file, or missing for an array.
    """
    if isinstance(source, (str, os.PathLike)):
        if sr is not None:
            raise ParameterError(f"sr applies to arrays only; a file is read at its own rate (got sr={sr!r})")
        y, _ = load_audio(source, sr=SR, max_duration_s=max_duration_s)
        return y, str(source) if name is None else name
    if sr is None:
        raise ParameterError("an array needs sr=, its sample rate in Hz")
    name = "<array>" if name is None else name
    return prepare(source, sr=sr, name=name), name


def analyze(source, *, sr: float | None = None, note_settings: NoteSettings | None = None,
            feature_settings: FeatureSettings | None = None, name: str | None = None,
            max_duration_s: float | None = MAX_DURATION_S) -> Analysis:
    """Decode a recording, find its notes and compute one feature row per note.

    Parameters
    ----------
    source : str, os.PathLike or np.ndarray [shape=(n,) or (n_channels, n)]
        An audio file or samples (see :func:`load`).
    sr : float, optional
        Sample rate of an array in Hz.
    note_settings : NoteSettings, optional
        How notes are found (default :data:`~instrumentid.settings.DEFAULT_NOTES`).
    feature_settings : FeatureSettings, optional
        How features are computed (default :data:`~instrumentid.settings.DEFAULT_FEATURES`).
    name : str, optional
        What to call the recording.
    max_duration_s : float or None
        Longest file accepted, in seconds (see :func:`~instrumentid.audio.load_audio`).

    Returns
    -------
    Analysis
        Without notes (and with a warning from note detection) when none was found.

    Raises
    ------
    ParameterError
        Unreadable or invalid audio, or bad settings.
    """
    feature_settings = DEFAULT_FEATURES if feature_settings is None else _check(feature_settings, FeatureSettings)
    found = find_notes(source, sr=sr, note_settings=note_settings, name=name, max_duration_s=max_duration_s)
    X = features.segment_features(found.y, found.notes, sr=SR, settings=feature_settings)
    return dataclasses.replace(found, X=X, feature_settings=feature_settings)


def no_notes_message(name: str, messages) -> str:
    """The error of a recording without notes: ``no notes found in 'name'``, with the reasons among ``messages``.

    Parameters
    ----------
    name : str
        The recording as the user knows it (a path or a file name).
    messages : iterable of str
        The warnings its analysis gave, without their ``"<name>: "`` prefix; detection's own "no notes found" is
        left out, the rest (silent, clipped, too short...) are the reasons.
    """
    reasons = [m for m in messages if not m.startswith("no notes found")]
    return f"no notes found in {name!r}" + (f" ({'; '.join(reasons)})" if reasons else "")


def find_notes(source, *, sr: float | None = None, note_settings: NoteSettings | None = None,
               name: str | None = None, max_duration_s: float | None = MAX_DURATION_S) -> Analysis:
    """Decode a recording and find its notes, without computing features (to check the segmentation).

    Parameters are those of :func:`analyze` without ``feature_settings``.

    Returns
    -------
    Analysis
        With ``X`` of shape (n_notes, 0).
    """
    note_settings = DEFAULT_NOTES if note_settings is None else _check(note_settings, NoteSettings)
    y, name = load(source, sr=sr, name=name, max_duration_s=max_duration_s)
    short = Path(name).name if isinstance(source, (str, os.PathLike)) else name
    notes = tuple(detect_notes(y, sr=SR, settings=note_settings, name=short))
    return Analysis(name, y, SR, notes, np.zeros((len(notes), 0), np.float32), note_settings, None)


def clip_features(clips, *, sr: int = SR, settings: FeatureSettings | None = None) -> np.ndarray:
    """Feature rows of clips that each hold exactly one note (rendered notes of the SoundFont data set).

    Parameters
    ----------
    clips : sequence of np.ndarray [shape=(n_i,)]
        One array of samples per note, at ``sr``.
    sr : int
        Sample rate in Hz (the analysis rate).
    settings : FeatureSettings, optional

    Returns
    -------
    np.ndarray [shape=(n_clips, n_features), dtype=float32]
    """
    settings = DEFAULT_FEATURES if settings is None else _check(settings, FeatureSettings)
    return features.notes_features(clips, sr=sr, settings=settings)


def check_embedding(settings: FeatureSettings) -> None:
    """Load the network of ``settings.embedding`` now (if it has one), before any audio is analysed.

    A missing or damaged network is then one error at the start of a predict or a data set build, not one per
    recording after they are decoded. The session is the one the features then run (loaded once per process).

    Raises
    ------
    ModelFileError
        The network's file is missing, damaged or another network.
    """
    settings = _check(settings, FeatureSettings)
    if settings.embedding is not None:
        check_network(settings.embedding)


def mel_spectrogram(source, *, sr: float | None = None) -> features.MelSpectrogram:
    """The lab's step 1 for a file or an array: decode once, then the mel spectrogram in dB."""
    y, _ = load(source, sr=sr)
    return features.mel_spectrogram(y, sr=SR)


def _check(value, kind):
    if not isinstance(value, kind):
        raise ParameterError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def note_row(source: str, index: int, note: Note) -> dict:
    """One note as a flat CSV row: source, index (from 1), the note's fields with times and f0 rounded."""
    row = {"source": source, "index": index, **note.to_dict()}
    row.update(start_s=round(note.start_s, 4), end_s=round(note.end_s, 4), f0_hz=round(note.f0_hz, 2),
               release_s=round(note.release_s, 4))
    return row


#: The CSV columns of :func:`note_row`.
NOTE_COLUMNS = ("source", "index", *Note.__dataclass_fields__)


def format_records(records, *, fmt: str, columns) -> str:
    """Render records (with ``to_table()``, ``to_dict()`` and ``to_rows()``) as a table, JSON or CSV.

    Parameters
    ----------
    records : iterable
        E.g. :class:`Analysis` or :class:`~instrumentid.prediction.RecordingPrediction` objects.
    fmt : {"table", "json", "csv"}
        Tables one after the other; a JSON list of the records; one CSV row per note.
    columns : sequence of str
        The CSV header.

    Returns
    -------
    str
        Ending with a newline.
    """
    records = list(records)
    if fmt == "table":
        return "\n\n".join(r.to_table() for r in records) + "\n"
    if fmt == "json":
        import json

        return json.dumps([r.to_dict() for r in records], indent=2) + "\n"
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(row for r in records for row in r.to_rows())
        return buffer.getvalue()
    raise ParameterError(f"format must be 'table', 'json' or 'csv', got {fmt!r}")


def format_notes(analyses, *, fmt: str = "table") -> str:
    """Render the notes of several recordings (:class:`Analysis`) as a table, JSON or CSV (:func:`format_records`)."""
    return format_records(analyses, fmt=fmt, columns=NOTE_COLUMNS)

"""Split a monophonic recording into notes.

A note starts at an attack (a spectral-flux onset backtracked to the minimum before it and confirmed by a rise in
level, or the level rising out of the noise floor) and ends where the next note starts, where the level falls back to
the noise floor, or where it has decayed far under its loudest point. A pitch change without a new attack (legato, a
slur, a glide) also starts a new note: pitch comes from YIN, median-filtered over about one vibrato period so that
vibrato never splits a note, and each pitch change is moved back to where the new note's harmonics rose, or to a
spectral-flux onset near it (a new note tongued or bowed over the old one's release or reverberation); an upper
partial taking over the pitch track of a decaying note is not a pitch change, and a note whose odd harmonics are
missing is moved up the octave (or twelfth, or two octaves) YIN dropped.

Memory stays bounded on long recordings: every frame-wise analysis runs a block of frames at a time (level, pitch
and periodicity :data:`FRAME_BLOCK_FRAMES`, the spectrum :data:`BLOCK_FRAMES`; the blocks on all cores), the spectrum
is never kept whole (the pass over it keeps the onset function's mel bands and 8 harmonic magnitudes per frame), and
the few steps that look at the spectrum around one attack compute those frames again from the samples, with the same
framing, so every value equals the whole-signal STFT's.

All analysis runs at :data:`instrumentid.settings.SR`; every setting (hop, frame lengths, thresholds) is a field of
:class:`~instrumentid.settings.NoteSettings`. Call it through :func:`instrumentid.analysis.analyze`, the one path
from audio to features.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from instrumentid import dsp
from instrumentid.audio import prepare
from instrumentid.errors import ParameterError
from instrumentid.settings import DEFAULT_NOTES, SR, NoteSettings
from instrumentid.util import one_blas_thread, steady_heap, thread_map

__all__ = ["Note", "detect_notes", "midi_to_name"]

#: Frames of the spectral pass analysed at a time (an STFT block of 2048-point frames is 1025 x 256 float32: 1 MB).
#: Small enough that a 16 s recording (1379 frames) makes blocks for both cores (at 4096 frames it was one block on
#: one core); any size gives the same values (tests/test_notes_memory.py).
BLOCK_FRAMES = 256
#: Frames of the frame-wise analyses (level, YIN, periodicity) computed at a time: YIN's buffers for 64 frames (its
#: FFTs of 2048-point frames padded to 4096) are about 2.5 MB and stay in the processor's cache; at 4096 frames they
#: were 100 MB and YIN took 2.5x the CPU time (1.48 against 0.58 s for 2 minutes). Any size gives the same values
#: (each frame is computed on its own).
FRAME_BLOCK_FRAMES = 64
#: Fewest frames in a block of the spectral pass: a shorter last block joins the one before it (so every block, like
#: the whole signal, is a matrix and not a single column).
_MIN_BLOCK_FRAMES = 64
#: Harmonics whose magnitudes the spectral pass keeps per frame (for :func:`_octave_up`).
_N_HARMONICS = 8
#: Sub-harmonic errors of YIN that :func:`_octave_up` corrects: it found the pitch 4, 3 or 2 times under the note's
#: (two octaves, a twelfth, an octave), tried in that order (a note 4 times higher also passes the test for 2).
_FACTORS = (4, 3, 2)
#: A semitone down, as a frequency ratio.
_SEMITONE_DOWN = 2.0 ** (-1 / 12)
#: Half a semitone down, as a frequency ratio.
_QUARTER_TONE_DOWN = 2.0 ** (-1 / 24)


def midi_to_name(midi: int) -> str:
    """Note name with sharps and octave, e.g. 61 -> ``"C#4"``."""
    return dsp.midi_to_note(midi)


def _hz_to_midi(f0_hz: float) -> float:
    return 69.0 + 12.0 * math.log2(f0_hz / 440.0)


@dataclass(frozen=True)
class Note:
    """One note of a recording.

    Attributes
    ----------
    start_s, end_s : float
        Start and end in seconds from the beginning of the recording (``0 <= start_s < end_s``): the onset, and the
        offset where the note's release begins (a key-up, a damper, the bow leaving the string), or the next note's
        onset.
    f0_hz : float
        Fundamental frequency in Hz (median over the note).
    midi : int
        Nearest MIDI key to ``f0_hz`` (0-127; 60 is middle C).
    release_s : float
        How long the note's release still sounds after ``end_s``, in seconds (>= 0). The sound of a note, which its
        features describe, lasts from ``start_s`` to ``end_s + release_s``: the notes of the training data keep
        their release too, and it helps tell the instruments apart.
    name : str
        Note name with octave, sharps for black keys (``"C#6"``); derived from ``midi``.
    """

    start_s: float
    end_s: float
    f0_hz: float
    midi: int
    release_s: float = 0.0
    name: str = field(init=False)

    def __post_init__(self):
        for attr in ("start_s", "end_s", "f0_hz", "release_s"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ParameterError(f"Note.{attr} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ParameterError(f"Note.{attr} must be finite, got {value!r}")
            object.__setattr__(self, attr, float(value))
        if not 0 <= self.start_s < self.end_s:
            raise ParameterError(
                f"Note times must satisfy 0 <= start_s < end_s, got start_s={self.start_s!r}, end_s={self.end_s!r}"
            )
        if self.f0_hz <= 0:
            raise ParameterError(f"Note.f0_hz must be a positive frequency in Hz, got {self.f0_hz!r}")
        if self.release_s < 0:
            raise ParameterError(f"Note.release_s must be a length in seconds >= 0, got {self.release_s!r}")
        if isinstance(self.midi, bool) or not isinstance(self.midi, (int, np.integer)) or not 0 <= self.midi <= 127:
            raise ParameterError(f"Note.midi must be an integer MIDI key in [0, 127], got {self.midi!r}")
        object.__setattr__(self, "midi", int(self.midi))
        nearest = round(_hz_to_midi(self.f0_hz))
        if nearest != self.midi:
            raise ParameterError(
                f"Note.midi must be the nearest key to f0_hz={self.f0_hz:.2f} Hz ({nearest}), got {self.midi}"
            )
        object.__setattr__(self, "name", midi_to_name(self.midi))

    @property
    def duration_s(self) -> float:
        """Length in seconds, onset to offset."""
        return self.end_s - self.start_s

    @property
    def sound_end_s(self) -> float:
        """Where the note's sound ends: its offset plus its release, in seconds."""
        return self.end_s + self.release_s

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready): start_s, end_s, f0_hz, midi, release_s, name."""
        return asdict(self)


def detect_notes(y: np.ndarray, *, sr: float, settings: NoteSettings = DEFAULT_NOTES,
                 name: str = "audio") -> list[Note]:
    """Find the notes of a monophonic recording.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n_channels, n)]
        Audio; stereo is mixed down, any rate is resampled to :data:`~instrumentid.settings.SR`.
    sr : float
        Sample rate of ``y`` in Hz.
    settings : NoteSettings
        Every option of the detection (see :class:`~instrumentid.settings.NoteSettings`): pitch range, shortest
        note, level thresholds (``top_db``, ``floor_db``), how periodic a note must be (``max_aperiodicity``), the
        level rise that confirms an attack (``rise_db``), the vibrato filter (``vibrato_s``), the pitch move
        that starts a new note (``split_semitones``), the decay after which an upper partial does not
        (``partial_decay_db``), how weak a note's odd harmonics must be for it to sound an octave higher than YIN
        found (``subharmonic_db``), how far a flux onset can move a pitch change (``snap_before_s``,
        ``snap_after_s``), when a sampled note's loop point is no attack (``loop_corr``) and when a decaying note
        still sounds whatever its pitch track reads (``decayed_db``, ``wobble_db``).
    name : str
        What to call the recording in messages (e.g. its file name).

    Returns
    -------
    notes : list of Note
        In time order, not overlapping. Empty (with a warning) if no note was found.

    Raises
    ------
    ParameterError
        Unusable audio (see :func:`instrumentid.audio.valid_audio`) or settings that are not NoteSettings.
    """
    if not isinstance(settings, NoteSettings):
        raise ParameterError(f"settings must be NoteSettings, got {type(settings).__name__}")
    s = settings
    y = prepare(y, sr=sr, name=name)
    steady_heap()  # the blocks' freed buffers reused, not faulted in again
    frame_length, hop_length = s.frame_length, s.hop_length
    fmin, fmax, min_duration_s = s.fmin, s.fmax, s.min_duration_s
    if y.size < frame_length:
        y = np.pad(y, (0, frame_length - y.size))
    frame_s = hop_length / SR
    min_frames = max(1, round(min_duration_s / frame_s))

    # Level (dB), relative to the recording's loudest frame and to an absolute floor (never to a percentile of the
    # recording's own level: notes that fill the file have no quiet part to measure a floor on).
    rms = _in_blocks(lambda part, _: dsp.rms(part, s.level_frame_length, hop_length), y, s.level_frame_length,
                     hop_length)
    level_db = dsp.amplitude_to_db(rms)
    threshold_db = max(float(level_db.max()) - s.top_db, s.floor_db)
    n_frames = level_db.size
    # Pitch track (MIDI, fractional) and how periodic each frame is at that pitch: a note sounds where the level is
    # over the threshold and the sound is pitched, so background noise and a tail sunk into it are not notes.
    f0 = _in_blocks(lambda part, _: dsp.yin(dsp.frame(part, frame_length, hop_length).T, sr=SR, fmin=fmin, fmax=fmax),
                    y, frame_length, hop_length)
    f0 = f0[:n_frames]
    aperiodicity = _aperiodicity(y, f0, frame_length=frame_length, hop_length=hop_length)
    active = _clean_mask((level_db > threshold_db) & (aperiodicity < s.max_aperiodicity), gap=3, island=3)
    midi_track = dsp.hz_to_midi(f0)

    spectrum = _Spectrum(y, n_fft=frame_length, hop_length=hop_length, n_frames=n_frames)
    envelope, harmonics = _spectral_pass(spectrum, f0)
    starts, onsets = _attacks(envelope, spectrum, level_db, active, f0, y, threshold_db=threshold_db,
                              min_frames=min_frames, settings=s)
    filter_frames = max(1, round(s.vibrato_s / frame_s)) | 1

    notes: list[Note] = []
    held = midi_track.copy()  # per note: pitch only where it sounds, held over the frames where it does not
    for start, stop in itertools.pairwise([*starts, n_frames]):
        sounding = np.flatnonzero(active[start:stop])
        if sounding.size == 0:
            continue  # a silent segment
        # The note lasts from the attack to its last sounding frame before the next attack: a decay that dips under
        # the threshold for a moment, or a tail that sinks into noise, ends it without splitting it.
        sound_end = end = start + int(sounding[-1]) + 1
        # ... and at the start of its release: where the level falls fast and for good (a key-up, a damper, a bow
        # leaving the string), not where the release has died away; a natural slow fade keeps its whole length.
        end = _release_start(level_db, start + int(sounding[0]), end, fall_db=s.release_db,
                             window=max(1, round(s.release_s / frame_s)), longest=round(s.longest_release_s / frame_s),
                             shortest=min_frames, ringing=round(s.ringing_release_s / frame_s),
                             decay_db=s.ringing_decay_db)
        if end - start < min_frames:  # a fall this early is the attack's fast decay (a piano), not a release
            end = sound_end
        if notes and _rings_on(notes[-1], level_db, spectrum, start, end, frame_s=frame_s, settings=s):
            last = notes[-1]  # still the previous note, deep in its decay: it lasts to this segment's end
            notes[-1] = Note(last.start_s, end * frame_s, last.f0_hz, last.midi, (sound_end - end) * frame_s)
            continue
        held[start:end] = _hold(np.where(active[start:end], midi_track[start:end], np.nan))
        runs = _split_by_pitch(spectrum, held, start, end, filter_frames=filter_frames,
                               threshold=s.split_semitones, min_frames=min_frames, settings=s)
        runs = _merge_partials(runs, level_db, start, decay_db=s.partial_decay_db, any_db=s.decayed_db,
                               spectrum=spectrum, f0=f0, wobble_db=s.wobble_db)
        runs = _merge_drift(runs, held, within=s.drift_semitones)
        runs = _merge_octave_partials(runs, spectrum, f0, active, midi_track, odd_db=s.octave_partial_db)
        if (len(runs) > 1 and notes and round(notes[-1].end_s / frame_s) == start and runs[0][2] == notes[-1].midi
                and (runs[0][1] - runs[0][0] < 2 * min_frames
                     or (runs[0][1] - runs[0][0] < round(s.longest_release_s / frame_s)
                         and _rises_at(spectrum, runs[1][2], start, runs[1][0], within=min_frames,
                                       drop_db=12.0, n_fft=frame_length)))):
            # an attack over the previous note's release (or its reverberation), whose pitch the track still
            # follows: the attack starts the next pitch, if that one is short or its harmonics rose at the attack
            runs = [(runs[0][0], runs[1][1], runs[1][2]), *runs[2:]]
        runs = _octave_up(runs, harmonics, f0, active, midi_track, odd_db=s.subharmonic_db)
        ringing = (notes[-1].f0_hz if notes and start - round(notes[-1].end_s / frame_s) <= round(s.ringing_s / frame_s)
                   else None)
        runs = _shared_subharmonic(runs, spectrum, f0, active, midi_track, ringing, other_db=s.shared_subharmonic_db,
                                   fmax=fmax)
        runs = _octave_down(runs, spectrum, f0, active, midi_track, weakest_db=s.weak_fundamental_db,
                            strongest_db=s.weak_fundamental_min_db, fmin=s.weak_fundamental_fmin)
        runs = _snap_to_onsets(runs, onsets, before=round(s.snap_before_s / frame_s),
                               after=round(s.snap_after_s / frame_s), shortest=min_frames)
        if len(runs) > 1 and (runs[0][1] - runs[0][0] < min_frames or (
                runs[0][1] - runs[0][0] < 2 * min_frames and abs(runs[0][2] - runs[1][2]) == 1)):
            # the attack's first pitch run, too short to be a note, or a short scoop a semitone off: the attack
            # starts the next run's note (it was left out, and the note started late)
            runs = [(runs[0][0], runs[1][1], runs[1][2]), *runs[2:]]
        for lo, hi, key in runs:
            release_s = (sound_end - hi) * frame_s if hi == end else 0.0
            if hi - lo < min_frames:
                continue
            raw = midi_track[lo:hi][active[lo:hi]]
            raw = raw[np.abs(raw - key) <= 1.0]  # leave out octave errors and the glide into the note
            if raw.size == 0:
                continue
            f0_hz = float(dsp.midi_to_hz(np.median(raw)))
            # within a semitone of the range: YIN's shortest period is a whole number of samples (at C8, 5: 4410 Hz,
            # a semitone over C8), and a piano's top notes are tuned sharp
            if not fmin * _SEMITONE_DOWN <= f0_hz <= fmax / _SEMITONE_DOWN:
                continue
            previous = notes[-1] if notes else None
            if lo == start and previous is not None and round(previous.end_s / frame_s) == start:
                # an attack over the previous note's sound: flux peaks only once the new note dominates, so the
                # onset moves back to where its harmonics rose (as at a slur), and the previous note ends there
                lo = _harmonic_rise(spectrum, key, start, drop_db=12.0, n_fft=frame_length,
                                    earliest=max(round(previous.start_s / frame_s) + min_frames // 2,
                                                 start - round(0.15 * SR / hop_length)))
                notes[-1] = Note(previous.start_s, lo * frame_s, previous.f0_hz, previous.midi)
            notes.append(Note(lo * frame_s, hi * frame_s, f0_hz, round(_hz_to_midi(f0_hz)), release_s))
    if not notes:
        warnings.warn(f"{name}: no notes found (silent, too short or too quiet)", UserWarning, stacklevel=2)
    return notes


def _frame_blocks(y: np.ndarray, frame_length: int, hop_length: int):
    """The centred frames of ``y``, :data:`FRAME_BLOCK_FRAMES` at a time: ``(part, frames)`` pairs.

    ``frames`` is a slice of frame indices and ``part`` the samples they span, to be framed without centring
    (``center=False``): ``y`` is taken as padded with ``frame_length // 2`` zeros at each end, as librosa's
    ``center=True`` does, so the frames are those of one call on the whole signal; the padding is added to the
    first and last parts only, never to a copy of the whole signal.
    """
    half = frame_length // 2
    n_frames = 1 + (y.size + 2 * half - frame_length) // hop_length
    for b0 in range(0, n_frames, FRAME_BLOCK_FRAMES):
        b1 = min(n_frames, b0 + FRAME_BLOCK_FRAMES)
        yield _frame_span(y, b0, b1, frame_length=frame_length, hop_length=hop_length), slice(b0, b1)


def _frame_span(y: np.ndarray, lo: int, hi: int, *, frame_length: int, hop_length: int) -> np.ndarray:
    """The samples of the centred frames ``[lo, hi)`` of ``y`` (zero padding past its ends, as ``center=True``)."""
    half = frame_length // 2
    a, b = lo * hop_length - half, (hi - 1) * hop_length + frame_length - half
    part = y[max(a, 0): min(b, y.size)]
    if a < 0 or b > y.size:
        part = np.pad(part, (max(-a, 0), max(b - max(a, y.size), 0)))
    return part


def _in_blocks(fn, y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """``fn`` over centred frames of ``y``, computed a block of frames at a time and joined along the last axis.

    ``fn(part, frames)`` gets the samples of the frames ``frames`` (a slice of frame indices) and must frame
    ``part`` without centring (``center=False``); see :func:`_frame_blocks`. The frames, and so the result, are those
    of one call on the whole signal, while the intermediate arrays (librosa's frame matrices) stay the size of one
    block. Meant for results of a few values per frame. The blocks run on several threads
    (:func:`~instrumentid.util.thread_map`).
    """
    return np.concatenate(list(thread_map(fn, _frame_blocks(y, frame_length, hop_length))), axis=-1)


class _Spectrum:
    """The STFT magnitude of a recording, computed for the frames asked for and never kept whole.

    Frames are librosa's centred frames of ``n_fft`` samples every ``hop_length`` (``center=True``, zero padding);
    each is computed as ``np.abs(librosa.stft(..., center=False))`` of the samples it spans, so every column equals
    the whole-signal STFT's.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        The recording at :data:`~instrumentid.settings.SR` (kept by reference, not copied).
    n_fft, hop_length : int
        Frame length and hop, in samples.
    n_frames : int
        Frames in the recording (those of ``y``'s frame-wise level).
    """

    def __init__(self, y: np.ndarray, *, n_fft: int, hop_length: int, n_frames: int):
        self.y, self.n_fft, self.hop_length, self.n_frames = y, n_fft, hop_length, n_frames
        self.n_bins = 1 + n_fft // 2

    def frames(self, lo: int, hi: int, *, least: int = 16) -> tuple[np.ndarray, int]:
        """The magnitude of frames ``[lo, hi)`` (clipped to the recording), widened to ``least`` frames if it has them.

        Returns
        -------
        magnitude : np.ndarray [shape=(1 + n_fft // 2, m)], float32
            Columns ``first .. first + m - 1`` of the whole-signal magnitude.
        first : int
            The frame of the first column.
        """
        a, b = max(lo, 0), min(hi, self.n_frames)
        if b - a < least:
            b = min(self.n_frames, max(a, 0) + least)
            a = max(0, b - least)
        part = _frame_span(self.y, a, b, frame_length=self.n_fft, hop_length=self.hop_length)
        return dsp.stft_magnitude(part, self.n_fft, self.hop_length), a


def _block_bounds(n_frames: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` blocks of :data:`BLOCK_FRAMES` frames covering ``n_frames`` frames.

    None is shorter than :data:`_MIN_BLOCK_FRAMES` unless the whole recording is.
    """
    bounds = list(range(0, n_frames, BLOCK_FRAMES)) + [n_frames]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < _MIN_BLOCK_FRAMES:
        del bounds[-2]
    return list(itertools.pairwise(bounds))


def _spectral_pass(spectrum: _Spectrum, f0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What note detection needs of the whole spectrum, in one pass over it a block at a time.

    The onset function of :func:`_attacks`: SuperFlux-style (``lag=2``, ``max_size=3``) over the mel spectrogram
    in dB, floored 80 dB under its loudest value (``librosa.power_to_db``'s ``top_db``), i.e.
    ``onset_strength(S=power_to_db(melspectrogram(S=magnitude**2)))`` of the whole magnitude: the first pass keeps
    the mel bands in dB (128 values per frame) and their maximum, the second floors them and runs ``onset_strength``
    on each block with the frames before it that its lag and centring reach back to. And for :func:`_octave_up`, the
    magnitude near each of the first :data:`_N_HARMONICS` harmonics of YIN's ``f0``: the largest of the three bins
    nearest to ``h * f0`` in each frame.

    Parameters
    ----------
    spectrum : _Spectrum
        The recording's STFT magnitude.
    f0 : np.ndarray [shape=(n_frames,)]
        YIN's fundamental per frame, in Hz.

    Returns
    -------
    envelope : np.ndarray [shape=(n_frames,)], float32
        The onset function.
    harmonics : np.ndarray [shape=(8, n_frames)], float32
        Row ``h - 1``: the magnitude near harmonic ``h``.
    """
    n_frames, n_bins = spectrum.n_frames, spectrum.n_bins
    bin_hz = SR / spectrum.n_fft

    def first_pass(lo, hi):
        magnitude, _ = spectrum.frames(lo, hi)
        block_db = dsp.power_to_db(dsp.melspectrogram(magnitude**2, SR))
        near_max = np.empty((_N_HARMONICS, hi - lo), np.float32)
        for h in range(1, _N_HARMONICS + 1):
            bins = np.rint(h * f0[lo:hi] / bin_hz).astype(int)
            near = magnitude[np.clip(bins[None, :] + np.arange(-1, 2)[:, None], 0, n_bins - 1),
                             np.arange(hi - lo)[None, :]]
            near_max[h - 1] = near.max(axis=0)
        return block_db, near_max

    harmonics = np.empty((_N_HARMONICS, n_frames), np.float32)
    mel_db: np.ndarray | None = None
    top = None
    bounds = _block_bounds(n_frames)
    # The mel products on one BLAS thread each, as in a data set builder's worker (so a recording gives the same
    # onset function, and notes, in predict and in a build): the blocks already keep the cores busy, and a second BLAS
    # thread per product had to wait for a core: the pass took 10x the wall time on a busy machine (26 against 262 ms
    # for 16 s at load 7)
    with one_blas_thread():
        for (lo, hi), (block_db, near_max) in zip(bounds, thread_map(first_pass, bounds), strict=True):
            if mel_db is None:
                mel_db = np.empty((block_db.shape[0], n_frames), block_db.dtype)
            mel_db[:, lo:hi] = block_db
            top = block_db.max() if top is None else max(top, block_db.max())
            harmonics[:, lo:hi] = near_max
    assert mel_db is not None and top is not None
    floor = top - 80.0  # power_to_db's top_db
    # onset_strength's envelope at frame t reads the frames back to t - lag - n_fft // (2 * hop_length) (centring,
    # with its default n_fft of 2048): each block is computed with that many frames before it
    reach = 2 + 2048 // (2 * spectrum.hop_length)

    def second_pass(lo, hi):
        first = max(lo - reach, 0)
        part = dsp.onset_strength(np.maximum(mel_db[:, first:hi], floor), hop_length=spectrum.hop_length, lag=2,
                                  max_size=3)
        return part[lo - first:]

    envelope: np.ndarray | None = None
    for (lo, hi), part in zip(bounds, thread_map(second_pass, bounds), strict=True):
        if envelope is None:
            envelope = np.empty(n_frames, part.dtype)
        envelope[lo:hi] = part
    assert envelope is not None
    return envelope, harmonics


def _aperiodicity(y: np.ndarray, f0: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """How far each frame is from periodic at its YIN period: ~0 for a pitched sound, ~1 for noise.

    The normalized squared difference between the first half of each frame and the same samples one period later
    (YIN's difference function at the period it chose, divided by the two halves' energies), for the nearer of the
    two whole-sample periods around ``SR / f0``. Frames are placed as ``librosa.yin`` places them (centred).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        The recording at :data:`~instrumentid.settings.SR`.
    f0 : np.ndarray [shape=(n_frames,)]
        YIN's fundamental per frame, in Hz.
    frame_length, hop_length : int
        YIN's frame and hop, in samples.

    Returns
    -------
    np.ndarray [shape=(n_frames,)]
        In [0, 2].
    """
    half = frame_length // 2
    period = SR / f0

    def block(part, frames_at):
        p = period[frames_at]
        frames = dsp.frame(part, frame_length, hop_length)[:, : p.size]
        head = frames[:half]
        energy = np.einsum("ij,ij->j", head, head)
        best = np.full(p.size, np.inf)
        # the samples one lag after each frame's head: rows of the windows of ``part`` (copies of contiguous runs,
        # 2x faster than a gather of every sample), laid out (sample, frame) as the sums below have always had them
        windows = np.lib.stride_tricks.sliding_window_view(part, half)
        starts = hop_length * np.arange(p.size)
        for tau in (np.floor(p), np.ceil(p)):
            lag = np.clip(tau.astype(int), 1, frame_length - half)
            later = np.ascontiguousarray(windows[starts + lag].T)
            diff = head - later
            ratio = np.einsum("ij,ij->j", diff, diff) / (energy + np.einsum("ij,ij->j", later, later) + 1e-12)
            best = np.minimum(best, ratio)
        return best

    return _in_blocks(block, y, frame_length, hop_length)[: f0.size]


def _release_start(level_db: np.ndarray, lo: int, hi: int, *, fall_db: float, window: int, longest: int,
                   shortest: int, ringing: int = 0, decay_db: float = 0.0) -> int:
    """The frame where a note's final release begins, or ``hi`` when it has none (a slow fade, a cut-off file).

    The release is the first fall, after the note's loudest frame, of ``fall_db`` dB within ``window`` frames that
    the note never recovers from (its level stays ``fall_db / 2`` dB under the level before the fall); it begins at
    the last frame before that fall still within 3 dB of that level. The note must end within ``longest`` frames
    after the fall (a piano's fast early decay is followed by seconds of sound: it is not a release), or within
    ``ringing`` frames if its level keeps sinking all the way (a room's reverberation after the key-up: from the fall
    on, the lowest level so far drops ``decay_db`` dB within every ``window`` frames; a new, quieter note or the
    level an attack's fast decay settles at holds).

    Parameters
    ----------
    level_db : np.ndarray [shape=(n_frames,)]
        Frame levels in dB.
    lo, hi : int
        The note's frames ``[lo, hi)``.
    fall_db : float
        How far the level must fall, in dB.
    window : int
        Within how many frames.
    longest : int
        The longest release, in frames.
    shortest : int
        The shortest note, in frames: no release starts earlier.
    ringing : int
        The longest release that keeps sinking, in frames (0: none longer than ``longest``).
    decay_db : float
        How far such a release sinks within every ``window`` frames, in dB.

    Returns
    -------
    int
        A frame in ``(lo, hi]``.
    """
    import scipy.ndimage

    seg = level_db[lo:hi]
    if seg.size < 3:
        return hi
    peak = int(np.argmax(seg))
    # level over the ``window`` frames before each frame, and the highest level from each frame to the note's end
    before = scipy.ndimage.maximum_filter1d(seg, size=window, origin=(window - 1) // 2, mode="nearest")
    before = np.concatenate([[seg[0]], before[:-1]])
    after = np.maximum.accumulate(seg[::-1])[::-1]
    falls = np.flatnonzero((seg < before - fall_db) & (after < before - fall_db / 2))

    def sinks(t: int) -> bool:  # from t on, the lowest level so far drops decay_db within every window of frames
        low = np.minimum.accumulate(seg[t:])
        return bool(np.all(low[window:] <= low[:-window] - decay_db))

    # a release dies away (an early decay goes on), and comes after the shortest note
    falls = falls[falls > max(peak, shortest)]
    falls = falls[(seg.size - falls <= longest)
                  | ((seg.size - falls <= ringing) & np.array([sinks(int(t)) for t in falls], dtype=bool))]
    if falls.size == 0:
        return hi
    t = int(falls[0])
    held = np.flatnonzero(seg[max(peak, t - window): t] >= before[t] - 3.0)
    return lo + max(peak, t - window) + (int(held[-1]) + 1 if held.size else 0)


def _clean_mask(mask: np.ndarray, *, gap: int, island: int) -> np.ndarray:
    """Fill runs of False shorter than ``gap`` frames between True frames, then drop shorter True runs than ``island``.

    Returns a new boolean array of the same shape.
    """
    out = mask.copy()
    for lo, hi in _runs(~out):
        if hi - lo < gap and lo > 0 and hi < out.size:
            out[lo:hi] = True
    for lo, hi in _runs(out):
        if hi - lo < island:
            out[lo:hi] = False
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The ``[lo, hi)`` frame ranges where ``mask`` is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _hold(track: np.ndarray) -> np.ndarray:
    """Replace NaN frames by the last pitch before them (the first pitch for leading NaNs); all-NaN stays NaN."""
    valid = ~np.isnan(track)
    if not valid.any():
        return track
    index = np.where(valid, np.arange(track.size), 0)
    np.maximum.accumulate(index, out=index)
    out = track[index]
    first = int(np.argmax(valid))
    out[:first] = track[first]
    return out


def _attacks(envelope: np.ndarray, spectrum: _Spectrum, level_db, active, f0, y, *, threshold_db: float,
             min_frames: int, settings: NoteSettings) -> tuple[list[int], tuple[np.ndarray, np.ndarray]]:
    """Frames where notes start: spectral-flux onsets that are attacks, and sounding stretches that rise.

    Returns the attacks (frames, in time order) and the peak of every spectral-flux onset at least ``weak_flux``
    strong, attack or not (its frames, ascending, and strengths): where a pitch change without an attack begins
    (:func:`_snap_to_onsets`; not backtracked, which moved a slur's change back to the flux minimum before it).

    The onset function is SuperFlux-style (``lag=2``, ``max_size=3``: robust to vibrato); its onsets are backtracked
    to the minimum before them. Its strength is measured against its median over the frames within ``top_db`` of
    the loudest (so it means the same in a quiet and a noisy recording). An onset is an attack when its level after
    it reaches within ``attack_db`` of the recording's loudest frame, and either the level rises by ``rise_db`` from
    the 45 ms before it to the 45 ms after it with a strength of at least ``weak_flux``, or its strength is at least
    ``strong_flux``, the level holds, and the sounding note is within ``held_attack_db`` of its peak since the last
    attack (a re-articulated note: a new attack without a louder level; deep in a decay, flux without a rise is a
    sample's loop point or beating strings), or (a re-articulation whose level dips) its strength is at least
    ``transient_flux``, the level after it falls less than ``release_db``, the note is within ``held_attack_db`` of
    its peak and the power between the harmonics of the sounding pitch (an attack's noise) rises by
    ``transient_db`` (:func:`_inharmonic_rise_db`). At the same pitch (:func:`_same_pitch`), an onset without a rise,
    or one whose rise leaves the note ``held_attack_db`` under its peak since the last attack with a rise, or one
    weaker than ``faint_flux`` whose rise is under ``regain_db`` (a loop's swell), also needs that noise to rise by
    ``held_noise_db`` (a sample's loop point, beating strings: no noise). A sounding stretch after
    a quiet or unpitched one starts a note when it rises ``rise_db`` over it, to within ``attack_db`` of the loudest
    frame or after a quiet gap of at least ``2 * min_frames`` (a decay's tail flickering around the threshold is no
    gap); a recording sounding from its first frame to its first pitched one, within ``min_frames``, starts with a
    note at 0 (a bowed note's noisy attack cut at the file's start). Attacks closer together than ``min_frames``
    count as one. A weaker kind of re-articulation at the same pitch counts where no other attack lies within
    ``min_frames``: a ``soft_flux`` onset with an attack's noise (see :class:`~instrumentid.settings.NoteSettings`).
    A flux attack is placed where the onset function begins to rise (``onset_rise``), not at its minimum. At the same
    pitch and without a ``regain_db`` rise, an attack is dropped where the sound after it repeats an earlier stretch
    that no attack began (a sampled note's loop point, ``loop_corr``; :func:`_loop_match`), or where the level has
    climbed all the way from a note that sounds from the recording's first frame (``rising_s``).

    ``y`` is the recording at :data:`~instrumentid.settings.SR`.

    ``envelope`` is the onset function (see :func:`_spectral_pass`), ``spectrum`` the recording's STFT magnitude,
    ``settings`` the thresholds.
    """
    s = settings
    rise_db, attack_db, held_attack_db, held_noise_db = s.rise_db, s.attack_db, s.held_attack_db, s.held_noise_db
    weak_flux, strong_flux, transient_flux, transient_db = s.weak_flux, s.strong_flux, s.transient_flux, s.transient_db
    release_db, hop_length = s.release_db, s.hop_length
    peaks = dsp.onset_detect(envelope, sr=SR, hop_length=hop_length)
    onsets = dsp.onset_backtrack(peaks, envelope) if peaks.size else peaks
    placed = _risen_from(onsets, peaks, envelope, fraction=s.onset_rise)
    soft_lag = round(s.soft_lag_s * SR / hop_length)
    loudest_db = float(level_db.max())
    typical = float(np.median(envelope[: level_db.size][level_db > threshold_db])) if active.any() else 0.0
    strength = envelope[peaks] / max(typical, 1e-6)
    rise_frames = max(1, round(0.09 * SR / hop_length))
    half = rise_frames // 2
    starts = set()
    previous_end = None
    for lo, hi in _runs(active):
        peak = level_db[lo: lo + rise_frames + 1].max()
        if previous_end is None:  # the first sound; a recording that starts sounding starts with a note
            starts.add(0 if lo < min_frames and (level_db[:lo] > threshold_db).all() else lo)
        else:
            gap = level_db[previous_end:lo].min()
            # after a quiet gap (a decay's tail flickering around the threshold is not one), or rising from an
            # unpitched stretch (noise) to a level an attack reaches
            if (peak - gap >= rise_db and peak >= threshold_db + rise_db
                    and ((gap <= threshold_db and lo - previous_end >= 2 * min_frames)
                         or peak > loudest_db - attack_db)):
                starts.add(lo)
        previous_end = hi
    risen = set(starts)  # the starts where the level rose: a held note's decay is measured from their peak
    soft: list[int] = []
    # a sampled note's loop point repeats an earlier stretch of the note; a re-articulation replays an attack: one
    # found so far, or a strong flux peak (a re-articulation missed) that is not a loop point itself
    strong = peaks[strength >= transient_flux].tolist()
    memo: dict = {}

    def loops(peak: int) -> bool:
        if s.loop_corr > 1.0:
            return False
        if peak not in memo:
            matched = _loop_match(y, peak, corr=s.loop_corr, search=round(s.loop_search_s * SR),
                                  length=s.frame_length, hop_length=hop_length)
            memo[peak] = matched is not None and not any(-2 <= matched - a <= min_frames for a in starts) and all(
                loops(q) for q in strong if q < peak and -2 <= matched - q <= min_frames * 2 // 3)
        return memo[peak]

    for frame, peak_frame, flux, at in zip(onsets.tolist(), peaks.tolist(), strength.tolist(), placed, strict=True):
        before = level_db[max(0, frame - half): frame + 1]
        after = level_db[frame: frame + rise_frames + 1].max()
        # a new note sounds on after the flux peak (at a release the level falls away from it)
        held = level_db[peak_frame: peak_frame + rise_frames + 1].min() >= before.max() - rise_db
        # without a rise, the sounding note must not have decayed far from its peak (deep in a piano's decay, flux
        # without a rise is a sample's loop point or beating strings)
        last = max((f for f in risen if f < frame), default=0)
        decayed = level_db[frame] < level_db[last: frame + 1].max() - held_attack_db
        rise = after - before.min() >= rise_db and flux >= weak_flux
        # at the same pitch, a rise that leaves the note deep in its decay, or flux without a rise, is an attack only
        # with an attack's noise: a sampled note's loop point or beating strings have none
        # ... and so is a small rise with faint flux (a sample's loop swelling, beating strings): a note coming
        # back after a gap or a dip rises more
        if rise and (after < level_db[last: frame + 1].max() - held_attack_db
                     or (flux < s.faint_flux and after - before.min() < s.regain_db)) and _same_pitch(f0, frame):
            rise = not _inharmonic_rise_db(spectrum, f0, frame) < held_noise_db  # NaN: not measurable, kept
        attack = rise or (flux >= strong_flux and held and not decayed and (
            not _same_pitch(f0, frame) or not _inharmonic_rise_db(spectrum, f0, frame) < held_noise_db))
        if not attack and flux >= transient_flux and not decayed and (
                level_db[peak_frame: peak_frame + rise_frames + 1].min() >= before.max() - release_db):
            attack = _inharmonic_rise_db(spectrum, f0, frame) >= transient_db
        if (not attack and flux >= s.soft_flux and not decayed and after > max(threshold_db, loudest_db - attack_db)
                and _same_pitch(f0, frame) and peak_frame - frame <= soft_lag
                and level_db[peak_frame: peak_frame + rise_frames + 1].min() >= before.max() - s.soft_dip_db
                and max(_inharmonic_rise_db(spectrum, f0, f) for f in range(frame, peak_frame + 2)) >= transient_db):
            # a re-articulation whose bow or tongue noise comes a few frames before the flux peaks
            if not loops(peak_frame):
                soft.append(at)
        if attack and after - before.min() < s.regain_db and _same_pitch(f0, frame):
            # still the previous attack's rise (a slow attack, e.g. a flute's breath before its tone, cut by the
            # recording's start): the level has climbed all the way from it
            if 0 in starts and frame <= round(s.rising_s * SR / hop_length):
                climb = level_db[: frame + 1]
                attack = not bool(np.all(climb >= np.maximum.accumulate(climb) - 1.0))
            attack = attack and not loops(peak_frame)  # a sampled note's loop point
        if attack and after > max(threshold_db, loudest_db - attack_db):
            starts.add(at)
            if after - before.min() >= rise_db:
                risen.add(at)
    kept = sorted(starts)
    for frame in soft:  # only where no other attack is near (it would be lost to the earlier one, or moved)
        i = int(np.searchsorted(kept, frame))
        if all(abs(kept[j] - frame) >= min_frames for j in (i - 1, i) if 0 <= j < len(kept)):
            starts.add(frame)
    strength = strength.astype(np.float64)  # compared with weak_flux in float64, as the attacks above
    strong = strength >= weak_flux
    return _dedupe(sorted(starts), gap=min_frames), (peaks[strong], strength[strong])


def _loop_match(y: np.ndarray, peak: int, *, corr: float, search: int, length: int, hop_length: int) -> int | None:
    """Where the sound after a flux peak repeats an earlier stretch of the recording, if it does.

    The ``length`` samples after the peak's frame are compared (normalized cross-correlation) with every stretch
    starting from ``length`` to ``search`` samples earlier. A sampled note's loop point: the synthesizer jumps back to
    the loop's start, and the sound goes on as it was there; a re-articulated sampled note replays its attack, and
    matches an earlier attack (a played one matches nothing as closely).

    Returns
    -------
    int or None
        The frame whose flux peak the best match would have (its start minus one frame), if the match reaches
        ``corr``; None if not, or if there is too little sound before or after the peak.
    """
    n = (peak + 1) * hop_length
    lo = max(0, n - search)
    length = min(length, y.size - n)  # at the end of a recording that stops in the note, what there is of it
    if length < hop_length * 4 or n - lo < 2 * length:
        return None
    segment = y[n: n + length].astype(np.float64)
    earlier = y[lo: n].astype(np.float64)
    energy = float(np.dot(segment, segment))
    if energy <= 0.0:
        return None
    from scipy.signal import correlate

    products = correlate(earlier, segment, mode="valid", method="fft")  # at each start lo + i, i <= n - lo - length
    window = np.cumsum(np.concatenate([[0.0], earlier ** 2]))
    norms = np.sqrt(np.maximum(window[length:] - window[:-length], 0.0) * energy) + 1e-12
    similarity = products / norms
    best = int(np.argmax(similarity))
    return (lo + best) // hop_length - 1 if similarity[best] >= corr else None


def _risen_from(onsets: np.ndarray, peaks: np.ndarray, envelope: np.ndarray, *, fraction: float) -> list[int]:
    """Where each backtracked onset's function begins to rise: the last frame before ``fraction`` of its rise.

    ``onsets`` are backtracked to the minimum before their ``peaks`` (both frames, same length); the result, per onset,
    is the frame before the first one in ``[onset, peak]`` at least ``fraction`` of the way from the minimum's value
    to the peak's (the onset itself if that is its first frame). Where the function lies flat and low before an
    attack, its minimum can be several frames early.
    """
    out = []
    for lo, peak in zip(onsets.tolist(), peaks.tolist(), strict=True):
        level = envelope[lo] + fraction * (envelope[peak] - envelope[lo])
        up = np.flatnonzero(envelope[lo: peak + 1] >= level)
        out.append(lo + max(int(up[0]) - 1, 0) if up.size else lo)
    return out


def _snap_to_onsets(runs: list, onsets: tuple, *, before: int, after: int, shortest: int) -> list:
    """Move each pitch change within one attack to the strongest spectral-flux peak near it.

    A change of pitch shows in the pitch track only once the new note dominates what still sounds of the old one (its
    release, a room's reverberation), and the rise of its harmonics can be slow too; a new note that is tongued,
    bowed or struck over that sound leaves a flux onset, even one too weak or without the level rise an attack needs.
    The boundary moves to the strongest such onset from ``before`` frames before it to ``after`` frames after it, if
    both notes keep at least ``shortest`` frames.

    Parameters
    ----------
    runs : list of (lo, hi, key)
        One attack's pitch runs, in absolute frames, in time order and touching.
    onsets : (np.ndarray, np.ndarray)
        Onset frames, ascending, and their strengths (see :func:`_attacks`).
    before, after, shortest : int
        Frames.

    Returns
    -------
    list of (lo, hi, key)
    """
    frames, strengths = onsets
    out = [list(run) for run in runs]
    for previous, run in itertools.pairwise(out):
        lo, hi = np.searchsorted(frames, [run[0] - before, run[0] + after + 1])
        near = frames[lo:hi]
        keep = (near - previous[0] >= shortest) & (run[1] - near >= shortest)
        if keep.any():  # the strongest; of equal ones, the first
            previous[1] = run[0] = int(near[keep][np.argmax(strengths[lo:hi][keep])])
    return [(lo, hi, key) for lo, hi, key in out]


def _same_pitch(f0: np.ndarray, frame: int) -> bool:
    """Whether YIN's pitch is the same (within half a semitone) before and after ``frame``.

    The medians over the 5 frames before ``frame`` and the 6 after it, as :func:`_inharmonic_rise_db` takes them;
    False within 5 frames of the recording's start or 7 of its end.
    """
    if frame < 5 or frame + 7 > f0.size:
        return False
    before, after = float(np.median(f0[frame - 5: frame])), float(np.median(f0[frame + 1: frame + 7]))
    return abs(12.0 * math.log2(before / after)) < 0.5


def _inharmonic_rise_db(spectrum: _Spectrum, f0: np.ndarray, frame: int) -> float:
    """How much the power between the harmonics of the sounding pitch rises at ``frame``, in dB.

    The pitches are YIN's medians over the 5 frames before ``frame`` and the 6 after it; bins within 2 of their
    harmonics, and under the lower fundamental, are left out (so a bend or a slur does not count). The rise is from
    the mean power of frames ``frame - 5 .. frame - 3`` to the largest of frames ``frame .. frame + 3``: an attack's
    noise (a tongue, a bow, a hammer) lifts it, vibrato and a held note's flux hardly do.

    Parameters
    ----------
    spectrum : _Spectrum
        The recording's STFT magnitude at :data:`~instrumentid.settings.SR`.
    f0 : np.ndarray [shape=(n_frames,)]
        YIN's fundamental per frame, in Hz.
    frame : int
        The onset's frame.

    Returns
    -------
    float
        The rise in dB (0 within 5 frames of the recording's start or 7 of its end; NaN when no bin lies between
        the harmonics, as under a low pitch).
    """
    n_bins, n_frames = spectrum.n_bins, spectrum.n_frames
    if frame < 5 or frame + 7 > n_frames:
        return 0.0
    bin_hz = SR / (2 * (n_bins - 1))
    pitches = (float(np.median(f0[frame - 5: frame])), float(np.median(f0[frame + 1: frame + 7])))
    between = np.arange(n_bins) * bin_hz > min(pitches)
    for f0_hz in pitches:
        for h in range(1, int(SR / 2 / f0_hz) + 1):
            b = round(h * f0_hz / bin_hz)
            between[max(0, b - 2): b + 3] = False
    if not between.any():  # a low pitch whose harmonics' bins cover the whole spectrum
        return math.nan
    magnitude, first = spectrum.frames(frame - 5, frame + 4)
    power = np.sum(magnitude[between, frame - 5 - first: frame + 4 - first] ** 2, axis=0)
    return float(10.0 * np.log10((power[5:].max() + 1e-20) / (power[:3].mean() + 1e-20)))


def _split_by_pitch(spectrum: _Spectrum, midi_track, start: int, end: int, *, filter_frames: int, threshold: float,
                    min_frames: int, settings: NoteSettings) -> list[tuple[int, int, int]]:
    """Cut the frames ``[start, end)`` of one attack into notes of one pitch each.

    Returns
    -------
    list of (lo, hi, key)
        Absolute frame ranges and MIDI keys. A change of pitch shows in the pitch track only once the new note
        dominates the release of the old one, so each boundary is moved back (at most 150 ms) to where the new
        note's harmonics rose (:func:`_harmonic_rise`).
    """
    import scipy.ndimage

    smooth = scipy.ndimage.median_filter(midi_track[start:end], size=filter_frames, mode="nearest")
    runs = [[start + lo, start + hi, key] for lo, hi, key in _pitch_runs(smooth, threshold=threshold,
                                                                           min_frames=min_frames)]
    max_shift = round(0.15 * SR / settings.hop_length)
    for previous, run in itertools.pairwise(runs):
        earliest = max(previous[0] + min_frames // 2, run[0] - max_shift)
        previous[1] = run[0] = _harmonic_rise(spectrum, run[2], run[0], earliest=earliest, drop_db=12.0,
                                              n_fft=settings.frame_length)
    return [(lo, hi, key) for lo, hi, key in runs]


def _merge_partials(runs: list, level_db: np.ndarray, start: int, *, decay_db: float, any_db: float,
                    spectrum: _Spectrum, f0: np.ndarray, wobble_db: float) -> list:
    """Join the pitch runs of one attack that are a decaying note's partials taking over its pitch track.

    A struck or plucked note is not slurred a twelfth or more, but as it decays its fundamental can fall under an
    upper partial, and YIN then follows the partial (a twelfth, two octaves, ... higher), or the other way round.
    Two neighbouring runs whose keys are 19, 24, 28, 31, 34 or 36 semitones apart (+-1; not 12: a decaying guitar
    note can be bent or slurred an octave) are one note when the level where they meet is more than ``decay_db`` dB
    under the attack's loudest frame so far (a slurred leap keeps its level); so is a run within a semitone of such a
    partial run (a stretched partial drifts). A run that starts more than ``any_db`` dB under that loudest frame
    joins too, whatever its key, while the attack's first note still sounds in it: over its frames, the first run's
    harmonics (at its median YIN pitch) carry ``wobble_db`` dB more power per bin than the bins between them
    (:func:`_harmonic_share_db`). Each group of joined runs takes the key that covers most of its frames.

    Parameters
    ----------
    runs : list of (lo, hi, key)
        The attack's pitch runs, in absolute frames, in time order and touching.
    level_db : np.ndarray [shape=(n_frames,)]
        Frame levels in dB.
    start : int
        The attack's first frame.
    decay_db : float
        How far the level must have decayed, in dB.
    any_db, wobble_db : float
        How far the level must have decayed for any run to join, and how much the first run's harmonics must still
        stand out of the bins between them, in dB.
    spectrum : _Spectrum
    f0 : np.ndarray [shape=(n_frames,)]
        YIN's pitch per frame, in Hz.

    Returns
    -------
    list of (lo, hi, key)
    """
    if len(runs) < 2:
        return runs
    def partial(a: int, b: int) -> bool:
        return any(abs(abs(a - b) - k) <= 1 for k in (19, 24, 28, 31, 34, 36))

    groups = [[runs[0]]]
    first_hz = None  # the attack's first note (its median YIN pitch), measured once a run lies deep enough
    for run in runs[1:]:
        group = groups[-1]
        boundary = run[0]
        level, loudest = level_db[max(boundary - 2, 0): boundary + 3].max(), level_db[start: boundary + 1].max()
        decayed = level < loudest - decay_db
        # related to a key of the group, or within a semitone of one of its partials (a stretched partial drifts)
        related = any(partial(run[2], other[2]) for other in group) or any(
            abs(run[2] - other[2]) <= 1 and partial(other[2], group[0][2]) for other in group)
        # deeper still, any run while the first note still sounds in it: a decaying piano's low rumble or noise
        # moves YIN's pitch while the string sounds on; after a slur from a decaying note (a guitar's), the old
        # harmonics are gone
        if not (decayed and related) and level < loudest - any_db:
            first_hz = _run_hz(runs[0], f0) if first_hz is None else first_hz
            decayed = related = _harmonic_share_db(spectrum, first_hz, run[0], run[1]) >= wobble_db
        if decayed and related:
            group.append(run)
        else:
            groups.append([run])
    out: list = []
    for group in groups:
        frames: dict = {}
        for lo, hi, key in group:
            frames[key] = frames.get(key, 0) + hi - lo
        key = max(frames, key=lambda k: frames[k])
        if out and out[-1][2] == key:
            out[-1] = (out[-1][0], group[-1][1], key)
        else:
            out.append((group[0][0], group[-1][1], key))
    return out


def _run_hz(run: tuple, f0: np.ndarray) -> float:
    """The median YIN pitch of a pitch run ``(lo, hi, key)``, in Hz.

    Over its frames within a semitone of its key (the key's pitch if none is).
    """
    track = f0[run[0]: run[1]]
    near = track[np.abs(dsp.hz_to_midi(track) - run[2]) <= 1.0]
    return float(np.median(near)) if near.size else float(dsp.midi_to_hz(run[2]))


def _rings_on(previous: Note, level_db: np.ndarray, spectrum: _Spectrum, start: int, end: int, *, frame_s: float,
              settings: NoteSettings) -> bool:
    """Whether the attack at ``start`` is the previous note sounding on deep in its decay.

    True when the level from ``start`` to ``end`` stays more than ``settings.decayed_db`` dB under the previous note's
    loudest frame and, over those frames, the previous note's harmonics carry ``settings.wobble_db`` dB more power
    per bin than the bins between them (:func:`_harmonic_share_db`): a decaying piano's low rumble lifts the level
    and moves YIN's pitch away from a string that sounds on.

    Parameters
    ----------
    previous : Note
        The note found before the attack.
    level_db : np.ndarray [shape=(n_frames,)]
        Frame levels in dB.
    spectrum : _Spectrum
    start, end : int
        The attack's frame and the end of what it sounds (frames).
    frame_s : float
        Seconds per frame.
    settings : NoteSettings
    """
    lo, hi = round(previous.start_s / frame_s), round(previous.end_s / frame_s)
    if end <= start or hi <= lo or level_db[start:end].max() >= level_db[lo:hi].max() - settings.decayed_db:
        return False
    return _harmonic_share_db(spectrum, previous.f0_hz, start, end) >= settings.wobble_db


def _harmonic_share_db(spectrum: _Spectrum, f0_hz: float, lo: int, hi: int) -> float:
    """How much more power per bin the harmonics of ``f0_hz`` carry than the bins between them, in dB.

    Over frames ``[lo, hi)`` (at most 16 of them, evenly spaced), from half ``f0_hz`` up to its tenth harmonic (or
    the Nyquist frequency): the bins within one of each harmonic against the others.
    """
    bin_hz = SR / (2 * (spectrum.n_bins - 1))
    top = min(10.5 * f0_hz, SR / 2 - bin_hz)
    bins = np.arange(int(0.5 * f0_hz / bin_hz), int(top / bin_hz) + 1)
    harmonic = np.zeros(bins.size, dtype=bool)
    for h in range(1, int(top / f0_hz) + 1):
        b = round(h * f0_hz / bin_hz)
        harmonic[(bins >= b - 1) & (bins <= b + 1)] = True
    if harmonic.all() or not harmonic.any():
        return math.nan
    frames = np.unique(np.linspace(lo, hi - 1, num=min(16, hi - lo)).round().astype(int))
    power = np.zeros(bins.size)
    for f in frames:
        magnitude, first = spectrum.frames(f, f + 1, least=1)
        power += magnitude[bins, f - first].astype(np.float64) ** 2
    return float(10.0 * np.log10((power[harmonic].mean() + 1e-20) / (power[~harmonic].mean() + 1e-20)))


def _merge_octave_partials(runs: list, spectrum: _Spectrum, f0: np.ndarray, active: np.ndarray,
                           midi_track: np.ndarray, *, odd_db: float) -> list:
    """Join a pitch run an octave over its neighbour into it when the lower note still sounds under it.

    Where a note's fundamental falls under its second partial (deep in a piano's or a guitar's decay, or at a low
    piano note's attack), YIN follows the partial, an octave higher, though the note has not changed: its odd
    harmonics (odd multiples of half YIN's pitch) still sound. After a slur or a new note an octave up they have
    gone (on the labelled phrases 20.7-90 dB under the even ones; a partial taking over 7-18 dB). A run 11-13 keys
    over a neighbouring run of the same attack whose odd harmonics carry less than ``odd_db`` dB under its even
    ones (median over its sounding frames, each harmonic the largest of its three nearest bins at the frame's own
    pitch) takes the lower run's key; neighbours that then share a key become one run.

    Parameters
    ----------
    runs : list of (lo, hi, key)
        One attack's pitch runs, in absolute frames, in time order and touching.
    spectrum : _Spectrum
        The recording's STFT magnitude.
    f0 : np.ndarray [shape=(n_frames,)]
        YIN's fundamental per frame, in Hz.
    active : np.ndarray [shape=(n_frames,)], bool
        Sounding frames.
    midi_track : np.ndarray [shape=(n_frames,)]
        YIN's pitch per frame, in fractional MIDI.
    odd_db : float
        dB.

    Returns
    -------
    list of (lo, hi, key)
    """
    def partial(lo: int, hi: int, key: int) -> bool:
        frames = lo + np.flatnonzero(active[lo:hi] & (np.abs(midi_track[lo:hi] - key) <= 1.0))
        if frames.size == 0 or 4 * float(np.median(f0[frames])) >= 0.45 * SR:
            return False
        return float(np.median(_odd_to_even_db(spectrum, f0, frames))) > -odd_db

    out: list = []
    for lo, hi, key in runs:
        if out and 11 <= abs(out[-1][2] - key) <= 13:
            upper = (lo, hi, key) if key > out[-1][2] else out[-1]
            if partial(*upper):
                key = min(key, out[-1][2])
                lo = out.pop()[0]
        if out and out[-1][2] == key:
            lo = out.pop()[0]
        out.append((lo, hi, key))
    return out


def _odd_to_even_db(spectrum: _Spectrum, f0: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Per frame, the power on the odd multiples of half YIN's pitch over that on the even ones (its harmonics), in dB.

    The first 8 multiples of ``f0 / 2``, each the largest of its three nearest bins.

    Parameters
    ----------
    spectrum : _Spectrum
        Where the magnitudes come from (recomputed for ``frames``, a block of consecutive frames at a time).
    f0 : np.ndarray [shape=(n_frames,)]
        YIN's pitch per frame in Hz; half of it is the pitch tested.
    frames : np.ndarray [shape=(m,)], int
        Frames, ascending.

    Returns
    -------
    np.ndarray [shape=(m,)]
    """
    bin_hz = SR / spectrum.n_fft
    out = np.empty(frames.size)
    # the spectrum a block of BLOCK_FRAMES consecutive frames at a time (17 MB), however far apart ``frames`` are
    for lo in range(int(frames[0]) if frames.size else 0, int(frames[-1]) + 1 if frames.size else 0, BLOCK_FRAMES):
        a, b = np.searchsorted(frames, [lo, lo + BLOCK_FRAMES])
        if a == b:
            continue
        block = frames[a:b]
        magnitude, first = spectrum.frames(int(block[0]), int(block[-1]) + 1)
        bins = np.rint(np.arange(1, 9)[:, None] * f0[block][None, :] / 2 / bin_hz).astype(int)
        near = magnitude[np.clip(bins[:, :, None] + np.arange(-1, 2), 0, spectrum.n_bins - 1),
                         (block - first)[None, :, None]].max(axis=2).astype(np.float64) ** 2
        out[a:b] = 10.0 * np.log10((near[0::2].sum(axis=0) + 1e-20) / (near[1::2].sum(axis=0) + 1e-20))
    return out


def _merge_drift(runs: list, midi_track: np.ndarray, *, within: float) -> list:
    """Join neighbouring pitch runs a key apart whose median pitches are closer than ``within`` semitones.

    A note tuned between two keys (a piano's sharp upper notes, a detuned sample) whose pitch wavers by a few tenths
    of a semitone crosses the pitch runs' hysteresis and comes out as two runs a key apart, though their pitches hardly
    differ; a slur of a semitone moves the median a whole semitone. The joined run takes the key nearest to its
    median pitch.

    Parameters
    ----------
    runs : list of (lo, hi, key)
        One attack's pitch runs, in absolute frames, in time order and touching.
    midi_track : np.ndarray [shape=(n_frames,)]
        Pitch per frame in fractional MIDI, held over the frames that do not sound (no NaN within the runs).
    within : float
        Semitones.

    Returns
    -------
    list of (lo, hi, key)
    """
    out: list = []
    for lo, hi, key in runs:
        if out and abs(out[-1][2] - key) == 1 and abs(float(np.median(midi_track[out[-1][0]: out[-1][1]]))
                                                     - float(np.median(midi_track[lo:hi]))) < within:
            lo = out.pop()[0]
            key = round(float(np.median(midi_track[lo:hi])))
        out.append((lo, hi, key))
    return out


def _rises_at(spectrum: _Spectrum, key: int, attack: int, change: int, *, within: int, drop_db: float,
              n_fft: int) -> bool:
    """Whether the first six harmonics of MIDI ``key`` rose at ``attack`` rather than at ``change``.

    True when, 2 frames before ``attack``, they were more than ``drop_db`` under their level at ``change`` (the
    note was not sounding yet) and within ``within`` frames after ``attack`` they came within ``drop_db`` of it.
    """
    bin_hz = SR / n_fft
    f0_hz = float(dsp.midi_to_hz(key))
    bins = [round(h * f0_hz / bin_hz) for h in range(1, 7) if h * f0_hz < SR / 2]
    lo = max(attack - 2, 0)
    magnitude, first = spectrum.frames(lo, change + 3)
    energy_db = dsp.amplitude_to_db(magnitude[bins, lo - first: change + 3 - first].sum(axis=0))
    reference = float(energy_db[-3:].max())
    before = energy_db[0] < reference - drop_db if attack >= 2 else True
    return bool(before and energy_db[: within + 3].max() >= reference - drop_db)


def _octave_up(runs: list, harmonics: np.ndarray, f0: np.ndarray, active: np.ndarray, midi_track: np.ndarray, *,
               odd_db: float) -> list:
    """Move up the pitch runs on which YIN locked onto a sub-harmonic of the sounding note.

    At YIN's pitch ``f``, the power on the harmonics of ``f`` that are multiples of a factor ``k`` (4, 3, then 2:
    ``kf, 2kf, ...``) among the first 8 is compared with the power on the others, each harmonic taken at the frame's
    own ``f`` (so vibrato is followed) and as the largest of its three nearest bins. A real note has power on its
    harmonics that are not multiples of ``k`` (its fundamental, or a clarinet's strong odd partials); when they carry
    ``odd_db`` dB less than the multiples, the note sounds ``k`` times higher (YIN's sub-harmonic error, e.g. where a
    reverberant or short note overlaps another). The first factor that passes moves the run's key and its frames of
    ``midi_track`` (modified in place) up 24, 19 or 12 semitones; neighbouring runs that then share a key become one.

    Parameters
    ----------
    runs : list of (lo, hi, key)
        One attack's pitch runs, in absolute frames, in time order and touching.
    harmonics : np.ndarray [shape=(8, n_frames)]
        Per frame, the STFT magnitude near each of the first 8 harmonics of ``f0`` (see :func:`_spectral_pass`).
    f0 : np.ndarray [shape=(n_frames,)]
        YIN's fundamental per frame, in Hz.
    active : np.ndarray [shape=(n_frames,)], bool
        Sounding frames.
    midi_track : np.ndarray [shape=(n_frames,)]
        YIN's pitch per frame, in fractional MIDI; the moved runs' frames are moved up in place.
    odd_db : float
        How much weaker the harmonics that are not multiples of ``k`` must be, in dB.

    Returns
    -------
    list of (lo, hi, key)
    """
    def shift(key: int, frames: np.ndarray, _out: list) -> float:
        if 8 * float(np.median(f0[frames])) >= 0.45 * SR:
            return 0.0
        power = np.sum(harmonics[:, frames].astype(np.float64) ** 2, axis=1)
        for factor in _FACTORS:
            on = np.arange(1, _N_HARMONICS + 1) % factor == 0
            up = round(12 * math.log2(factor))
            if 10.0 * np.log10((power[~on].sum() + 1e-20) / (power[on].sum() + 1e-20)) < -odd_db and key + up <= 127:
                return float(up)
        return 0.0

    return _shift_runs(runs, active, midi_track, shift)


def _shift_runs(runs: list, active: np.ndarray, midi_track: np.ndarray,
                shift: Callable[[int, np.ndarray, list], float]) -> list:
    """Move pitch runs by the semitones ``shift(key, frames, out)`` finds for each; neighbours sharing a key join.

    ``frames`` are the run's sounding frames within a semitone of its ``key`` (a run without any stays as it is) and
    ``out`` the runs before it, as moved. A run's key moves by the shift rounded, its ``frames`` of ``midi_track``
    (modified in place) by the shift itself.

    Parameters
    ----------
    runs : list of (lo, hi, key)
        One attack's pitch runs, in absolute frames, in time order and touching.
    active : np.ndarray [shape=(n_frames,)], bool
        Sounding frames.
    midi_track : np.ndarray [shape=(n_frames,)]
        The pitch per frame, in fractional MIDI.
    shift : callable
        ``(key, frames, out) -> float``, 0 to leave the run as it is.

    Returns
    -------
    list of (lo, hi, key)
    """
    out: list = []
    for lo, hi, key in runs:
        frames = lo + np.flatnonzero(active[lo:hi] & (np.abs(midi_track[lo:hi] - key) <= 1.0))
        up = shift(key, frames, out) if frames.size else 0.0
        if up:
            midi_track[frames] += up
            key += round(up)
        if out and out[-1][2] == key:
            out[-1] = (out[-1][0], hi, key)
        else:
            out.append((lo, hi, key))
    return out


def _harmonic_rise(spectrum: _Spectrum, key: int, change: int, *, earliest: int, drop_db: float,
                   n_fft: int) -> int:
    """Frame where the first six harmonics of MIDI ``key`` rose to within ``drop_db`` of their level at ``change``.

    A tone that starts at the centre of a Hann frame shows there at half its amplitude (-6 dB), so ``drop_db`` = 12
    places a sudden change about 12 ms early and a slow (bowed) attack near its start.

    Parameters
    ----------
    spectrum : _Spectrum
        The recording's STFT magnitude at :data:`~instrumentid.settings.SR`.
    key : int
        The new note's MIDI key.
    change, earliest : int
        Frame where the pitch track changed; earliest frame the result may take.
    drop_db : float
        How far under the level at ``change`` the harmonics count as not yet risen, in dB.
    n_fft : int
        FFT length of ``spectrum``.

    Returns
    -------
    int
        A frame in ``[earliest, change]`` (``change`` itself when the harmonics were already there, e.g. an
        octave leap up, whose harmonics are the old note's).
    """
    bin_hz = SR / n_fft
    f0_hz = float(dsp.midi_to_hz(key))
    bins = [round(h * f0_hz / bin_hz) for h in range(1, 7) if h * f0_hz < SR / 2]
    magnitude, first = spectrum.frames(min(earliest, change), change + 3)
    energy = magnitude[bins].sum(axis=0)
    energy_db = dsp.amplitude_to_db(energy)
    reference = energy_db[change - first: change - first + 3].max()
    low = np.flatnonzero(energy_db[earliest - first: change + 1 - first] < reference - drop_db)
    return earliest + int(low[-1]) + 1 if low.size else change


def _dedupe(frames: list[int], *, gap: int) -> list[int]:
    """Keep the first of every group of frames closer than ``gap`` to the previous kept one."""
    kept: list[int] = []
    for frame in frames:
        if not kept or frame - kept[-1] >= gap:
            kept.append(frame)
    return kept


def _pitch_runs(smooth: np.ndarray, *, threshold: float, min_frames: int) -> list[tuple[int, int, int]]:
    """Cut a filtered pitch track into runs of one note each.

    A frame joins the current run while it stays within ``threshold`` semitones of the run's key. Then, shortest
    first, doubtful runs are absorbed by a neighbour: runs shorter than ``min_frames`` (a glide, a scoop at the
    attack), runs shorter than ``2.5 * min_frames`` a semitone from a neighbour they glide into or out of by at
    least 0.4 semitone (a scoop into a note, a fall off it), and runs shorter than ``2 * min_frames`` 2, 3, 4, 5, 6
    or 8 times under a neighbour's frequency (YIN's sub-harmonic errors at attacks and where a ringing note
    overlaps the next).

    Returns
    -------
    runs : list of (lo, hi, key)
        Frame ranges ``[lo, hi)`` covering the whole track, each with its MIDI key.
    """
    n = smooth.size
    if n == 0:
        return []
    keys = np.empty(n)
    key = round(float(smooth[0]))
    for j in range(n):  # hysteresis: vibrato and slow drifts stay on the same key
        if abs(smooth[j] - key) > threshold:
            key = round(float(smooth[j]))
        keys[j] = key
    bounds = [0, *(np.flatnonzero(np.diff(keys)) + 1).tolist(), n]
    runs = [[lo, hi, keys[lo]] for lo, hi in itertools.pairwise(bounds)]

    def subharmonic(a, b):  # b is about 2, 3, 4, 5, 6 or 8 times a, or more (YIN's sub-harmonic errors, a thump)
        return b - a >= 35 or any(abs(b - a - k) <= 1 for k in (12, 19, 24, 28, 31))

    while len(runs) > 1:
        doubtful = []
        for i, (lo, hi, key) in enumerate(runs):
            neighbours = [j for j in (i + 1, i - 1) if 0 <= j < len(runs)]  # the next one first
            related = [j for j in neighbours if subharmonic(key, runs[j][2])]
            glide = [j for j in neighbours if abs(runs[j][2] - key) == 1
                     and (smooth[hi - 1] - smooth[lo]) * (runs[j][2] - key) * (1 if j > i else -1) >= 0.4]
            if hi - lo < 2 * min_frames and related:
                doubtful.append((hi - lo, i, related[0]))
            elif hi - lo < 5 * min_frames // 2 and glide:
                doubtful.append((hi - lo, i, glide[0]))
            elif hi - lo < min_frames:
                doubtful.append((hi - lo, i, i + 1 if i == 0 else i - 1))
        if not doubtful:
            break
        _, i, j = min(doubtful)
        lo, hi = min(runs[i][0], runs[j][0]), max(runs[i][1], runs[j][1])
        runs[min(i, j)] = [lo, hi, runs[j][2]]
        del runs[max(i, j)]
        # neighbours with the same key become one run
        k = min(i, j)
        for a in (k, k - 1):
            if 0 <= a < len(runs) - 1 and runs[a][2] == runs[a + 1][2]:
                runs[a] = [runs[a][0], runs[a + 1][1], runs[a][2]]
                del runs[a + 1]
    return [(lo, hi, int(key)) for lo, hi, key in runs]


def _shared_subharmonic(runs: list, spectrum: _Spectrum, f0: np.ndarray, active: np.ndarray, midi_track: np.ndarray,
                        previous_hz: float | None, *, other_db: float, fmax: float) -> list:
    """Move up the pitch runs on which YIN found a sub-harmonic shared by the note and the one still ringing before it.

    Where a note sounds over the previous one's release or a room's reverberation, YIN can lock onto a period both
    share: a frequency ``f`` of which the new note is the ``k``-th harmonic and the previous note (the previous run
    of the attack, or ``previous_hz``) about the ``m``-th (``m`` >= 2). Then the harmonics of ``f`` that belong to
    neither note (not multiples of ``k`` or ``m``) are empty. Among the first harmonics of ``f`` (up to the 48th and
    under 0.45 ``SR``), summed over the run's sounding frames, each taken as the largest of its three nearest bins
    at the frame's own ``f``: the largest ``k`` from 8 down to 2 (not ``m``; ``k f`` within a semitone over
    ``fmax``) whose multiples that are not multiples of ``m`` carry ``other_db`` dB more power than the harmonics of
    neither moves the run's key and its frames of ``midi_track`` (in place) up by ``12 log2(k)`` semitones (a true
    ``k`` passes for its divisors too, not for its multiples: the largest is the note); neighbouring runs that then
    share a key become one.

    Parameters
    ----------
    runs, active, midi_track
        As for :func:`_shift_runs` (``midi_track`` is modified in place).
    spectrum : _Spectrum
        The recording's STFT magnitude.
    f0 : np.ndarray [shape=(n_frames,)]
        YIN's fundamental per frame, in Hz.
    previous_hz : float or None
        Pitch of the note before the first run, in Hz (None: no note rings before it).
    other_db : float
        dB.
    fmax : float
        Top of the pitch range, in Hz.

    Returns
    -------
    list of (lo, hi, key)
    """
    bin_hz = SR / spectrum.n_fft

    def shift(key: int, frames: np.ndarray, out: list) -> float:
        previous = float(dsp.midi_to_hz(out[-1][2])) if out else previous_hz
        if previous is None:
            return 0.0
        f = float(np.median(f0[frames]))
        m = round(previous / f)
        if m < 2 or abs(12.0 * math.log2(previous / (m * f))) >= 0.5:
            return 0.0
        h = np.arange(1, min(48, int(0.45 * SR / f)) + 1)
        magnitude, first = spectrum.frames(int(frames[0]), int(frames[-1]) + 1)
        bins = np.rint(h[:, None] * f0[frames][None, :] / bin_hz).astype(int)
        power = (magnitude[np.clip(bins[:, :, None] + np.arange(-1, 2), 0, spectrum.n_bins - 1),
                           (frames - first)[None, :, None]].max(axis=2).astype(np.float64) ** 2).sum(axis=1)
        for k in range(8, 1, -1):
            if k == m or k * f * _SEMITONE_DOWN > fmax or key + round(12 * math.log2(k)) > 127:
                continue
            on, neither = (h % k == 0) & (h % m != 0), (h % k != 0) & (h % m != 0)
            if 10.0 * np.log10((power[on].sum() + 1e-20) / (power[neither].sum() + 1e-20)) > other_db:
                return 12.0 * math.log2(k)
        return 0.0

    return _shift_runs(runs, active, midi_track, shift)


def _octave_down(runs: list, spectrum: _Spectrum, f0: np.ndarray, active: np.ndarray, midi_track: np.ndarray, *,
                 weakest_db: float, strongest_db: float, fmin: float) -> list:
    """Move down an octave the pitch runs on which YIN found the second harmonic of a note with a weak fundamental.

    A note whose fundamental is weak (a double reed's upper register) can come back an octave high: YIN's period is
    half the note's. Its odd harmonics (the odd multiples of half YIN's pitch) still sound, under the even ones; a
    note whose pitch is right has none there (or, where another note or noise sounds, much more). A run whose odd
    harmonics carry between ``strongest_db`` and ``weakest_db`` dB less power than its even ones (median over its
    sounding frames, as :func:`_merge_octave_partials` measures it) moves down 12 semitones, with its frames of
    ``midi_track`` (in place); neighbouring runs that then share a key become one. Runs whose key is no longer
    YIN's (moved by :func:`_octave_up` or :func:`_shared_subharmonic`) are left as they are.

    Parameters
    ----------
    runs, spectrum, f0, active, midi_track
        As for :func:`_shared_subharmonic`.
    weakest_db, strongest_db : float
        dB (``strongest_db`` <= ``weakest_db``).
    fmin : float
        Lowest pitch a run moved down may take, in Hz (within a quarter tone).

    Returns
    -------
    list of (lo, hi, key)
    """
    def shift(key: int, frames: np.ndarray, _out: list) -> float:
        if (dsp.midi_to_hz(key - 12) >= fmin * _QUARTER_TONE_DOWN
                and round(float(np.median(dsp.hz_to_midi(f0[frames])))) == key
                and 4 * float(np.median(f0[frames])) < 0.45 * SR
                and -weakest_db <= float(np.median(_odd_to_even_db(spectrum, f0, frames))) <= -strongest_db):
            return -12.0
        return 0.0

    return _shift_runs(runs, active, midi_track, shift)

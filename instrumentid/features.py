"""One note -> a 120-value feature vector (the lab's input width), and the mel spectrogram of the lab's step 1.

The same :func:`note_features` featurizes the notes of the default data set (rendered from SoundFonts) and the notes
cut from users' recordings, so a model never sees features computed two different ways; both reach it through
:mod:`instrumentid.analysis`, its only caller. Every setting is a field of
:class:`~instrumentid.settings.FeatureSettings`, and the layout below (block lengths, :data:`FEATURE_NAMES`,
:data:`N_FEATURES`) is derived from those settings.

The vector (:data:`FEATURE_NAMES`, for the default settings) mixes cepstral statistics with descriptors chosen
because they carried over between SoundFonts in the leave-one-SoundFont-out measurements
(``scripts/measure_features.py``)::

    [  0: 20]  mean over the note of 20 MFCCs
    [ 20: 40]  standard deviation over the note of the 20 MFCCs
    [ 40: 60]  standard deviation of the MFCCs' frame-to-frame change (delta)
    [ 60: 80]  mean of the 20 MFCCs over the attack (first 0.1 s)
    [ 80: 87]  mean spectral contrast in 7 octave bands
    [ 87: 94]  standard deviation of the spectral contrast
    [ 94:104]  envelope: log time to the loudest frame, decay slope after it (dB/s / 50), level (dB) at 8 evenly
               spaced times of the note
    [104:114]  levels of harmonics 1-10 (dB relative to the strongest), at the note's median f0 (YIN)
    [114:120]  pitch-normalized shape: log2(centroid / f0), log2(bandwidth / f0), log2(roll-off / f0),
               log10(flatness), std of log2(centroid), log2(f0 / 1 Hz)

The note is peak-normalized first, so the vector does not depend on the recording level.

With an ``embedding`` in the settings (the shipped model's :data:`~instrumentid.settings.SHIPPED_FEATURES`), a
pretrained network's pooled embedding of the note's first second follows the 120 descriptors
(:func:`instrumentid.pretrained.note_pools`: 1506 values for MSD_musicnn, 1626 in all).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from instrumentid import dsp
from instrumentid.audio import valid_audio
from instrumentid.errors import ParameterError
from instrumentid.pretrained import note_pools
from instrumentid.settings import DEFAULT_FEATURES, SR, FeatureSettings
from instrumentid.util import one_blas_thread, steady_heap, thread_map, worker_threads

__all__ = [
    "FEATURE_NAMES",
    "MIN_NOTE_S",
    "N_FEATURES",
    "MelSpectrogram",
    "feature_blocks",
    "mel_spectrogram",
    "note_features",
    "notes_features",
    "segment_features",
]

#: Length of the feature vector with the default settings.
N_FEATURES = DEFAULT_FEATURES.n_features
#: Name of every feature with the default settings, index -> name.
FEATURE_NAMES = DEFAULT_FEATURES.feature_names
#: FFT window and hop (samples), bands and top frequency (Hz) of the lab's mel spectrogram (:func:`mel_spectrogram`).
MEL_N_FFT, MEL_HOP_LENGTH, MEL_N_MELS, MEL_FMAX = 2048, 512, 128, 8000.0
#: Shortest note that :func:`note_features` accepts, in seconds.
MIN_NOTE_S = 0.05


def _check_settings(settings) -> None:
    if not isinstance(settings, FeatureSettings):
        raise ParameterError(f"settings must be FeatureSettings, got {type(settings).__name__}")


def _valid_note(y, sr, settings: FeatureSettings) -> np.ndarray:
    """One note checked, mixed to mono, peak-normalized, zero-padded to at least ``n_fft`` samples, as float32."""
    if sr != settings.sr:
        raise ParameterError(
            f"features are computed at sr={settings.sr} Hz, got sr={sr!r}: resample first "
            "(instrumentid.analysis does)"
        )
    y = valid_audio(y, sr=sr, name="note")
    if y.ndim == 2:
        y = y.mean(axis=0)
    if y.shape[0] < MIN_NOTE_S * sr:
        raise ParameterError(f"note is too short: {y.shape[0] / sr:.3f} s, expected at least {MIN_NOTE_S} s")
    peak = max(float(np.max(y)), -float(np.min(y)))  # max |y|, without an array of magnitudes
    y = y / peak if peak > 0 else y
    if y.shape[0] < settings.n_fft:
        y = np.pad(y, (0, settings.n_fft - y.shape[0]))
    return y.astype(np.float32)


def _mel_basis(settings: FeatureSettings) -> np.ndarray:
    """The mel filter bank librosa builds for ``settings``, float32 [shape=(n_mels, 1 + n_fft // 2)] (read-only)."""
    s = settings
    return dsp.mel_basis(s.sr, s.n_fft, s.n_mels, s.fmin, s.fmax)


#: Most STFT frames analysed together (their float64 spectra stay in cache); a longer note is analysed alone.
BATCH_FRAMES = 256
#: Frames whose spectral shape (:func:`_shape_descriptors`) is computed at a time (any number gives the same bits; 32
#: measured faster on a busy machine, a whole batch faster on a quiet one, see benchmarks/RESULTS.md).
SHAPE_FRAMES = BATCH_FRAMES


@functools.lru_cache(maxsize=4)
def _frequencies(settings: FeatureSettings) -> np.ndarray:
    """Centre frequency of every STFT bin in Hz, float64 [shape=(1 + n_fft // 2,)] (read-only).

    ``librosa.fft_frequencies``, which is numpy's ``rfftfreq``.
    """
    freqs = np.fft.rfftfreq(n=settings.n_fft, d=1.0 / settings.sr)
    freqs.flags.writeable = False
    return freqs


def _rms(mag: np.ndarray, frame_length: int) -> np.ndarray:
    """``librosa.feature.rms(S=mag, frame_length=frame_length)[0]``, with the same float32 operations.

    The squared magnitudes, the first (and, for an even ``frame_length``, the last) bin halved, summed over the bins
    of each frame: ``sqrt(2 * sum / frame_length ** 2)`` [shape=(n_frames,), dtype=float32].
    """
    x = np.square(mag, dtype=np.float32)
    x[0] *= 0.5
    if frame_length % 2 == 0:
        x[-1] *= 0.5
    return np.sqrt(2 * np.sum(x, axis=0) / frame_length**2)


@functools.lru_cache(maxsize=4)
def _contrast_bands(settings: FeatureSettings) -> tuple:
    """Rows of each spectral-contrast band and how many of its sorted bins are averaged, as librosa chooses them.

    Returns a tuple of ``(lo, hi, n_quantile)``, one per band (``n_bands + 1``): the band is STFT rows ``lo:hi``
    (librosa's ``spectral_contrast`` with ``quantile=0.02``: each band reaches one bin below its lower edge and,
    except the last, stops one bin short of its upper one; the last takes every bin above).
    """
    s = settings
    freqs = _frequencies(s)
    edges = np.zeros(s.n_bands + 2)
    edges[1:] = s.contrast_fmin * (2.0 ** np.arange(0, s.n_bands + 1))
    if np.any(edges[:-1] >= 0.5 * s.sr):
        raise ParameterError(f"spectral contrast: {s.n_bands} octave bands above {s.contrast_fmin} Hz exceed the "
                             f"Nyquist frequency {s.sr / 2} Hz")
    bands = []
    for k, (f_low, f_high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        idx = np.flatnonzero((freqs >= f_low) & (freqs <= f_high))
        if idx.size == 0:
            raise ParameterError(f"spectral contrast: no STFT bin between {f_low} and {f_high} Hz (n_fft="
                                 f"{s.n_fft}): raise contrast_fmin or n_fft")
        lo = int(idx[0]) - 1 if k > 0 else int(idx[0])
        hi = len(freqs) if k == s.n_bands else int(idx[-1]) + 1
        n_quantile = max(1, int(np.rint(0.02 * (hi - lo))))
        bands.append((lo, hi if k == s.n_bands else hi - 1, n_quantile))
    return tuple(bands)


def _frames(ys: list, settings: FeatureSettings) -> tuple:
    """The centred frames of several signals, one after the other, as librosa's STFT and YIN cut them.

    Each signal is zero-padded by ``n_fft // 2`` on both sides and cut every ``hop_length`` samples: ``1 + n //
    hop_length`` frames of a signal of ``n`` samples.

    Returns
    -------
    view : np.ndarray [shape=(n_samples, n_fft), dtype=float32]
        Every window of the signals laid end to end with their padding (a view, nothing copied).
    starts : np.ndarray [shape=(n_frames,), dtype=int]
        The rows of ``view`` that are frames, in order: ``view[starts]`` are the frames.
    """
    n_fft, hop = settings.n_fft, settings.hop_length
    lengths = np.array([len(y) for y in ys])
    offsets = np.concatenate([[0], np.cumsum(lengths + n_fft)])  # each signal with its padding, end to end
    padded = np.zeros(offsets[-1], dtype=np.float32)
    starts = []
    for y, offset, n in zip(ys, offsets, lengths, strict=False):
        padded[offset + n_fft // 2 : offset + n_fft // 2 + n] = y
        starts.append(offset + hop * np.arange(1 + n // hop))
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft), np.concatenate(starts)


def _stft_power(ys: list, settings: FeatureSettings) -> np.ndarray:
    """Power spectrogram of several notes, their frames side by side.

    The same numbers as ``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length)) ** 2`` for each note (centred
    frames, zero padding, a float64 Hann window, complex64 result), computed with few FFT calls.

    Returns
    -------
    np.ndarray [shape=(1 + n_fft // 2, sum of 1 + len(y) // hop_length), dtype=float32, Fortran order]
    """
    view, starts = _frames(ys, settings)
    power = dsp.frame_magnitudes(view, starts)
    np.square(power, out=power)  # the same float32 operations as np.abs(X) ** 2
    return power.T


def _power_to_db(S: np.ndarray, bounds: np.ndarray, *, top_db: float = 80.0) -> np.ndarray:
    """``librosa.power_to_db(S[:, a:b], top_db=top_db)`` for every note's columns ``a:b`` (``bounds``), side by side."""
    log_spec = 10.0 * np.log10(np.maximum(1e-10, S))
    floor = np.maximum.reduceat(log_spec, bounds[:-1], axis=1).max(axis=0) - top_db  # per note: its maximum - top_db
    return np.maximum(log_spec, np.repeat(floor, np.diff(bounds)), out=log_spec)


def _contrast(mag: np.ndarray, bounds: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """``librosa.feature.spectral_contrast(S=mag[:, a:b], sr=sr, fmin=contrast_fmin, n_bands=n_bands)`` per note.

    Returns
    -------
    np.ndarray [shape=(n_bands + 1, n_frames), dtype=float64]
        The notes' frames side by side, as in ``mag``.
    """
    bands = _contrast_bands(settings)
    valley = np.zeros((len(bands), mag.shape[1]))
    peak = np.zeros_like(valley)
    for k, (lo, hi, q) in enumerate(bands):
        band = np.array(mag[lo:hi], order="F")  # each frame's bins side by side: sorted in place, 1.6x faster
        band.sort(axis=0)
        # the means over librosa's layout (bins x frames, C order): its sums of the q values, in the same order
        valley[k] = np.mean(np.ascontiguousarray(band[:q]), axis=0)
        peak[k] = np.mean(np.ascontiguousarray(band[-q:]), axis=0)
    return _power_to_db(peak, bounds) - _power_to_db(valley, bounds)


def _f0(ys: list, settings: FeatureSettings) -> list:
    """The YIN f0 track (Hz) of each note's first ``f0_max_s`` seconds: ``librosa.yin`` note by note, to the bit.

    The same steps and float types as ``librosa.yin(head, fmin=, fmax=, sr=, frame_length=n_fft,
    hop_length=hop_length)`` (its cumulative mean normalized difference from an FFT autocorrelation, troughs under
    0.1, parabolic interpolation), on every note's frames at once and with lags along the rows' contiguous axis.
    """
    s = settings
    heads = [y[: max(s.n_fft, int(s.f0_max_s * s.sr))] for y in ys]
    view, starts = _frames(heads, s)
    fmin, fmax = s.f0_range_hz
    f0 = dsp.yin(view[starts], sr=s.sr, fmin=fmin, fmax=fmax)
    bounds = np.cumsum([0] + [1 + len(h) // s.hop_length for h in heads])
    return [f0[i:j] for i, j in zip(bounds[:-1], bounds[1:], strict=True)]


def _shape_descriptors(mag: np.ndarray, freqs: np.ndarray) -> tuple:
    """Spectral centroid, bandwidth, roll-off (85 %) and flatness of every frame of ``mag``, to the bit.

    The arithmetic (float types, order of operations, memory layout of the sums) of librosa's
    ``spectral_centroid``, ``spectral_bandwidth``, ``spectral_rolloff`` and ``spectral_flatness`` on ``S=mag``, with
    the normalized spectrum computed once instead of twice and without their input checks (``mag`` is finite and
    non-negative by construction).

    Parameters
    ----------
    mag : np.ndarray [shape=(1 + n_fft // 2, n_frames), dtype=float32, Fortran order]
    freqs : np.ndarray [shape=(1 + n_fft // 2,)]
        Bin frequencies in Hz.

    Returns
    -------
    centroid, bandwidth, rolloff, flatness : np.ndarray [shape=(n_frames,)]
    """
    n = mag.shape[1]
    centroid, bandwidth, rolloff = np.empty(n), np.empty(n), np.empty(n)
    flatness = np.empty(n, dtype=mag.dtype)
    # every step is frame by frame, so it runs SHAPE_FRAMES frames at a time (the same bits for any number)
    for a in range(0, n, SHAPE_FRAMES):
        part = mag[:, a:a + SHAPE_FRAMES]
        b = a + part.shape[1]
        # librosa.util.normalize(norm=1): |mag| ** 1 summed in float64 (mag >= 0, so |mag| ** 1 is mag)
        length = np.sum(part.astype(float), axis=0, keepdims=True)
        length[length < np.finfo(mag.dtype).tiny] = 1.0
        normalized = np.empty_like(part)
        np.divide(part, length, out=normalized, casting="unsafe")  # in float64, then stored as float32
        centroid[a:b] = np.sum(freqs[:, np.newaxis] * normalized, axis=0)
        # the weighted squared deviations, in one float64 array laid out as librosa's (frames x bins, C order); the
        # square of a difference is that of its absolute value, so librosa's abs is left out
        deviation = np.subtract.outer(centroid[a:b], freqs)
        np.square(deviation, out=deviation)
        np.multiply(deviation, normalized.T, out=deviation)
        bandwidth[a:b] = np.sum(deviation.swapaxes(-2, -1), axis=0) ** (1.0 / 2)
        total = np.cumsum(part, axis=0)
        rolloff[a:b] = freqs[np.argmax(total >= 0.85 * total[-1], axis=0)]  # the lowest bin reaching 85 % of the energy
        floored = np.square(part)
        np.maximum(floored, 1e-10, out=floored)
        flatness[a:b] = np.exp(np.mean(np.log(floored), axis=0)) / np.mean(floored, axis=0)
    return centroid, bandwidth, rolloff, flatness


def _analyse(ys: list, settings: FeatureSettings, *, spectra: bool = False) -> list:
    """The feature blocks of several valid notes (see :func:`_valid_note`), analysed together.

    Every spectrogram, descriptor and pitch track is computed for all notes' frames at once; only what sums over a
    note (the mel filter bank's product, means, the envelope's fit) is computed note by note, in the same order of
    operations as librosa's per-note functions, so each note's numbers are the same as when it is analysed alone.

    Returns
    -------
    list of dict
        Per note, as :func:`feature_blocks`.
    """
    from scipy.fft import dct

    s = settings
    sr, hop = s.sr, s.hop_length
    bounds = np.concatenate([[0], np.cumsum([1 + len(y) // hop for y in ys])])
    power = _stft_power(ys, s)
    mag = np.sqrt(power)
    basis_t = _mel_basis(s).T
    # the mel product note by note: BLAS rounds a product differently with the number of frames it holds
    mel = np.empty((basis_t.shape[1], power.shape[1]), dtype=np.float32)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        mel[:, a:b] = (power[:, a:b].T @ basis_t).T
    log_mel = _power_to_db(mel, bounds)
    mfcc = dct(log_mel, axis=0, type=2, norm="ortho")[: s.n_mfcc]
    contrast = _contrast(mag, bounds, s)
    rms = _rms(mag, s.n_fft) + 1e-6
    freqs = _frequencies(s)
    centroid, bandwidth, rolloff, flatness = _shape_descriptors(mag, freqs)
    f0_tracks = _f0(ys, s)
    n_attack = max(1, int(round(s.attack_s * sr / hop)))
    out = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        m = np.ascontiguousarray(mfcc[:, a:b])
        delta = np.diff(m, axis=1) if m.shape[1] > 1 else np.zeros_like(m)
        c = contrast[:, a:b]
        f0_hz = float(np.median(f0_tracks[i]))
        blocks = {
            "mfcc_mean": m.mean(axis=1), "mfcc_std": m.std(axis=1), "dmfcc_std": delta.std(axis=1),
            "mfcc_attack": m[:, :n_attack].mean(axis=1), "contrast_mean": c.mean(axis=1),
            "contrast_std": c.std(axis=1), "envelope": _envelope(rms[a:b], s),
            "harmonics": _harmonics(power[:, a:b].mean(axis=1), f0_hz, freqs, s),
            "pitchnorm": _pitch_normalized(centroid[a:b], bandwidth[a:b], rolloff[a:b], flatness[a:b], f0_hz),
        }
        if spectra:
            blocks.update(power=np.array(power[:, a:b], order="F"), log_mel=np.ascontiguousarray(log_mel[:, a:b]),
                          mfcc=m, f0_hz=f0_hz)
        out.append(blocks)
    return out


def _envelope(rms: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """Envelope block: log time to the loudest frame, decay slope after it (dB/s / 50), levels at evenly spaced times.

    ``rms`` [shape=(n_frames,)] is the note's frame level (plus 1e-6), relative to whose maximum the levels are taken.
    """
    level_db = 20.0 * np.log10(rms / rms.max())
    k = int(np.argmax(rms))
    t = np.arange(rms.shape[0]) * settings.hop_length / settings.sr
    slope = np.polyfit(t[k:], level_db[k:], 1)[0] if rms.shape[0] - k > 2 else 0.0
    points = np.interp(np.linspace(0.0, 1.0, settings.n_envelope), np.linspace(0.0, 1.0, rms.shape[0]), level_db)
    return np.concatenate([[np.log(t[k] + 0.01), np.clip(slope, -200.0, 50.0) / 50.0], points])


def _harmonics(spectrum: np.ndarray, f0_hz: float, freqs: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """Levels of harmonics 1..n_harmonics in dB relative to the strongest (floor -80).

    Each is the loudest bin within 3 % + 15 Hz of a multiple of ``f0_hz`` in the note's mean power ``spectrum``
    [shape=(1 + n_fft // 2,)].
    """
    harmonics = np.full(settings.n_harmonics, -80.0)
    f = f0_hz * np.arange(1, settings.n_harmonics + 1)
    f = f[f < settings.sr / 2]
    lo = np.searchsorted(freqs, 0.97 * f - 15.0, side="right")  # first bin above the band's lower edge
    hi = np.searchsorted(freqs, 1.03 * f + 15.0, side="left")  # first bin at or above its upper edge
    peaks = np.array([spectrum[i:j].max() for i, j in zip(lo, hi, strict=True)], dtype=np.float32)
    harmonics[: len(f)] = 10.0 * np.log10(peaks + 1e-10)
    return np.maximum(harmonics - harmonics.max(), -80.0)


def _pitch_normalized(centroid, bandwidth, rolloff, flatness, f0_hz: float) -> np.ndarray:
    """Pitch-normalized shape block.

    log2 of the mean centroid, bandwidth and roll-off over f0, log10 of the mean flatness, the spread of log2
    centroid and log2 f0 (each argument [shape=(n_frames,)] but ``f0_hz``).
    """
    return np.array([
        np.log2(np.mean(centroid) / f0_hz + 1e-6), np.log2(np.mean(bandwidth) / f0_hz + 1e-6),
        np.log2(np.mean(rolloff) / f0_hz + 1e-6), np.log10(np.mean(flatness) + 1e-10),
        np.std(np.log2(centroid + 1.0)), np.log2(f0_hz),
    ])


def feature_blocks(y, *, sr: int = SR, settings: FeatureSettings = DEFAULT_FEATURES) -> dict:
    """The named blocks of :func:`note_features` (see :attr:`FeatureSettings.blocks`), plus the spectra behind them.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n_channels, n)]
        One note.
    sr : int
        Sample rate of ``y`` in Hz; must equal ``settings.sr`` (resample first).
    settings : FeatureSettings
        How the features are computed.

    Returns
    -------
    dict
        Block name -> np.ndarray [shape=(settings.blocks[name],)], and ``"power"`` (the power spectrogram
        [shape=(1 + n_fft // 2, n_frames)]), ``"log_mel"`` [shape=(n_mels, n_frames)], ``"mfcc"`` (all
        ``n_mfcc`` rows) and ``"f0_hz"`` (float).
    """
    _check_settings(settings)
    return _analyse([_valid_note(y, sr, settings)], settings, spectra=True)[0]


def _vector(blocks: dict, settings: FeatureSettings) -> np.ndarray:
    """One note's blocks as its float32 feature vector; non-finite values are an error naming the first one."""
    out = np.concatenate([blocks[name] for name in settings.blocks]).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        names = settings.feature_names
        raise ParameterError(f"the note's features are not finite: {bad.size} NaN/Inf value(s), first "
                             f"{names[bad[0]]} = {out[bad[0]]}")
    return out


def note_features(y, *, sr: int = SR, settings: FeatureSettings = DEFAULT_FEATURES) -> np.ndarray:
    """Turn one note into its feature vector.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n_channels, n)]
        The note's samples, at least :data:`MIN_NOTE_S` long; channels are averaged.
    sr : int
        Sample rate in Hz; must be ``settings.sr``.
    settings : FeatureSettings
        How the features are computed.

    Returns
    -------
    np.ndarray [shape=(settings.n_features,), dtype=float32]
        120 values with the default settings; see the module docstring for the layout. Deterministic: the same
        samples give the same vector, alone or among other notes (:func:`notes_features`).

    Raises
    ------
    ParameterError
        Unusable audio (see :func:`instrumentid.audio.valid_audio`), a note shorter than :data:`MIN_NOTE_S`, a
        sample rate other than the analysis rate, or features that come out NaN or infinite (never replaced by a
        number: the message names the first such feature).
    """
    return notes_features([y], sr=sr, settings=settings)[0]


def notes_features(notes, *, sr: int = SR, settings: FeatureSettings = DEFAULT_FEATURES,
                   labels=None) -> np.ndarray:
    """Featurize several notes, analysed together in batches of up to :data:`BATCH_FRAMES` STFT frames.

    Each row is the vector :func:`note_features` gives for that note alone, to the bit: the batch shares the FFT,
    descriptor and pitch-track calls, not the numbers. An embedding (``settings.embedding``) follows the descriptors,
    computed in batches too (:func:`instrumentid.pretrained.note_pools`; the same to float rounding, about 1e-6 of
    its largest value, since ONNX Runtime sums in another order for another batch).

    Parameters
    ----------
    notes : sequence of np.ndarray [shape=(n_i,)]
        One array of samples per note (lengths may differ).
    sr : int
        Sample rate in Hz.
    settings : FeatureSettings
        How the features are computed.
    labels : sequence of str, optional
        What to call each note in an error message (e.g. where it is in its recording).

    Returns
    -------
    np.ndarray [shape=(n_notes, settings.n_features), dtype=float32]

    Raises
    ------
    ParameterError
        As :func:`note_features`, for the first note at fault (named by its label when ``labels`` is given).
    """
    _check_settings(settings)
    steady_heap()  # freed FFT buffers and spectra reused, not faulted in again for every batch
    notes = list(notes)
    out = np.empty((len(notes), settings.n_features), dtype=np.float32)
    todo = []
    for i, y in enumerate(notes):
        with _named(labels, i):
            todo.append(_valid_note(y, sr, settings))
    # batches of up to BATCH_FRAMES frames, and at least two per thread when there are enough notes (the 20 notes of a
    # 16 s recording made 3 batches of 256 frames for 2 threads: the last ran alone)
    longest = min(BATCH_FRAMES, -(-sum(_n_frames(y, settings) for y in todo) // (2 * worker_threads())))
    batches = []
    start = 0
    while start < len(todo):
        stop, n_frames = start, 0
        while stop < len(todo) and (stop == start or n_frames + _n_frames(todo[stop], settings) <= longest):
            n_frames += _n_frames(todo[stop], settings)
            stop += 1
        batches.append((start, stop))
        start = stop
    # The batches run side by side on the cores (FFTs and array operations release the GIL; each note's numbers do
    # not depend on its batch), each with one BLAS thread: the mel products are small, and a second BLAS thread per
    # product only spun (twice the CPU time for the same wall time). One BLAS thread is also what the data set
    # builder's worker processes use, so a note gives the same row in a build and in predict.
    with one_blas_thread():
        analysed = thread_map(lambda a, b: _analyse(todo[a:b], settings), batches)
        for (start, _), results in zip(batches, analysed, strict=True):
            for i, blocks in enumerate(results, start=start):
                with _named(labels, i):
                    out[i, :settings.n_descriptors] = _vector(blocks, settings)
    if settings.embedding is not None:
        out[:, settings.n_descriptors:] = note_pools(todo, sr=sr, network=settings.embedding,
                                                     n_frames=settings.embedding_frames)
    return out


def _n_frames(y: np.ndarray, settings: FeatureSettings) -> int:
    return 1 + y.shape[0] // settings.hop_length


class _named:
    """Context manager: a ParameterError raised inside names note ``i`` by its label, when there are labels."""

    def __init__(self, labels, i: int) -> None:
        self.label = None if labels is None else labels[i]

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if self.label is not None and kind is not None and issubclass(kind, ParameterError):
            raise ParameterError(f"{self.label}: {err}") from None
        return False


def segment_features(y, notes, *, sr: int = SR, settings: FeatureSettings = DEFAULT_FEATURES) -> np.ndarray:
    """Featurize the notes of a recording: one row per note, from its onset to the end of its release.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        The recording, mono, at ``sr``.
    notes : sequence of :class:`~instrumentid.notes.Note`
        Where the notes are (e.g. from :func:`instrumentid.notes.detect_notes`); each is featurized from
        ``start_s`` to ``end_s + release_s``.
    sr : int
        Sample rate in Hz.
    settings : FeatureSettings
        How the features are computed.

    Returns
    -------
    np.ndarray [shape=(n_notes, settings.n_features), dtype=float32]
    """
    clips = [y[round(n.start_s * sr): round(n.sound_end_s * sr)] for n in notes]
    labels = [f"note {i} ({n.name}, {n.start_s:.3f}-{n.end_s:.3f} s)" for i, n in enumerate(notes, start=1)]
    return notes_features(clips, sr=sr, settings=settings, labels=labels)


@dataclass(frozen=True)
class MelSpectrogram:
    """A mel spectrogram in dB with what is needed to draw it on time and frequency axes.

    Attributes
    ----------
    S_db : np.ndarray [shape=(n_mels, n_frames)]
        Power in dB relative to the loudest bin (0 dB at the maximum, floor at -80 dB).
    sr : int
        Sample rate of the audio in Hz.
    hop_length : int
        Samples between frames.
    fmax : float
        Highest band edge in Hz.
    """

    S_db: np.ndarray
    sr: int
    hop_length: int
    fmax: float


def mel_spectrogram(y, *, sr: int = SR, n_mels: int = MEL_N_MELS, fmax: float = MEL_FMAX) -> MelSpectrogram:
    """Mel spectrogram in dB (the lab's step 1), referenced to its maximum.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n_channels, n)]
    sr : int
        Sample rate in Hz.
    n_mels : int
        Number of mel bands.
    fmax : float
        Highest band edge in Hz.

    Returns
    -------
    MelSpectrogram
        ``S_db`` of shape (n_mels, n_frames), hop :data:`MEL_HOP_LENGTH`.
    """
    import librosa

    y = valid_audio(y, sr=sr, name="audio")
    if y.ndim == 2:
        y = y.mean(axis=0)
    if not (isinstance(n_mels, (int, np.integer)) and n_mels > 0):
        raise ParameterError(f"n_mels must be a positive integer, got {n_mels!r}")
    if not 0 < fmax <= sr / 2:
        raise ParameterError(f"fmax must be in (0, sr/2 = {sr / 2}] Hz, got {fmax!r}")
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=MEL_N_FFT, hop_length=MEL_HOP_LENGTH, n_mels=int(n_mels),
                                       fmax=fmax)
    return MelSpectrogram(librosa.power_to_db(S, ref=np.max, top_db=80.0), int(sr), MEL_HOP_LENGTH, float(fmax))

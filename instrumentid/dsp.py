"""librosa's arithmetic on the analysis path, without importing librosa at run time.

Note detection and the features compute what ``librosa`` functions compute (the same steps and float types, so the
same bits; ``tests/test_dsp.py`` compares every function here with librosa on many signals). What they do not need
is librosa's import: ``scipy.signal``, numba and the machine code of librosa's numba functions are most of the time
and memory of a cold ``instrumentid predict`` (``benchmarks/import_cost.py``). The arrays librosa builds once (the
mel filter bank, the STFT window) are computed with librosa once per machine and librosa version and kept in the
cache folder (:func:`kept_array`); librosa stays the reference and a dependency (plots, the lab's spectrogram,
the set-up, the tests).

Functions take the arguments of the librosa call they stand for, with the defaults this package uses.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

#: Names of the twelve pitch classes, as ``librosa.midi_to_note(..., unicode=False)`` spells them.
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _librosa_mel(*, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)


def _librosa_window(*, n_fft: int) -> np.ndarray:
    import librosa

    return librosa.filters.get_window("hann", n_fft, fftbins=True)


#: What :func:`kept_array` computes with librosa, by kind.
_LIBROSA_ARRAYS: dict[str, Callable[..., np.ndarray]] = {"mel": _librosa_mel, "window": _librosa_window}


def kept_array(kind: str, shape: tuple, **args) -> np.ndarray:
    """An array librosa computes (``kind`` of :data:`_LIBROSA_ARRAYS` with ``args``), kept in the cache folder.

    Computed once per machine and librosa version, then read back with numpy: the same bits, without importing
    librosa's ``filters``. A missing, unreadable or misshapen file is computed again; a cache folder that cannot be
    written is no error.

    Returns
    -------
    np.ndarray [shape=shape] (read-only)
    """
    import hashlib
    import json
    from importlib.metadata import version

    from instrumentid.util import atomic_file, cache_dir

    spec = json.dumps({"kind": kind, "librosa": version("librosa"), **args}, sort_keys=True)
    path = cache_dir() / "filters" / f"{kind}-{hashlib.sha256(spec.encode()).hexdigest()[:16]}.npy"
    try:
        array = np.load(path, allow_pickle=False)
        ok = array.shape == shape and bool(np.isfinite(array).all())
    except (OSError, ValueError):
        ok = False
    if not ok:
        array = _LIBROSA_ARRAYS[kind](**args)
        try:
            with atomic_file(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, array, allow_pickle=False)
        except OSError:
            pass  # a cache folder that cannot be written: computed again by the next process, nothing else changes
    array.flags.writeable = False
    return array


@functools.lru_cache(maxsize=8)
def mel_basis(sr: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)``, float32 (read-only, kept).

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + n_fft // 2), dtype=float32]
    """
    fmax = float(sr) / 2 if fmax is None else fmax
    return kept_array("mel", (n_mels, 1 + n_fft // 2), sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)


@functools.lru_cache(maxsize=8)
def hann_window(n_fft: int) -> np.ndarray:
    """The periodic Hann window of librosa's STFT, float64 [shape=(n_fft,)] (read-only, kept)."""
    return kept_array("window", (n_fft,), n_fft=n_fft)


def frame(y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """``librosa.util.frame(y, frame_length=frame_length, hop_length=hop_length)`` of a 1-D signal (a view).

    Returns
    -------
    np.ndarray [shape=(frame_length, 1 + (len(y) - frame_length) // hop_length)]
        Column ``t`` is ``y[t * hop_length : t * hop_length + frame_length]``.
    """
    if y.shape[-1] < frame_length:
        raise ValueError(f"signal of {y.shape[-1]} samples is shorter than frame_length={frame_length}")
    return np.lib.stride_tricks.sliding_window_view(y, frame_length)[::hop_length].T


def rms(y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """``librosa.feature.rms(y=y, frame_length=, hop_length=, center=False)[0]``: the RMS of each frame.

    Returns
    -------
    np.ndarray [shape=(n_frames,), dtype=float32]
    """
    power = np.mean(np.square(frame(y, frame_length, hop_length), dtype=np.float32), axis=-2)
    return np.sqrt(power)


def power_to_db(S: np.ndarray, *, amin: float = 1e-10, top_db: float | None = None) -> np.ndarray:
    """``librosa.power_to_db(S, ref=1.0, amin=amin, top_db=top_db)`` (note: ``top_db`` defaults to None here)."""
    log_spec = 10.0 * np.log10(np.maximum(amin, S))
    log_spec -= 10.0 * np.log10(np.maximum(amin, 1.0))
    if top_db is not None:
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


def amplitude_to_db(S: np.ndarray, *, amin: float = 1e-10) -> np.ndarray:
    """``librosa.amplitude_to_db(S, ref=1.0, amin=amin, top_db=None)``: 20 log10 of the magnitude."""
    magnitude = np.abs(np.asarray(S))
    return power_to_db(np.square(magnitude, out=magnitude if isinstance(magnitude, np.ndarray) else None),
                       amin=amin**2)


def hz_to_midi(frequencies):
    """``librosa.hz_to_midi``: fractional MIDI note numbers of frequencies in Hz."""
    return 12 * (np.log2(np.asanyarray(frequencies)) - np.log2(440.0)) + 69


def midi_to_hz(notes):
    """``librosa.midi_to_hz``: frequencies in Hz of (fractional) MIDI note numbers."""
    return 440.0 * (2.0 ** ((np.asanyarray(notes) - 69.0) / 12.0))


def midi_to_note(midi: int) -> str:
    """``librosa.midi_to_note(midi, unicode=False)`` of a whole MIDI number: its name and octave (69 -> ``'A4'``)."""
    midi = int(midi)
    return f"{PITCH_CLASSES[midi % 12]}{midi // 12 - 1}"


#: Frames :func:`frame_magnitudes` transforms at a time (any number gives the same bits). On a quiet machine (load
#: 1.2, ``benchmarks/chunk_sizes.py --rounds 6``) 128 took 0.94x the time of 32 (672x against 635x real time at
#: best) and 256 0.94x; on a busy one 128 took 1.2x (32 keeps the float64 frames and spectra, 0.5 MB, in cache).
STFT_FRAMES = 128


def frame_magnitudes(frames: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """The magnitude spectrum of every frame, as ``librosa.stft`` computes each column.

    Each frame times a float64 Hann window, its real FFT rounded to complex64 as librosa stores it, then the
    magnitude; a few frames per FFT call, so the windowed frames and their spectra stay in the processor's cache.

    Parameters
    ----------
    frames : np.ndarray [shape=(n, n_fft), dtype=float32]
        One frame per row (may be a strided view).
    rows : np.ndarray [shape=(n_frames,), dtype=int], optional
        The rows of ``frames`` that are frames (default: all), e.g. the frames of several signals in a view of every
        window of them laid end to end, so the view need not be copied.

    Returns
    -------
    np.ndarray [shape=(n_frames, 1 + n_fft // 2), dtype=float32]
    """
    from scipy.fft import rfft

    n_fft = frames.shape[-1]
    n = frames.shape[0] if rows is None else len(rows)
    out = np.empty((n, 1 + n_fft // 2), dtype=np.float32)
    window = hann_window(n_fft)
    step = STFT_FRAMES
    for i in range(0, n, step):
        block = frames[i:i + step] if rows is None else frames[rows[i:i + step]]
        # the windowed frames are freed once their spectrum exists, before it is rounded to complex64
        np.abs(rfft(block * window, axis=-1).astype(np.complex64), out=out[i:i + step])
    return out


def stft_magnitude(y: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length, center=False))`` of a float32 signal.

    Returns
    -------
    np.ndarray [shape=(1 + n_fft // 2, n_frames), dtype=float32]
    """
    return frame_magnitudes(frame(y, n_fft, hop_length).T).T


def melspectrogram(S: np.ndarray, sr: int) -> np.ndarray:
    """``librosa.feature.melspectrogram(S=S, sr=sr)`` of a power spectrogram: 128 mel bands from 0 Hz to ``sr / 2``.

    Parameters
    ----------
    S : np.ndarray [shape=(1 + n_fft // 2, n_frames)]
        Power spectrogram.

    Returns
    -------
    np.ndarray [shape=(128, n_frames)]
    """
    basis = mel_basis(sr, 2 * (S.shape[-2] - 1))
    if S.ndim == 2 and S.T.flags.c_contiguous:
        # a spectrogram laid out frame by frame (an STFT's transpose): librosa's einsum is the BLAS product basis @ S,
        # which OpenBLAS runs up to 20x slower on 2 threads in this layout (20-35 ms of a 16 s recording's note
        # detection); written as (S.T @ basis.T).T, the same product with the operands' roles swapped, it gives the
        # same bits (tests/test_dsp.py: 1-4200 frames, 1 and 2 BLAS threads; in the other layout it does not)
        return (S.T @ basis.T).T
    return np.einsum("...ft,mf->...mt", S, basis, optimize=True)


def onset_strength(S: np.ndarray, *, hop_length: int, lag: int = 1, max_size: int = 1, n_fft: int = 2048
                   ) -> np.ndarray:
    """``librosa.onset.onset_strength(S=S, hop_length=, lag=, max_size=)``: spectral flux of a dB spectrogram.

    The rise of every band over the band's value ``lag`` frames before (the maximum over ``max_size`` neighbouring
    bands, as SuperFlux), negative rises set to 0, averaged over the bands, and delayed by ``lag + n_fft // (2 *
    hop_length)`` frames (librosa's centring) with zeros in front.

    Parameters
    ----------
    S : np.ndarray [shape=(n_bands, n_frames)]
        A (mel) spectrogram in dB.

    Returns
    -------
    np.ndarray [shape=(n_frames,)]
    """
    import scipy.ndimage

    ref = S if max_size == 1 else scipy.ndimage.maximum_filter1d(S, max_size, axis=-2)
    flux = np.maximum(0.0, S[..., lag:] - ref[..., :-lag])
    envelope = np.mean(flux, axis=-2)
    envelope = np.pad(envelope, (lag + n_fft // (2 * hop_length), 0), mode="constant")
    return envelope[: S.shape[-1]]


def peak_pick(x: np.ndarray, *, pre_max: int, post_max: int, pre_avg: int, post_avg: int, delta: float,
              wait: int) -> np.ndarray:
    """``librosa.util.peak_pick``: the frames that are a local maximum, over the local mean + ``delta``, ``wait`` apart.

    Frame ``n`` is a peak when ``x[n]`` is the maximum of ``x[n - pre_max : n + post_max]`` and at least the mean of
    ``x[n - pre_avg : n + post_avg]`` plus ``delta``; after a peak the next ``wait`` frames are skipped (greedily, from
    the start). As librosa's compiled loop: the mean is accumulated in ``x``'s float type one value after the other,
    divided by the count in float64 and rounded back to ``x``'s type, and ``delta`` is added in that type.

    Returns
    -------
    np.ndarray [shape=(n_peaks,), dtype=int]
    """
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=int)
    # x[n] == max(x[max(0, n - pre_max) : min(n + post_max, len)]): a maximum filter over that window
    padded = np.pad(x, (pre_max, post_max - 1), mode="edge")  # repeated edge values change no window's maximum
    local_max = np.lib.stride_tricks.sliding_window_view(padded, pre_max + post_max).max(axis=-1)
    candidates = np.flatnonzero(x == local_max)
    if candidates.size == 0:
        return candidates
    # windowed means of the candidates: each window's values summed in order (zeros after its end change no sum)
    lo = np.maximum(candidates - pre_avg, 0)
    hi = np.minimum(candidates + post_avg, n)
    width = pre_avg + post_avg
    padded = np.concatenate([x, np.zeros(width, dtype=x.dtype)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)[lo]
    windows = np.where(np.arange(width) < (hi - lo)[:, None], windows, x.dtype.type(0))
    sums = np.add.accumulate(windows, axis=1, dtype=x.dtype)[:, -1]
    means = (sums.astype(np.float64) / (hi - lo)).astype(x.dtype)
    above = x[candidates] >= means + x.dtype.type(delta)
    peaks = []
    next_free = 0
    for frame_n, ok in zip(candidates.tolist(), above.tolist(), strict=True):
        if frame_n >= next_free and ok:
            peaks.append(frame_n)
            next_free = frame_n + wait + 1
    return np.asarray(peaks, dtype=int)


def onset_detect(envelope: np.ndarray, *, sr: int, hop_length: int) -> np.ndarray:
    """``librosa.onset.onset_detect(onset_envelope=envelope, sr=sr, hop_length=hop_length, units="frames")``.

    The envelope scaled to [0, 1], then :func:`peak_pick` with librosa's defaults: a maximum over the 30 ms before,
    over the mean of the 100 ms around + 0.07, 30 ms apart.

    Returns
    -------
    np.ndarray [shape=(n_onsets,), dtype=int]
        Frames of the onsets.
    """
    env = envelope - np.min(envelope, keepdims=True, axis=-1)
    env /= np.max(env, keepdims=True, axis=-1) + np.finfo(env.dtype).tiny
    if not env.any() or not np.all(np.isfinite(env)):
        return np.zeros(0, dtype=int)
    frames_of = lambda seconds: int(np.ceil(seconds * sr // hop_length))  # noqa: E731
    return peak_pick(env, pre_max=frames_of(0.03), post_max=frames_of(0.0) + 1, pre_avg=frames_of(0.10),
                     post_avg=frames_of(0.10) + 1, delta=0.07, wait=frames_of(0.03))


def onset_backtrack(events: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """``librosa.onset.onset_backtrack(events, energy)``: each event moved back to the nearest energy minimum before it.

    Minima are frames not above the frame before and below the frame after, and frame 0.

    Returns
    -------
    np.ndarray [shape=events.shape, dtype=int]
    """
    minima = np.flatnonzero((energy[1:-1] <= energy[:-2]) & (energy[1:-1] < energy[2:])) + 1
    minima = np.unique(np.concatenate([[0], minima]))
    return minima[np.searchsorted(minima, events, side="right") - 1]


#: Frames :func:`yin` computes at a time (any number gives the same bits): 64 frames (about 2.5 MB of buffers) took
#: 1.4x less CPU than 256 on a busy machine, but on a quiet one 256 made feature extraction and warm predict 7 %
#: faster (benchmarks/compare_analysis.py, interleaved; see benchmarks/RESULTS.md).
YIN_FRAMES = 256


def yin(frames: np.ndarray, *, sr: int, fmin: float, fmax: float) -> np.ndarray:
    """``librosa.yin``'s f0 of frames already cut (the same steps and float types, to the bit).

    librosa's cumulative mean normalized difference computed from an FFT autocorrelation, the first trough under 0.1
    (else the global minimum), parabolic interpolation; lags along each frame's contiguous axis.

    Parameters
    ----------
    frames : np.ndarray [shape=(n_frames, frame_length), dtype=float32]
        One frame per row (e.g. ``frame(y, frame_length, hop_length).T``).
    sr : int
        Sample rate in Hz.
    fmin, fmax : float
        Pitch search range in Hz.

    Returns
    -------
    np.ndarray [shape=(n_frames,), dtype=float64]
        f0 in Hz.
    """
    from scipy.fft import irfft, next_fast_len, rfft

    if frames.shape[0] > YIN_FRAMES:  # frame by frame: the same values, its buffers in cache
        return np.concatenate([yin(frames[i:i + YIN_FRAMES], sr=sr, fmin=fmin, fmax=fmax)
                               for i in range(0, frames.shape[0], YIN_FRAMES)])
    frame_length = frames.shape[-1]
    min_period = int(np.floor(sr / fmax))
    max_period = min(int(np.ceil(sr / fmin)), frame_length - 1)
    n_pad = next_fast_len(2 * frame_length - 1, real=True)
    spectrum = rfft(frames, n=n_pad, axis=-1)
    power = np.square(spectrum.real)
    power += np.square(spectrum.imag)  # re**2 + im**2, without the temporaries
    acf = irfft(power, n=n_pad, axis=-1)[:, : max_period + 1]
    energy = np.cumsum(np.square(frames[:, :max_period]), axis=-1)
    energy[:, 0] = 0  # librosa zeroes the first row of the running energy before subtracting it
    diff = 2 * (acf[:, :1] - acf[:, 1:]) - energy  # difference function at lags 1..max_period
    mean = np.cumsum(diff, axis=-1) / np.arange(1, max_period + 1)
    denominator = mean[:, min_period - 1 :]
    denominator += np.finfo(denominator.dtype).tiny
    cmnd = np.divide(diff[:, min_period - 1 :], denominator, out=denominator)
    n_lags = cmnd.shape[1]
    # the first trough under the threshold, else the global minimum: a lag is a trough when it is under its left
    # neighbour and not over its right one (the first lag: under its right one; the last: under its left one), tested
    # only at the lags under the threshold (a fraction of them) instead of at every lag
    rows, lags = np.nonzero(cmnd < 0.1)  # row by row, lags ascending
    value = cmnd[rows, lags]
    left = cmnd[rows, np.maximum(lags - 1, 0)]
    right = cmnd[rows, np.minimum(lags + 1, n_lags - 1)]
    trough = np.where(lags == 0, value < right,
                      np.where(lags == n_lags - 1, value < left, (value < left) & (value <= right)))
    found, first = np.unique(rows[trough], return_index=True)
    period = np.empty(cmnd.shape[0], dtype=np.intp)
    period[found] = lags[trough][first]
    none = np.ones(cmnd.shape[0], dtype=bool)
    none[found] = False
    if none.any():
        period[none] = np.argmin(cmnd[none], axis=1)
    # parabolic interpolation around the chosen lag (none at the ends)
    rows = np.arange(cmnd.shape[0])
    inner = np.clip(period, 1, cmnd.shape[1] - 2)
    left, mid, right = cmnd[rows, inner - 1], cmnd[rows, inner], cmnd[rows, inner + 1]
    a = right + left - 2 * mid
    b = (right - left) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a)
    shift[(period == 0) | (period == cmnd.shape[1] - 1)] = 0.0
    return sr / (min_period + period + shift)

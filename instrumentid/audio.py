"""Load and validate audio.

Everything instrumentid analyses goes through :func:`load_audio` (files) or :func:`valid_audio` (arrays), so every
entry point rejects the same unusable input with the same message.

Files are decoded :data:`BLOCK_FRAMES` frames at a time: each block is checked, mixed down and resampled (soxr's
streaming resampler) before the next is read, so the file's full-rate, multi-channel signal is never in memory at
once; the result is that of decoding the whole file and resampling it in one call, sample for sample.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from instrumentid.errors import ParameterError
from instrumentid.settings import SR

__all__ = [
    "AUDIO_EXTENSIONS",
    "BLOCK_FRAMES",
    "MAX_DURATION_S",
    "MAX_SR",
    "MIN_SAMPLES",
    "MIN_SR",
    "SR",
    "is_audio_file",
    "load_audio",
    "prepare",
    "resample",
    "to_mono",
    "valid_audio",
]

#: Sample rates (Hz) accepted: anything outside is refused before decoding or resampling (a header claiming 1 Hz
#: would be resampled 22,050-fold: a memory bomb).
MIN_SR, MAX_SR = 1_000, 768_000
#: Longest recording accepted by default, in seconds (20 minutes). Decoding takes little memory (in blocks: 344 MB
#: peak for 60 minutes of 44.1 kHz stereo), but note detection holds the recording's whole spectrogram: measured peak
#: of ``instrumentid notes`` and ``predict`` 1.8 GB for 30 minutes (``benchmarks/long_memory.py``); pass
#: ``max_duration_s`` (``--max-minutes``) to accept longer ones.
MAX_DURATION_S = 1200.0
#: Resampler of every rate conversion: soxr's high quality (librosa's name for it; soxr takes the same string).
RES_TYPE = "soxr_hq"
#: Frames decoded (and checked, mixed down, resampled) at a time: 6 s at 44.1 kHz, 2 MB in stereo float32.
BLOCK_FRAMES = 2**18
#: Shortest usable signal: one analysis frame (``n_fft`` of the feature code) at :data:`SR`.
MIN_SAMPLES = 2048
#: File name extensions treated as audio when folders are walked.
AUDIO_EXTENSIONS = (".wav", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".opus")
#: Peak level (linear) under which a signal is considered silent (-80 dBFS).
SILENCE_PEAK = 1e-4


def is_audio_file(path) -> bool:
    """Return True if ``path`` has an audio file extension (see :data:`AUDIO_EXTENSIONS`)."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average channels.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n_channels, n)]

    Returns
    -------
    np.ndarray [shape=(n,)]
    """
    y = np.asarray(y)
    if y.ndim == 2:
        return y.mean(axis=0)
    return y


def valid_audio(y, *, sr: float | None = None, name: str = "audio") -> np.ndarray:
    """Check that ``y`` is usable audio and return it as float32.

    Raises on unusable input, warns on suspicious input (as openl3 does).

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n_channels, n)]
        Audio samples, floating point.
    sr : float, optional
        Sample rate in Hz; checked to be positive if given.
    name : str
        How to call the signal in messages (e.g. its file name).

    Returns
    -------
    y : np.ndarray [shape=(n,) or (n_channels, n), dtype=float32]

    Raises
    ------
    ParameterError
        Not an array of floats, more than 2 dimensions, empty, or containing NaN/Inf; or an ``sr`` outside
        :data:`MIN_SR`-:data:`MAX_SR`.

    Warns
    -----
    UserWarning
        Silent (peak under -80 dBFS) or shorter than one analysis frame (:data:`MIN_SAMPLES` at :data:`SR`).
    """
    if sr is not None:
        _check_sr(sr, name)
    if not isinstance(y, np.ndarray):
        raise ParameterError(f"{name}: audio must be a numpy array, got {type(y).__name__}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"{name}: audio must be floating point, got dtype {y.dtype}")
    if y.ndim not in (1, 2):
        raise ParameterError(f"{name}: audio must have shape (n,) or (n_channels, n), got shape {y.shape}")
    checks = _Checks(name, 1 if y.ndim == 1 else y.shape[0])
    checks.add(y)
    checks.finish(sr, shape=y.shape, stacklevel=3)
    return y.astype(np.float32, copy=False)


class _Checks:
    """What :func:`valid_audio` checks, gathered block by block over a signal of ``n_channels`` channels.

    :meth:`add` takes each block (shape (m,) or (n_channels, m), float32) in order; :meth:`finish` raises or warns as
    :func:`valid_audio` does for the whole signal, with the same messages (a NaN's index is that in the whole signal
    flattened channel by channel).
    """

    def __init__(self, name: str, n_channels: int) -> None:
        self.name = name
        self.n = 0  # samples per channel seen
        self.peak = 0.0
        self.n_bad = 0
        self.first_bad: list[int | None] = [None] * n_channels  # per channel, index in the whole signal

    def add(self, y: np.ndarray) -> np.ndarray:
        """Check one block and return it; the ``n`` samples seen so far are counted."""
        if y.size:
            # the extremes: finite only if every sample is (NaN propagates), and the peak is the larger magnitude
            lo, hi = float(np.min(y)), float(np.max(y))
            if not (math.isfinite(lo) and math.isfinite(hi)):
                for c, row in enumerate(np.atleast_2d(np.isfinite(y))):
                    bad = np.flatnonzero(~row)
                    self.n_bad += bad.size
                    if bad.size and self.first_bad[c] is None:
                        self.first_bad[c] = self.n + int(bad[0])
            elif not self.n_bad:
                self.peak = max(self.peak, -lo, hi)
        self.n += y.shape[-1]
        return y

    @property
    def finite(self) -> bool:
        """No NaN/Inf so far."""
        return not self.n_bad

    def finish(self, sr: float | None, *, shape: tuple, stacklevel: int) -> None:
        """Raise on an empty signal or one with NaN/Inf, warn on a silent or short one (at ``sr``).

        ``shape`` is the whole signal's, for the message.
        """
        if self.n == 0 or 0 in shape:
            raise ParameterError(f"{self.name}: audio is empty (shape {shape})")
        if self.n_bad:
            first = next(c * self.n + i for c, i in enumerate(self.first_bad) if i is not None)
            raise ParameterError(
                f"{self.name}: audio contains {self.n_bad} NaN/Inf sample(s), first at index {first}"
            )
        if self.peak < SILENCE_PEAK:
            warnings.warn(f"{self.name}: audio is silent (peak under -80 dBFS)", UserWarning, stacklevel=stacklevel)
        min_samples = MIN_SAMPLES if sr is None else int(np.ceil(MIN_SAMPLES * sr / SR))
        if self.n < min_samples:
            warnings.warn(
                f"{self.name}: audio is shorter than one analysis frame ({self.n} < {min_samples} samples)",
                UserWarning,
                stacklevel=stacklevel,
            )


def _check_sr(sr, name: str) -> None:
    if (isinstance(sr, bool) or not isinstance(sr, (int, float, np.integer, np.floating)) or not np.isfinite(sr)
            or sr <= 0):
        raise ParameterError(f"{name}: sample rate must be a positive number of Hz, got {sr!r}")
    if not MIN_SR <= sr <= MAX_SR:
        raise ParameterError(f"{name}: sample rate {sr!r} Hz is outside the supported {MIN_SR:,}-{MAX_SR:,} Hz")


def load_audio(path, *, sr: int | None = SR, mono: bool = True,
               max_duration_s: float | None = MAX_DURATION_S) -> tuple[np.ndarray, int]:
    """Load an audio file (WAV, AIFF, FLAC, OGG, MP3, ...) as float32, mono, resampled to ``sr``.

    Parameters
    ----------
    path : str or os.PathLike
        The audio file.
    sr : int or None
        Target sample rate in Hz (default :data:`SR`); None keeps the file's rate.
    mono : bool
        Mix channels down to one.
    max_duration_s : float or None
        Longest recording accepted, in seconds (default :data:`MAX_DURATION_S`; None for no limit). Checked from
        the header before decoding where the format tells its length.

    Returns
    -------
    y : np.ndarray [shape=(n,) if mono else (n_channels, n), dtype=float32]
    sr : int
        Sample rate of ``y`` in Hz.

    Raises
    ------
    ParameterError
        Missing file, a folder, a file that no decoder reads, or audio that :func:`valid_audio` rejects.

    Notes
    -----
    The file is decoded :data:`BLOCK_FRAMES` frames at a time; each block is checked, mixed down and resampled with
    the streaming form of :func:`resample` before the next is read. Memory holds the result and one block, never the
    whole decoded file, and the samples are those of decoding it whole, mixing down and resampling in one call.
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise ParameterError(f"audio file not found: {str(path)!r}")
    if path.is_dir():
        raise ParameterError(f"expected an audio file, got a folder: {str(path)!r}")
    if path.stat().st_size == 0:
        raise ParameterError(f"audio file is empty (0 bytes): {str(path)!r}")
    _check_header(path, max_duration_s=max_duration_s)
    try:
        y, file_sr = _load_blocks(path, _soundfile_blocks(path), sr=sr, mono=mono, max_duration_s=max_duration_s)
    except _Undecodable:
        y, file_sr = _load_blocks(path, _fallback_blocks(path), sr=sr, mono=mono, max_duration_s=max_duration_s)
    return y, file_sr


class _Undecodable(Exception):
    """libsndfile cannot open or read the file: try the other decoders."""


#: What a decoder gives :func:`_load_blocks`: its sample rate (Hz), channels, frames the header announces (0 if
#: unknown), and the blocks of samples, each of shape (n_channels, m), float32, in order.
_Blocks = tuple[int, int, int, Iterator[np.ndarray]]


def _load_blocks(path: Path, source: _Blocks, *, sr: int | None, mono: bool,
                 max_duration_s: float | None) -> tuple[np.ndarray, int]:
    """Check, mix down and resample ``source``'s blocks one by one into the output (see :func:`load_audio`)."""
    file_sr, n_channels, frames, blocks = source
    _check_sr(file_sr, path.name)
    target_sr = file_sr if sr is None else sr
    checks = _Checks(path.name, n_channels)
    stream = _Resampler(orig_sr=file_sr, target_sr=target_sr, n_channels=1 if mono else n_channels)
    # The output is allocated once at the length the header announces (bounded by what the file's size can hold),
    # and grows only if the header said too little.
    expected = min(frames, 64 * path.stat().st_size) if frames > 0 else BLOCK_FRAMES
    out = _Output(1 if mono else n_channels, stream.n_out(expected))
    for block in blocks:
        block = checks.add(block)
        _check_duration(checks.n / file_sr, max_duration_s, path.name)
        if checks.finite:  # after a NaN only the count goes on, for the message
            out.add(stream(to_mono(block)[np.newaxis] if mono else block))
    checks.finish(file_sr, shape=(n_channels, checks.n), stacklevel=3)  # warnings point at load_audio
    out.add(stream(np.zeros((stream.n_channels, 0), np.float32), last=True))
    y = out.result(stream.n_out(checks.n))
    return (y[0] if mono else y), int(target_sr)


class _Output:
    """An output signal filled block by block: shape (n_channels, n), allocated once, grown by doubling if full."""

    def __init__(self, n_channels: int, capacity: int, dtype=np.float32) -> None:
        self.data = np.empty((n_channels, max(1, capacity)), dtype)
        self.n = 0

    def add(self, y: np.ndarray) -> None:
        end = self.n + y.shape[-1]
        if end > self.data.shape[-1]:
            grown = np.empty((self.data.shape[0], max(end, 2 * self.data.shape[-1])), self.data.dtype)
            grown[:, : self.n] = self.data[:, : self.n]
            self.data = grown
        self.data[:, self.n: end] = y
        self.n = end

    def result(self, n: int) -> np.ndarray:
        """The first ``n`` samples of each channel, zero-padded if fewer were added (as librosa's resample pads)."""
        if n > self.n:
            self.add(np.zeros((self.data.shape[0], n - self.n), self.data.dtype))
        return self.data[:, :n]


def resample(y: np.ndarray, *, orig_sr: float, target_sr: float) -> np.ndarray:
    """Change the sample rate of ``y`` (the one resampler of instrumentid: soxr, high quality, :data:`RES_TYPE`).

    The same resampler as ``librosa.resample(y, res_type=RES_TYPE)``, sample for sample, length included
    (``ceil(n * target_sr / orig_sr)``); :func:`load_audio` runs it block by block on long files with the same result.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)]
        Floating point.
    orig_sr, target_sr : float
        Sample rates in Hz.

    Returns
    -------
    np.ndarray [shape=(..., ceil(n * target_sr / orig_sr)), dtype=y.dtype]
        ``y`` itself when the rates are equal.
    """
    if orig_sr == target_sr:
        return y
    y = np.asarray(y)
    x = y.reshape(-1, y.shape[-1])  # channels, each resampled on its own
    stream = _Resampler(orig_sr=orig_sr, target_sr=target_sr, n_channels=x.shape[0],
                        dtype=np.float64 if y.dtype == np.float64 else np.float32)
    out = _Output(x.shape[0], stream.n_out(x.shape[-1]), stream.dtype)
    out.add(stream(x, last=True))
    y_hat = out.result(stream.n_out(x.shape[-1])).reshape(*y.shape[:-1], -1)
    return y_hat.astype(y.dtype if np.issubdtype(y.dtype, np.floating) else np.float32, copy=False)


class _Resampler:
    """soxr's streaming resampler with the settings of every rate conversion (:data:`RES_TYPE`).

    Called on consecutive blocks of shape (n_channels, m), the last call with ``last=True``, it returns consecutive
    blocks of the resampled signal: joined, they are what one call of soxr on the whole signal returns (soxr's output
    does not depend on how the input is cut). :meth:`n_out` is the length to cut or pad that to, as librosa does.
    """

    def __init__(self, *, orig_sr: float, target_sr: float, n_channels: int, dtype=np.float32) -> None:
        import soxr  # type: ignore[import-untyped]

        self.orig_sr, self.target_sr, self.n_channels, self.dtype = orig_sr, target_sr, n_channels, np.dtype(dtype)
        self._stream = None if orig_sr == target_sr else soxr.ResampleStream(
            orig_sr, target_sr, n_channels, dtype=self.dtype.name, quality=RES_TYPE)

    def __call__(self, y: np.ndarray, *, last: bool = False) -> np.ndarray:
        y = y.astype(self.dtype, copy=False)
        if self._stream is None:
            return y
        return self._stream.resample_chunk(np.ascontiguousarray(y.T), last=last).T

    def n_out(self, n: int) -> int:
        """Length of ``n`` input samples once resampled: ``ceil(n * target_sr / orig_sr)`` (librosa's)."""
        return n if self._stream is None else int(np.ceil(n * (float(self.target_sr) / self.orig_sr)))


def prepare(y, *, sr: float, name: str = "audio") -> np.ndarray:
    """Validate an array, mix it down and resample it to :data:`SR`: what :func:`load_audio` does for files.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n_channels, n)]
        Audio samples, floating point.
    sr : float
        Sample rate of ``y`` in Hz.
    name : str
        What to call the signal in messages.

    Returns
    -------
    np.ndarray [shape=(m,), dtype=float32]
        Mono, at :data:`SR`, C-contiguous.

    Raises
    ------
    ParameterError
        See :func:`valid_audio`.
    """
    y = to_mono(valid_audio(y, sr=sr, name=name))
    return np.ascontiguousarray(resample(y, orig_sr=sr, target_sr=SR), dtype=np.float32)


@contextmanager
def _quiet_c_stderr():
    """Silence what C decoders (libsndfile's mpg123) print straight to file descriptor 2 while they run."""
    try:
        saved = os.dup(2)
    except OSError:  # pragma: no cover - no stderr to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _check_duration(duration_s: float, max_duration_s: float | None, name: str) -> None:
    if max_duration_s is not None and duration_s > max_duration_s:
        raise ParameterError(f"{name}: {duration_s / 60:.1f} minutes is longer than the {max_duration_s / 60:g} "
                             "minutes accepted (--max-minutes / max_duration_s raises the limit; memory grows with "
                             "the length)")


def _check_header(path: Path, *, max_duration_s: float | None) -> None:
    """Refuse a file whose header claims an unusable sample rate or too long a recording, before decoding it."""
    import soundfile as sf

    try:
        with _quiet_c_stderr():
            info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - not readable by libsndfile: the decoders report it
        return
    _check_sr(info.samplerate, path.name)
    _check_duration(info.frames / info.samplerate, max_duration_s, path.name)


def _soundfile_blocks(path: Path) -> _Blocks:
    """Decode with soundfile (libsndfile reads WAV/AIFF/FLAC/OGG/MP3), :data:`BLOCK_FRAMES` frames at a time.

    Raises :class:`_Undecodable` if libsndfile cannot open the file, or (from the blocks) cannot read it.
    """
    import soundfile as sf

    try:
        with _quiet_c_stderr():
            f = sf.SoundFile(str(path))
    except Exception:  # noqa: BLE001 - not for libsndfile: the other decoders try
        raise _Undecodable from None

    def blocks() -> Iterator[np.ndarray]:
        with f:
            while True:
                try:
                    with _quiet_c_stderr():
                        block = f.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
                except Exception:  # noqa: BLE001 - a broken file: start again with the other decoders
                    raise _Undecodable from None
                if not len(block):
                    return
                yield block.T

    return int(f.samplerate), int(f.channels), max(0, int(f.frames)), blocks()


def _fallback_blocks(path: Path) -> _Blocks:
    """Decode the whole file with librosa's audioread path (formats libsndfile does not read): one block."""
    try:
        with warnings.catch_warnings(), _quiet_c_stderr():
            warnings.simplefilter("ignore")
            import librosa

            y, file_sr = librosa.load(str(path), sr=None, mono=False)
    except Exception:  # noqa: BLE001 - any decoder failure becomes one clear message
        raise ParameterError(
            f"cannot read audio file {str(path)!r}: not a supported or intact audio file "
            f"(formats: WAV, AIFF, FLAC, OGG, MP3)"
        ) from None
    y = np.atleast_2d(np.asarray(y, dtype=np.float32))
    return int(file_sr), y.shape[0], y.shape[1], iter([y])

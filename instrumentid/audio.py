"""Load and validate audio.

Everything instrumentid analyses goes through :func:`load_audio` (files) or :func:`valid_audio` (arrays), so every
entry point rejects the same unusable input with the same message.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from instrumentid.errors import ParameterError
from instrumentid.settings import SR

__all__ = [
    "AUDIO_EXTENSIONS",
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
#: Longest recording accepted by default, in seconds (20 minutes). A file is decoded and analysed whole: measured
#: peak memory of ``instrumentid notes`` 1.3 GB for 20 minutes, 1.8 GB for 30 (``predict``: 1.5 GB for 20); pass
#: ``max_duration_s`` (``--max-minutes``) to accept longer ones.
MAX_DURATION_S = 1200.0
#: Resampler of every rate conversion (soxr's high quality).
RES_TYPE = "soxr_hq"
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
    if y.size == 0 or y.shape[-1] == 0:
        raise ParameterError(f"{name}: audio is empty (shape {y.shape})")
    finite = np.isfinite(y)
    if not finite.all():
        bad = np.flatnonzero(~finite.reshape(-1))
        raise ParameterError(
            f"{name}: audio contains {bad.size} NaN/Inf sample(s), first at index {int(bad[0])}"
        )
    y = y.astype(np.float32, copy=False)
    if float(np.max(np.abs(y))) < SILENCE_PEAK:
        warnings.warn(f"{name}: audio is silent (peak under -80 dBFS)", UserWarning, stacklevel=2)
    min_samples = MIN_SAMPLES if sr is None else int(np.ceil(MIN_SAMPLES * sr / SR))
    if y.shape[-1] < min_samples:
        warnings.warn(
            f"{name}: audio is shorter than one analysis frame ({y.shape[-1]} < {min_samples} samples)",
            UserWarning,
            stacklevel=2,
        )
    return y


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
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise ParameterError(f"audio file not found: {str(path)!r}")
    if path.is_dir():
        raise ParameterError(f"expected an audio file, got a folder: {str(path)!r}")
    if path.stat().st_size == 0:
        raise ParameterError(f"audio file is empty (0 bytes): {str(path)!r}")
    _check_header(path, max_duration_s=max_duration_s)
    y, file_sr = _decode(path)
    y = valid_audio(y, sr=file_sr, name=path.name)
    _check_duration(y.shape[-1] / file_sr, max_duration_s, path.name)
    if mono:
        y = to_mono(y)
    if sr is not None and file_sr != sr:
        y = resample(y, orig_sr=file_sr, target_sr=sr)
        file_sr = sr
    return np.ascontiguousarray(y, dtype=np.float32), int(file_sr)


def resample(y: np.ndarray, *, orig_sr: float, target_sr: float) -> np.ndarray:
    """Change the sample rate of ``y`` (the one resampler of instrumentid: librosa with soxr, high quality).

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)]
    orig_sr, target_sr : float
        Sample rates in Hz.

    Returns
    -------
    np.ndarray [shape=(..., n * target_sr / orig_sr), dtype=float32]
        ``y`` itself when the rates are equal.
    """
    if orig_sr == target_sr:
        return y
    import librosa

    return librosa.resample(y, orig_sr=orig_sr, target_sr=target_sr, res_type=RES_TYPE)


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


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """Decode with soundfile (libsndfile reads WAV/AIFF/FLAC/OGG/MP3); fall back to librosa's audioread path."""
    import soundfile as sf

    try:
        with _quiet_c_stderr():
            data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
        return data.T, int(file_sr)
    except Exception:  # noqa: BLE001 - any decoder failure becomes one clear message
        try:
            with warnings.catch_warnings(), _quiet_c_stderr():
                warnings.simplefilter("ignore")
                import librosa

                y, file_sr = librosa.load(str(path), sr=None, mono=False)
            return np.asarray(y, dtype=np.float32), int(file_sr)
        except Exception:  # noqa: BLE001
            raise ParameterError(
                f"cannot read audio file {str(path)!r}: not a supported or intact audio file "
                f"(formats: WAV, AIFF, FLAC, OGG, MP3)"
            ) from None

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
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from instrumentid.audio import valid_audio
from instrumentid.errors import ParameterError
from instrumentid.settings import DEFAULT_FEATURES, SR, FeatureSettings

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


def _valid_note(y, sr, settings: FeatureSettings) -> np.ndarray:
    if not isinstance(settings, FeatureSettings):
        raise ParameterError(f"settings must be FeatureSettings, got {type(settings).__name__}")
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
    peak = float(np.max(np.abs(y)))
    y = y / peak if peak > 0 else y
    if y.shape[0] < settings.n_fft:
        y = np.pad(y, (0, settings.n_fft - y.shape[0]))
    return y.astype(np.float32)


@functools.lru_cache(maxsize=4)
def _mel_basis(settings: FeatureSettings) -> np.ndarray:
    """The mel filter bank of ``settings`` (built once per process; librosa rebuilds it per call)."""
    import librosa

    s = settings
    basis = librosa.filters.mel(sr=s.sr, n_fft=s.n_fft, n_mels=s.n_mels, fmin=s.fmin, fmax=s.fmax)
    basis.flags.writeable = False
    return basis


def feature_blocks(y, *, sr: int = SR, settings: FeatureSettings = DEFAULT_FEATURES) -> dict:
    """The named blocks of :func:`note_features` (see :attr:`FeatureSettings.blocks`), plus the spectra behind them.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n_channels, n)]
        One note.
    sr : int
        Sample rate in Hz.
    settings : FeatureSettings
        How the features are computed.

    Returns
    -------
    dict
        Block name -> np.ndarray [shape=(settings.blocks[name],)], and ``"power"`` (the power spectrogram
        [shape=(1 + n_fft // 2, n_frames)]), ``"log_mel"`` [shape=(n_mels, n_frames)], ``"mfcc"`` (all
        ``n_mfcc`` rows) and ``"f0_hz"`` (float).
    """
    import librosa

    s = settings
    y = _valid_note(y, sr, s)
    n_fft, hop = s.n_fft, s.hop_length
    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)) ** 2
    mag = np.sqrt(power)
    mel = np.einsum("...ft,mf->...mt", power, _mel_basis(s), optimize=True)  # librosa's melspectrogram(S=power)
    log_mel = librosa.power_to_db(mel, top_db=80.0)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=s.n_mfcc)
    delta = np.diff(mfcc, axis=1) if mfcc.shape[1] > 1 else np.zeros_like(mfcc)
    n_attack = max(1, int(round(s.attack_s * sr / hop)))
    contrast = librosa.feature.spectral_contrast(S=mag, sr=sr, fmin=s.contrast_fmin, n_bands=s.n_bands)

    # envelope: frame level relative to the loudest frame
    rms = librosa.feature.rms(S=mag, frame_length=n_fft)[0] + 1e-6
    level_db = 20.0 * np.log10(rms / rms.max())
    k = int(np.argmax(rms))
    t = np.arange(rms.shape[0]) * hop / sr
    slope = np.polyfit(t[k:], level_db[k:], 1)[0] if rms.shape[0] - k > 2 else 0.0
    points = np.interp(np.linspace(0.0, 1.0, s.n_envelope), np.linspace(0.0, 1.0, rms.shape[0]), level_db)
    envelope = np.concatenate([[np.log(t[k] + 0.01), np.clip(slope, -200.0, 50.0) / 50.0], points])

    # harmonics and pitch-normalized shape at the median YIN f0 of the note's start
    fmin, fmax = s.f0_range_hz
    head = y[: max(n_fft, int(s.f0_max_s * sr))]
    f0_hz = float(np.median(librosa.yin(head, fmin=fmin, fmax=fmax, sr=sr, frame_length=n_fft, hop_length=hop)))
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    spectrum = power.mean(axis=1)
    harmonics = np.full(s.n_harmonics, -80.0)
    for h in range(1, s.n_harmonics + 1):
        f = h * f0_hz
        if f < sr / 2:
            band = (freqs > 0.97 * f - 15.0) & (freqs < 1.03 * f + 15.0)
            harmonics[h - 1] = 10.0 * np.log10(spectrum[band].max() + 1e-10)
    harmonics = np.maximum(harmonics - harmonics.max(), -80.0)
    centroid = librosa.feature.spectral_centroid(S=mag, sr=sr)[0]
    bandwidth = librosa.feature.spectral_bandwidth(S=mag, sr=sr, centroid=centroid[np.newaxis])[0]
    rolloff = librosa.feature.spectral_rolloff(S=mag, sr=sr)[0]
    flatness = librosa.feature.spectral_flatness(S=mag)[0]
    pitchnorm = np.array([
        np.log2(np.mean(centroid) / f0_hz + 1e-6), np.log2(np.mean(bandwidth) / f0_hz + 1e-6),
        np.log2(np.mean(rolloff) / f0_hz + 1e-6), np.log10(np.mean(flatness) + 1e-10),
        np.std(np.log2(centroid + 1.0)), np.log2(f0_hz),
    ])
    return {
        "mfcc_mean": mfcc.mean(axis=1), "mfcc_std": mfcc.std(axis=1), "dmfcc_std": delta.std(axis=1),
        "mfcc_attack": mfcc[:, :n_attack].mean(axis=1), "contrast_mean": contrast.mean(axis=1),
        "contrast_std": contrast.std(axis=1), "envelope": envelope, "harmonics": harmonics, "pitchnorm": pitchnorm,
        "power": power, "log_mel": log_mel, "mfcc": mfcc, "f0_hz": f0_hz,
    }


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
        samples give the same vector.

    Raises
    ------
    ParameterError
        Unusable audio (see :func:`instrumentid.audio.valid_audio`), a note shorter than :data:`MIN_NOTE_S`, a
        sample rate other than the analysis rate, or features that come out NaN or infinite (never replaced by a
        number: the message names the first such feature).
    """
    blocks = feature_blocks(y, sr=sr, settings=settings)
    out = np.concatenate([blocks[name] for name in settings.blocks]).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        names = settings.feature_names
        raise ParameterError(f"the note's features are not finite: {bad.size} NaN/Inf value(s), first "
                             f"{names[bad[0]]} = {out[bad[0]]}")
    return out


def notes_features(notes, *, sr: int = SR, settings: FeatureSettings = DEFAULT_FEATURES,
                   labels=None) -> np.ndarray:
    """Featurize several notes.

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
    """
    notes = list(notes)
    out = np.empty((len(notes), settings.n_features), dtype=np.float32)
    for i, y in enumerate(notes):
        try:
            out[i] = note_features(y, sr=sr, settings=settings)
        except ParameterError as err:
            if labels is None:
                raise
            raise ParameterError(f"{labels[i]}: {err}") from None
    return out


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

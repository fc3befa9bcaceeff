"""The per-note feature code as it was before issue 15 (a test and benchmark oracle, not part of the package).

:func:`instrumentid.features.notes_features` now analyses a batch of notes at once; this module keeps the earlier
implementation, one note at a time through librosa's feature functions, so that tests can check that the batched
path gives the same vector (``tests/test_features_batch.py``) and ``benchmarks/extract_speed.py`` can time both in
one run. It is the code of commit acff595 (``instrumentid/features.py``: ``feature_blocks`` and ``note_features``),
unchanged except that validation reuses the package's.
"""

from __future__ import annotations

import numpy as np

from instrumentid.features import _mel_basis, _valid_note
from instrumentid.settings import DEFAULT_FEATURES, SR, FeatureSettings


def reference_blocks(y, *, sr: int = SR, settings: FeatureSettings = DEFAULT_FEATURES) -> dict:
    """The named feature blocks of one note, computed as before issue 15 (see the module docstring)."""
    import librosa

    s = settings
    y = _valid_note(y, sr, s)
    n_fft, hop = s.n_fft, s.hop_length
    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)) ** 2
    mag = np.sqrt(power)
    mel = np.einsum("...ft,mf->...mt", power, _mel_basis(s), optimize=True)
    log_mel = librosa.power_to_db(mel, top_db=80.0)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=s.n_mfcc)
    delta = np.diff(mfcc, axis=1) if mfcc.shape[1] > 1 else np.zeros_like(mfcc)
    n_attack = max(1, int(round(s.attack_s * sr / hop)))
    contrast = librosa.feature.spectral_contrast(S=mag, sr=sr, fmin=s.contrast_fmin, n_bands=s.n_bands)

    rms = librosa.feature.rms(S=mag, frame_length=n_fft)[0] + 1e-6
    level_db = 20.0 * np.log10(rms / rms.max())
    k = int(np.argmax(rms))
    t = np.arange(rms.shape[0]) * hop / sr
    slope = np.polyfit(t[k:], level_db[k:], 1)[0] if rms.shape[0] - k > 2 else 0.0
    points = np.interp(np.linspace(0.0, 1.0, s.n_envelope), np.linspace(0.0, 1.0, rms.shape[0]), level_db)
    envelope = np.concatenate([[np.log(t[k] + 0.01), np.clip(slope, -200.0, 50.0) / 50.0], points])

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


def reference_features(y, *, sr: int = SR, settings: FeatureSettings = DEFAULT_FEATURES) -> np.ndarray:
    """One note's feature vector, computed as before issue 15 (float32, ``settings.n_features`` values)."""
    blocks = reference_blocks(y, sr=sr, settings=settings)
    return np.concatenate([blocks[name] for name in settings.blocks]).astype(np.float32)

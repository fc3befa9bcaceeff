"""Tests of instrumentid.features: the 120-value note features and the mel spectrogram."""

import numpy as np
import pytest

from instrumentid.audio import SR
from instrumentid.features import (
    FEATURE_NAMES,
    N_FEATURES,
    feature_blocks,
    mel_spectrogram,
    note_features,
    notes_features,
)
from instrumentid.settings import DEFAULT_FEATURES, FeatureSettings


def _tone(f0, *, duration_s=0.5, sr=SR, harmonics=(1.0, 0.5, 0.25)):
    t = np.arange(int(duration_s * sr)) / sr
    y = sum(a * np.sin(2 * np.pi * f0 * (k + 1) * t) for k, a in enumerate(harmonics))
    return (0.3 * y * np.exp(-2 * t)).astype(np.float32)


def test_layout_derived_from_settings():
    assert DEFAULT_FEATURES.sr == SR
    assert len(FEATURE_NAMES) == N_FEATURES == DEFAULT_FEATURES.n_features == 120
    blocks = feature_blocks(_tone(440.0))
    for name, where in DEFAULT_FEATURES.block_slices().items():
        assert blocks[name].shape == (where.stop - where.start,)


def test_other_settings_give_another_layout():
    settings = FeatureSettings(n_mfcc=13, n_harmonics=5)
    x = note_features(_tone(440.0), settings=settings)
    assert x.shape == (settings.n_features,) == (120 - 4 * 7 - 5,)
    assert len(settings.feature_names) == settings.n_features
    np.testing.assert_array_equal(x[:13], note_features(_tone(440.0))[:13])  # the first 13 MFCC means agree


@pytest.mark.parametrize("duration_s", [0.1, 0.5, 2.0])
def test_shape_dtype_and_finite(duration_s):  # non-finite values raise (test_non_finite_features_are_an_error)
    x = note_features(_tone(440.0, duration_s=duration_s))
    assert x.shape == (120,)
    assert x.dtype == np.float32
    assert np.all(np.isfinite(x))


def test_deterministic(rng):
    y = _tone(330.0) + 0.01 * rng.standard_normal(int(0.5 * SR)).astype(np.float32)
    np.testing.assert_array_equal(note_features(y), note_features(y.copy()))


def test_level_invariant():
    y = _tone(262.0)
    # equal up to float32 rounding, which the log of near-empty spectral-contrast valleys magnifies a little
    np.testing.assert_allclose(note_features(y), note_features(0.05 * y), rtol=1e-2, atol=0.1)


def test_stereo_is_averaged():
    y = _tone(262.0)
    np.testing.assert_allclose(note_features(np.stack([y, y])), note_features(y), rtol=1e-5, atol=1e-5)


def test_pitch_block_follows_f0():
    from instrumentid.features import FEATURE_NAMES

    i = FEATURE_NAMES.index("log2_f0")
    assert note_features(_tone(220.0))[i] == pytest.approx(np.log2(220.0), abs=0.03)
    assert note_features(_tone(880.0))[i] == pytest.approx(np.log2(880.0), abs=0.03)


def test_timbre_changes_features():
    bright = note_features(_tone(262.0, harmonics=(1.0, 0.9, 0.8, 0.7, 0.6)))
    dull = note_features(_tone(262.0, harmonics=(1.0,)))
    assert np.linalg.norm(bright - dull) > 1.0


def test_notes_features_stacks_notes_of_any_length():
    notes = [_tone(220.0, duration_s=0.2), _tone(440.0, duration_s=1.0)]
    X = notes_features(notes, sr=SR)
    assert X.shape == (2, 120)
    np.testing.assert_array_equal(X[1], note_features(notes[1]))
    assert notes_features([], sr=SR).shape == (0, 120)


def test_mel_spectrogram_db():
    y = _tone(440.0, duration_s=1.0)
    spec = mel_spectrogram(y, sr=SR, n_mels=64, fmax=8000)
    assert (spec.sr, spec.hop_length, spec.fmax) == (SR, 512, 8000.0)
    S = spec.S_db
    assert S.shape[0] == 64 and S.shape[1] == 1 + len(y) // 512
    assert S.max() == pytest.approx(0.0)
    assert S.min() >= -80.0 - 1e-3


def test_segment_features_cuts_each_note_from_the_recording():
    from instrumentid.features import notes_features, segment_features
    from instrumentid.notes import Note

    rng = np.random.default_rng(3)
    t = np.arange(SR) / SR
    y = np.concatenate([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    y += 0.001 * rng.standard_normal(y.shape).astype(np.float32)
    notes = [Note(0.1, 0.9, 440.0, 69), Note(1.1, 1.8, 660.0, 76)]
    expected = notes_features([y[round(0.1 * SR):round(0.9 * SR)], y[round(1.1 * SR):round(1.8 * SR)]], sr=SR)
    np.testing.assert_array_equal(segment_features(y, notes, sr=SR), expected)


def test_non_finite_features_are_an_error(monkeypatch):
    """A NaN in any block is an error naming the feature, never a silent zero."""
    from instrumentid import features
    from instrumentid.errors import ParameterError
    from instrumentid.notes import Note

    real = features.feature_blocks

    def broken(y, **kwargs):
        blocks = real(y, **kwargs)
        blocks["harmonics"] = blocks["harmonics"].copy()
        blocks["harmonics"][2] = np.nan
        return blocks

    monkeypatch.setattr(features, "feature_blocks", broken)
    with pytest.raises(ParameterError, match="not finite: 1 NaN/Inf value.*harmonic3_db = nan"):
        note_features(_tone(440.0))
    y = np.concatenate([_tone(440.0), _tone(660.0)])
    notes = [Note(0.0, 0.5, 440.0, 69), Note(0.5, 1.0, 660.0, 76)]
    with pytest.raises(ParameterError, match=r"note 1 \(A4, 0.000-0.500 s\): the note's features are not finite"):
        features.segment_features(y, notes, sr=SR)

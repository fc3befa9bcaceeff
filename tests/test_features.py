"""Tests of instrumentid.features: the 120-value note features and the mel spectrogram.

The batched path (issue 15) is checked against the per-note code it replaced (tests/features_reference.py): every row
of :func:`notes_features` must be the vector the earlier implementation gives (to 1e-5, relative and absolute; in
practice the bits are the same, which the golden outputs rely on), whatever the batch holds: notes of several
instruments and lengths, notes shorter than one FFT frame, notes cut at the end of a recording, and every note of a
recording with many notes.
"""

import numpy as np
import pytest
import synth
from features_reference import reference_features

from instrumentid import features, util
from instrumentid.analysis import analyze
from instrumentid.audio import SR
from instrumentid.datasets.programs import DEFAULT_CLASSES, read_programs
from instrumentid.datasets.render import default_sources
from instrumentid.datasets.soundfont import plan_notes, render_varied
from instrumentid.features import (
    FEATURE_NAMES,
    MIN_NOTE_S,
    N_FEATURES,
    feature_blocks,
    mel_spectrogram,
    note_features,
    notes_features,
)
from instrumentid.settings import DEFAULT_FEATURES, FeatureSettings

#: The batch tests' notes shorter than one FFT frame warn (as they should); the warning is tested in test_audio.py.
pytestmark = pytest.mark.filterwarnings("ignore:note. audio is shorter than one analysis frame")


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

    real = features._analyse

    def broken(ys, settings, **kwargs):  # the first note of every batch gets a NaN harmonic level
        out = real(ys, settings, **kwargs)
        out[0]["harmonics"] = out[0]["harmonics"].copy()
        out[0]["harmonics"][2] = np.nan
        return out

    monkeypatch.setattr(features, "_analyse", broken)
    with pytest.raises(ParameterError, match="not finite: 1 NaN/Inf value.*harmonic3_db = nan"):
        note_features(_tone(440.0))
    y = np.concatenate([_tone(440.0), _tone(660.0)])
    notes = [Note(0.0, 0.5, 440.0, 69), Note(0.5, 1.0, 660.0, 76)]
    with pytest.raises(ParameterError, match=r"note 1 \(A4, 0.000-0.500 s\): the note's features are not finite"):
        features.segment_features(y, notes, sr=SR)


# ----------------------------------------------------------------------------------- the batched path (issue 15)
def _assert_same(X, clips):
    expected = np.stack([reference_features(y) for y in clips])
    np.testing.assert_allclose(X, expected, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def clips():
    """Rendered, varied notes of every default class and source (rooms, noise, lead-in), plus short and cut ones."""
    rows = plan_notes(default_sources(), read_programs(DEFAULT_CLASSES))
    notes = [y for y in (render_varied(r) for r in rows[:: max(1, len(rows) // 60)]) if y is not None]
    rng = np.random.default_rng(7)
    shortest = int(np.ceil(MIN_NOTE_S * SR))
    short = [y[: int(n)] for y, n in zip(notes[:8], rng.integers(shortest, 2048, 8), strict=True)]  # under a frame
    tails = [y[-int(n):] for y, n in zip(notes[8:16], rng.integers(shortest, 9000, 8), strict=True)]
    return notes + short + tails + [notes[0][:shortest]]


def test_batched_rows_are_the_per_note_features(clips):
    assert len({round(len(y) / SR, 2) for y in clips}) > 20  # many lengths
    _assert_same(notes_features(clips, sr=SR), clips)


def test_an_embedding_follows_the_descriptors(clips):
    """The shipped features: the 120 descriptors unchanged, then musicnn's pools of each note's first second."""
    from instrumentid.pretrained import note_pools
    from instrumentid.settings import SHIPPED_FEATURES

    some = clips[::6]
    X = notes_features(some, sr=SR, settings=SHIPPED_FEATURES)
    assert X.shape == (len(some), 1626) and X.dtype == np.float32 and np.isfinite(X).all()
    np.testing.assert_array_equal(X[:, :120], notes_features(some, sr=SR))
    want = note_pools([features._valid_note(y, SR, SHIPPED_FEATURES) for y in some], sr=SR)
    scale = np.abs(want).max(axis=1, keepdims=True)
    assert np.all(np.abs(X[:, 120:] - want) <= 1e-5 * scale)
    # one note alone gives its row, to float rounding
    alone = features.note_features(some[3], sr=SR, settings=SHIPPED_FEATURES)
    assert np.all(np.abs(alone[120:] - X[3, 120:]) <= 1e-5 * scale[3])


@pytest.mark.parametrize("batch_frames", [1, 7, 64])
def test_any_batch_split_gives_the_same_rows(clips, monkeypatch, batch_frames):
    """Small batches (a long note alone in a batch over the limit) give the very same rows as one call per note."""
    monkeypatch.setattr(features, "BATCH_FRAMES", batch_frames)
    X = notes_features(clips[::3], sr=SR)
    monkeypatch.undo()
    np.testing.assert_array_equal(X, np.stack([note_features(y) for y in clips[::3]]))


@pytest.mark.parametrize("threads", [1, 3])
def test_batches_on_threads_give_the_same_rows(clips, monkeypatch, threads):
    """The batches run on worker_threads() threads (1: the plain loop): the same rows, in the notes' order."""
    monkeypatch.setattr(features, "BATCH_FRAMES", 64)  # many batches
    monkeypatch.setattr(util, "worker_threads", lambda: threads)
    X = notes_features(clips, sr=SR)
    monkeypatch.undo()
    np.testing.assert_array_equal(X, np.stack([note_features(y) for y in clips]))


def _in_a_build_worker(notes):
    return notes_features(notes, sr=SR)


def test_a_build_worker_gives_the_rows_of_this_process(clips):
    """A data set build's worker process (one BLAS thread, one analysis thread) and this process (threads on every
    core) compute the same bits: a note's row in the training data is the row predict computes for it."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=util.limit_worker_threads) as pool:
        in_worker = pool.submit(_in_a_build_worker, clips[::2]).result()
    np.testing.assert_array_equal(in_worker, notes_features(clips[::2], sr=SR))


def test_order_of_notes_does_not_matter(clips):
    order = np.random.default_rng(0).permutation(len(clips))
    X = notes_features(clips, sr=SR)
    np.testing.assert_array_equal(notes_features([clips[i] for i in order], sr=SR), X[order])


def test_recording_with_many_notes_and_a_note_at_its_end():
    """analyze() on a phrase of 16 notes of two instruments, the last one cut by the end of the file."""
    notes = [(71 if i % 2 else 40, 60 + (i * 5) % 19, 0.1 + 0.45 * i, 0.35, 70 + i) for i in range(16)]
    y = synth.render_phrase(notes, tail_s=0.0)
    a = analyze(y, sr=SR)
    assert len(a.notes) >= 12
    assert round(a.notes[-1].sound_end_s * SR) >= len(y) - SR // 20  # the last note runs to the end of the file
    clips = [a.y[round(n.start_s * SR): round(n.sound_end_s * SR)] for n in a.notes]
    _assert_same(a.X, clips)


@pytest.mark.parametrize("settings", [FeatureSettings(n_fft=1024, hop_length=256, n_mels=64, n_mfcc=13),
                                      FeatureSettings(n_bands=4, contrast_fmin=200.0, n_harmonics=5,
                                                               f0_range_hz=(60.0, 2000.0), f0_max_s=0.3)])
def test_other_settings_match_too(clips, settings):
    X = notes_features(clips[:12], sr=SR, settings=settings)
    expected = np.stack([reference_features(y, settings=settings) for y in clips[:12]])
    np.testing.assert_allclose(X, expected, rtol=1e-5, atol=1e-5)


def test_feature_blocks_keeps_its_spectra(clips):
    import librosa

    y = clips[3]
    blocks = features.feature_blocks(y)
    y_norm = features._valid_note(y, SR, DEFAULT_FEATURES)
    np.testing.assert_array_equal(blocks["power"], np.abs(librosa.stft(y_norm, n_fft=2048, hop_length=512)) ** 2)
    assert blocks["log_mel"].shape == (128, blocks["power"].shape[1])
    assert blocks["mfcc"].shape == (20, blocks["power"].shape[1])
    assert blocks["f0_hz"] > 0


def test_contrast_bands_past_nyquist_are_an_error():
    from instrumentid.errors import ParameterError

    with pytest.raises(ParameterError, match="exceed the Nyquist"):
        note_features(np.ones(4096, np.float32), settings=FeatureSettings(contrast_fmin=2000.0, n_bands=6))


def test_frequencies_are_librosa_s():
    import librosa

    s = DEFAULT_FEATURES
    assert features._frequencies(s).tobytes() == librosa.fft_frequencies(sr=s.sr, n_fft=s.n_fft).tobytes()


@pytest.mark.parametrize("frame_length", [2048, 2047])
def test_rms_is_librosa_s(rng, frame_length):
    import librosa

    mag = np.asfortranarray(np.abs(rng.standard_normal((1 + frame_length // 2, 57))).astype(np.float32))
    expected = librosa.feature.rms(S=mag, frame_length=frame_length)[0]
    assert features._rms(mag, frame_length).tobytes() == expected.tobytes()


def test_features_alone_do_not_import_librosa(tmp_path):
    """A process that only featurizes notes (a build worker) reads the kept arrays and never imports librosa."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\nfrom instrumentid.features import notes_features\n"
            "y = np.sin(2 * np.pi * 440 * np.arange(11025) / 22050).astype(np.float32)\n"
            "np.save(sys.argv[1], notes_features([y, y[:5000]]))\n"
            "print(sorted(m for m in ('librosa', 'numba') if m in sys.modules))\n")
    env = {**__import__("os").environ, "INSTRUMENTID_CACHE": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", code, str(tmp_path / f"x{i}.npy")], capture_output=True, text=True,
                           env=env, check=True).stdout.strip() for i in range(2)]
    assert runs == ["['librosa', 'numba']", "[]"]  # the first run computes the arrays with librosa and keeps them
    y = np.sin(2 * np.pi * 440 * np.arange(11025) / 22050).astype(np.float32)
    for i in range(2):
        np.testing.assert_array_equal(np.load(tmp_path / f"x{i}.npy"), notes_features([y, y[:5000]]))

"""instrumentid.notes on long recordings: the spectrum is analysed in blocks and never kept whole (issue 14).

The reference is the path note detection took before: the whole recording's STFT magnitude, its mel spectrogram in
dB and SuperFlux onset function computed in one call each, and the harmonic magnitudes read from the whole matrix.
``BLOCK_FRAMES`` (the spectral pass) and ``FRAME_BLOCK_FRAMES`` (level, YIN, periodicity) are made small here so
that a phrase of a few seconds spans many blocks (and a last short one); the blocks run on several threads.
"""

import numpy as np
import pytest
from synth import phrase_audio

from instrumentid import notes, util
from instrumentid.settings import DEFAULT_NOTES, SR
from instrumentid.util import one_blas_thread

N_FFT, HOP = DEFAULT_NOTES.frame_length, DEFAULT_NOTES.hop_length

#: The notes found in these phrases before the spectrum was analysed in blocks: (midi, start frame, end frame,
#: release frames, f0 in Hz) at 256-sample frames.
PINNED = {
    "lab_sax": [(84, 20, 324, 19, 1044.81), (85, 365, 669, 19, 1106.36), (86, 709, 1014, 18, 1172.19),
                (87, 1054, 1359, 18, 1241.64)],
    "two_instruments": [(76, 16, 88, 7, 660.13), (79, 95, 165, 16, 784.42), (48, 181, 258, 0, 130.84),
                        (43, 258, 330, 41, 98.27)],
}


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 97 frames (the spectral pass's last block is at least 64)."""
    monkeypatch.setattr(notes, "BLOCK_FRAMES", 97)
    monkeypatch.setattr(notes, "FRAME_BLOCK_FRAMES", 97)


def whole_magnitude(y):
    """The whole recording's STFT magnitude, as note detection computed it (centred frames, zero padding)."""
    import librosa

    return np.abs(librosa.stft(np.pad(y, N_FFT // 2), n_fft=N_FFT, hop_length=HOP, center=False))


@pytest.mark.parametrize("phrase", ["gaps", "lab_sax"])
def test_spectral_pass_equals_the_whole_spectrum(small_blocks, phrase):
    import librosa

    y = np.array(phrase_audio(phrase))
    magnitude = whole_magnitude(y)
    n_frames = magnitude.shape[1]
    assert n_frames > 3 * notes.BLOCK_FRAMES
    f0 = np.random.default_rng(0).uniform(DEFAULT_NOTES.fmin, DEFAULT_NOTES.fmax, n_frames)
    spectrum = notes._Spectrum(y, n_fft=N_FFT, hop_length=HOP, n_frames=n_frames)
    envelope, harmonics = notes._spectral_pass(spectrum, f0)

    with one_blas_thread():  # the products of the pass run on one BLAS thread (OpenBLAS rounds by thread count)
        mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=magnitude**2, sr=SR))
    expected = librosa.onset.onset_strength(S=mel_db, sr=SR, hop_length=HOP, lag=2, max_size=3)
    np.testing.assert_array_equal(envelope, expected)
    assert envelope.dtype == expected.dtype == np.float32
    frames = np.arange(n_frames)
    for h in range(1, 9):
        bins = np.rint(h * f0 / (SR / N_FFT)).astype(int)
        near = magnitude[np.clip(bins[None, :] + np.arange(-1, 2)[:, None], 0, magnitude.shape[0] - 1), frames]
        np.testing.assert_array_equal(harmonics[h - 1], near.max(axis=0))


def test_frames_equal_the_whole_spectrum_columns():
    y = np.array(phrase_audio("gaps"))
    magnitude = whole_magnitude(y)
    n_frames = magnitude.shape[1]
    spectrum = notes._Spectrum(y, n_fft=N_FFT, hop_length=HOP, n_frames=n_frames)
    for lo, hi in [(0, 1), (-3, 5), (100, 109), (150, 150 + notes.BLOCK_FRAMES), (n_frames - 2, n_frames + 3)]:
        part, first = spectrum.frames(lo, hi)
        assert first <= max(lo, 0) and first + part.shape[1] >= min(hi, n_frames) and part.shape[1] >= 16
        np.testing.assert_array_equal(part, magnitude[:, first: first + part.shape[1]])


@pytest.mark.parametrize("phrase", sorted(PINNED))
@pytest.mark.parametrize("threads", [1, 3])
def test_notes_in_blocks_are_the_notes_found_before(monkeypatch, phrase, threads):
    y = np.array(phrase_audio(phrase))
    monkeypatch.setattr(util, "worker_threads", lambda: threads)
    monkeypatch.setattr(notes, "FRAME_BLOCK_FRAMES", 10**9)
    one_block = [n.to_dict() for n in notes.detect_notes(y, sr=SR)]
    monkeypatch.setattr(notes, "BLOCK_FRAMES", 97)
    monkeypatch.setattr(notes, "FRAME_BLOCK_FRAMES", 97)
    assert 1 + y.size // HOP > 3 * notes.BLOCK_FRAMES
    found = notes.detect_notes(y, sr=SR)
    assert [n.to_dict() for n in found] == one_block
    frame_s = HOP / SR
    assert [(n.midi, round(n.start_s / frame_s), round(n.end_s / frame_s), round(n.release_s / frame_s))
            for n in found] == [p[:4] for p in PINNED[phrase]]
    np.testing.assert_allclose([n.f0_hz for n in found], [p[4] for p in PINNED[phrase]], atol=0.006)


def test_memory_does_not_grow_with_the_spectrum(monkeypatch):
    """Note detection on 30 s keeps no array of the whole STFT's size (1025 x 2584 float32, 10.6 MB).

    Before, it kept the whole magnitude and a second copy while joining its blocks: at least twice that; now about
    4 MB (the samples, the mel bands in dB, per-frame arrays and one block's buffers).
    """
    import tracemalloc

    y = np.tile(np.array(phrase_audio("lab_sax")), 3)[: 30 * SR]
    monkeypatch.setattr(notes, "BLOCK_FRAMES", 64)
    monkeypatch.setattr(notes, "FRAME_BLOCK_FRAMES", 64)  # yin's own buffers stay small
    monkeypatch.setattr(util, "worker_threads", lambda: 1)  # each further thread holds one more block (~1 MB here)
    notes.detect_notes(y, sr=SR)  # librosa's caches and imports first
    tracemalloc.start()
    try:
        notes.detect_notes(y, sr=SR)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole_spectrum = (1 + N_FFT // 2) * (1 + y.size // HOP) * 4
    assert peak < whole_spectrum / 2, f"peak {peak / 1e6:.1f} MB"

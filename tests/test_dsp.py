"""instrumentid.dsp: every function is librosa's, to the bit, on many signals; kept arrays; no librosa at run time."""

import os
import subprocess
import sys

import librosa
import numpy as np
import pytest
import synth

from instrumentid import dsp
from instrumentid.settings import DEFAULT_FEATURES

SR = 22050


def _same(got, expected):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


def _signals(n: int = 12):
    """Tones with noise at many levels and lengths, one of them silent, one pure noise."""
    rng = np.random.default_rng(7)
    out = [np.zeros(3000, np.float32), (0.3 * rng.standard_normal(5000)).astype(np.float32)]
    for _ in range(n):
        t = np.arange(int(rng.integers(2048, 20000))) / SR
        tone = np.sin(2 * np.pi * rng.uniform(40, 3000) * t) + 0.1 * rng.standard_normal(t.size)
        out.append((rng.uniform(1e-3, 1) * tone).astype(np.float32))
    return out


@pytest.mark.parametrize("i", range(14))
def test_frame_level_and_pitch_are_librosa_s(i):
    y = _signals()[i]
    _same(dsp.frame(y, 2048, 256), librosa.util.frame(y, frame_length=2048, hop_length=256))
    rms = librosa.feature.rms(y=y, frame_length=2048, hop_length=256, center=False)[0]
    _same(dsp.rms(y, 2048, 256), rms)
    _same(dsp.amplitude_to_db(rms), librosa.amplitude_to_db(rms, ref=1.0, amin=1e-10, top_db=None))
    if y.any():
        f0 = librosa.yin(y, fmin=32.7, fmax=4186.0, sr=SR, frame_length=2048, hop_length=256, center=False)
        _same(dsp.yin(dsp.frame(y, 2048, 256).T, sr=SR, fmin=32.7, fmax=4186.0), f0)
        _same(dsp.hz_to_midi(f0), librosa.hz_to_midi(f0))
        _same(dsp.midi_to_hz(dsp.hz_to_midi(f0)), librosa.midi_to_hz(librosa.hz_to_midi(f0)))


@pytest.mark.parametrize("i", range(14))
def test_spectrum_and_onset_function_are_librosa_s(i):
    y = _signals()[i]
    magnitude = np.abs(librosa.stft(y, n_fft=2048, hop_length=256, center=False))
    _same(dsp.stft_magnitude(y, 2048, 256), magnitude)
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=magnitude**2, sr=SR), top_db=None)
    _same(dsp.power_to_db(dsp.melspectrogram(magnitude**2, SR)), mel_db)
    _same(dsp.power_to_db(magnitude, top_db=80.0), librosa.power_to_db(magnitude, top_db=80.0))
    S = np.maximum(mel_db, mel_db.max() - 80.0)
    for lag, max_size in [(1, 1), (2, 3)]:
        _same(dsp.onset_strength(S, hop_length=256, lag=lag, max_size=max_size),
              librosa.onset.onset_strength(S=S, sr=SR, hop_length=256, lag=lag, max_size=max_size))


def test_note_names_are_librosa_s():
    assert [dsp.midi_to_note(m) for m in range(128)] == [librosa.midi_to_note(m, unicode=False) for m in range(128)]


@pytest.mark.parametrize("kind", ["uniform", "ties", "walk", "flat", "short"])
def test_peaks_onsets_and_backtracking_are_librosa_s(kind):
    rng = np.random.default_rng(["uniform", "ties", "walk", "flat", "short"].index(kind))
    for _ in range(60):
        n = int(rng.integers(2, 8)) if kind == "short" else int(rng.integers(5, 600))
        x = rng.random(n).astype(np.float32)
        if kind == "ties":
            x = np.round(x * 3).astype(np.float32) / 3
        elif kind == "walk":
            x = np.abs(np.cumsum(rng.standard_normal(n))).astype(np.float32)
        elif kind == "flat":
            x = np.full(n, 0.5, np.float32)
        onsets = librosa.onset.onset_detect(onset_envelope=x.copy(), sr=SR, hop_length=256, units="frames")
        _same(dsp.onset_detect(x.copy(), sr=SR, hop_length=256), onsets)
        if onsets.size:
            _same(dsp.onset_backtrack(onsets, x), librosa.onset.onset_backtrack(onsets, x))
        for pre_max, post_max, pre_avg, post_avg, delta, wait in [(3, 3, 3, 5, 0.5, 10), (0, 1, 0, 1, 0.0, 0),
                                                                   (2, 1, 8, 9, 0.07, 2)]:
            args = dict(pre_max=pre_max, post_max=post_max, pre_avg=pre_avg, post_avg=post_avg, delta=delta,
                        wait=wait)
            _same(dsp.peak_pick(x, **args), librosa.util.peak_pick(x, **args))


def test_kept_librosa_arrays_are_librosa_s_and_read_back_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTRUMENTID_CACHE", str(tmp_path))
    s = DEFAULT_FEATURES
    mel = librosa.filters.mel(sr=s.sr, n_fft=s.n_fft, n_mels=s.n_mels, fmin=s.fmin, fmax=s.fmax)
    window = librosa.filters.get_window("hann", s.n_fft, fftbins=True)
    for _ in range(2):  # computed and kept, then read back
        kept_mel = dsp.kept_array("mel", mel.shape, sr=s.sr, n_fft=s.n_fft, n_mels=s.n_mels, fmin=s.fmin, fmax=s.fmax)
        kept_window = dsp.kept_array("window", window.shape, n_fft=s.n_fft)
        assert kept_mel.dtype == mel.dtype and kept_mel.tobytes() == mel.tobytes() and not kept_mel.flags.writeable
        assert kept_window.tobytes() == window.tobytes()
    (path,) = (tmp_path / "filters").glob("mel-*.npy")
    path.write_bytes(b"not an array")  # damaged: computed again
    assert dsp.kept_array("mel", mel.shape, sr=s.sr, n_fft=s.n_fft, n_mels=s.n_mels, fmin=s.fmin,
                          fmax=s.fmax).tobytes() == mel.tobytes()
    _same(dsp.mel_basis(SR, 2048), librosa.filters.mel(sr=SR, n_fft=2048))


def test_a_cache_folder_that_cannot_be_written_is_no_error(tmp_path, monkeypatch):
    folder = tmp_path / "not-a-folder"
    folder.write_text("a file where the cache folder should be")  # nothing can be written under it
    monkeypatch.setenv("INSTRUMENTID_CACHE", str(folder))
    window = dsp.kept_array("window", (DEFAULT_FEATURES.n_fft,), n_fft=DEFAULT_FEATURES.n_fft)
    assert window.tobytes() == librosa.filters.get_window("hann", DEFAULT_FEATURES.n_fft, fftbins=True).tobytes()


def test_bad_frame_length_is_an_error():
    with pytest.raises(ValueError, match="shorter than frame_length=2048"):
        dsp.frame(np.zeros(100, np.float32), 2048, 256)


def test_analysing_a_recording_does_not_import_librosa(tmp_path):
    """Notes and features of a recording (a cold predict's work) in a fresh process: librosa and numba never load
    once the kept arrays exist, and the result equals this process's."""
    path = tmp_path / "phrase.wav"
    synth.write(path, synth.phrase_audio("gaps"), sr=SR)
    code = ("import sys, numpy as np\nfrom instrumentid.analysis import analyze\n"
            "a = analyze(sys.argv[1])\nnp.save(sys.argv[2], a.X)\n"
            "print(len(a.notes), sorted(m for m in ('librosa', 'numba', 'scipy.signal') if m in sys.modules))\n")
    env = {**os.environ, "INSTRUMENTID_CACHE": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / f"x{i}.npy")], capture_output=True,
                           text=True, env=env, check=True).stdout.strip() for i in range(2)]
    # the first run computes and keeps the arrays with librosa, the second reads them
    assert runs[1] == f"{len(synth.expected_notes('gaps'))} []", runs
    from instrumentid.analysis import analyze

    np.testing.assert_array_equal(np.load(tmp_path / "x1.npy"), analyze(path).X)


@pytest.mark.parametrize("threads", [1, 2])
def test_mel_product_is_librosa_s_in_both_layouts_and_thread_counts(threads):
    """melspectrogram swaps the BLAS product's operands on an STFT's transpose (faster): the same bits as librosa's
    einsum for spectrograms laid out either way, of 1 to 4200 frames, on one and on two BLAS threads."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(threads)
    with threadpool_limits(limits=threads, user_api="blas"):
        for n in [1, 2, 7, 63, 64, 65, 128, 129, 300, 1379, 4096, 4200]:
            frames = np.abs(rng.standard_normal((n, 1025)) * rng.exponential(1.0, (n, 1))).astype(np.float32)
            for S in (frames.T, np.ascontiguousarray(frames.T)):
                S = S**2
                _same(dsp.melspectrogram(S, SR), librosa.feature.melspectrogram(S=S, sr=SR))


def test_yin_of_many_frames_is_librosa_s():
    """yin computes YIN_FRAMES frames at a time: a signal of several such blocks gives librosa's values."""
    rng = np.random.default_rng(3)
    t = np.arange(12 * SR) / SR
    tone = np.sin(2 * np.pi * 110 * 2 ** (np.floor(t * 4) % 5) * t)  # a new octave every 0.25 s
    y = (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    frames = dsp.frame(y, 2048, 256).T
    assert frames.shape[0] > 3 * dsp.YIN_FRAMES
    f0 = librosa.yin(y, fmin=32.7, fmax=4186.0, sr=SR, frame_length=2048, hop_length=256, center=False)
    _same(dsp.yin(frames, sr=SR, fmin=32.7, fmax=4186.0), f0)

"""instrumentid.audio: block decoding equals decoding the whole file; the one resampler equals librosa's.

The reference is the path ``load_audio`` took before it read in blocks: the whole file decoded by soundfile, the
channels averaged, and ``librosa.resample(res_type=RES_TYPE)`` in one call.
"""

import librosa
import numpy as np
import pytest
import soundfile as sf
import synth

from instrumentid import audio
from instrumentid.analysis import analyze
from instrumentid.audio import RES_TYPE, SR, load_audio, resample, valid_audio
from instrumentid.errors import ParameterError
from instrumentid.prediction import predict

#: Frames per block in these tests: the "gaps" phrase at 44.1 kHz (3.55 s) spans 4 blocks, and the edges at 0.91,
#: 1.81 and 2.72 s fall inside its 2nd, 3rd and 5th notes.
BLOCK = 40_000


def whole_file(path, *, sr=SR, mono=True):
    """What load_audio returned before it read in blocks."""
    data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    y = data.T.mean(axis=0) if mono else data.T
    if sr is not None and sr != file_sr:
        y = librosa.resample(y, orig_sr=file_sr, target_sr=sr, res_type=RES_TYPE)
    return np.ascontiguousarray(y, dtype=np.float32)


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(audio, "BLOCK_FRAMES", BLOCK)


@pytest.fixture(scope="module")
def gaps_stereo():
    """The "gaps" phrase at 44.1 kHz in stereo, the right channel quieter and a little late."""
    notes, options = synth.PHRASES["gaps"]
    left = synth.render_phrase(notes, sr=44100, **options)
    return np.stack([left, 0.7 * np.roll(left, 30)])


@pytest.mark.parametrize("file_sr", [44100, 48000, 22050, 8000])
@pytest.mark.parametrize("mono", [True, False])
def test_blocks_give_the_samples_of_the_whole_file(tmp_path, monkeypatch, gaps_stereo, file_sr, mono):
    monkeypatch.setattr(audio, "BLOCK_FRAMES", BLOCK * file_sr // 44100)  # the same edges in seconds
    y = gaps_stereo if file_sr == 44100 else resample(gaps_stereo, orig_sr=44100, target_sr=file_sr)
    path = synth.write(tmp_path / "gaps.wav", y, sr=file_sr, subtype="FLOAT")
    assert sf.info(str(path)).frames > 3 * audio.BLOCK_FRAMES  # 4 blocks
    got, sr = load_audio(path, mono=mono)
    expected = whole_file(path, mono=mono)
    assert sr == SR and got.dtype == np.float32 and got.flags.c_contiguous
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_blocks_at_the_file_rate(tmp_path, small_blocks, gaps_stereo):
    path = synth.write(tmp_path / "gaps.flac", gaps_stereo, sr=44100)
    got, sr = load_audio(path, sr=None, mono=False)
    assert sr == 44100
    np.testing.assert_array_equal(got, whole_file(path, sr=None, mono=False))


def test_blocks_give_the_notes_and_predictions_of_the_whole_file(tmp_path, small_blocks, gaps_stereo):
    path = synth.write(tmp_path / "gaps.wav", gaps_stereo, sr=44100)
    expected_y = whole_file(path)
    blocks, whole = analyze(path), analyze(expected_y, sr=SR)
    assert [n.midi for n in blocks.notes] == [67, 69, 71, 72, 74]
    assert any(n.start_s < BLOCK / 44100 * k < n.end_s for n in blocks.notes for k in (1, 2, 3))
    np.testing.assert_allclose(blocks.y, expected_y, rtol=0, atol=1e-6)
    assert blocks.notes == whole.notes
    np.testing.assert_allclose(blocks.X, whole.X, rtol=1e-5, atol=1e-5)
    by_blocks, by_whole = predict(path), predict(expected_y, sr=SR)
    assert [n.to_dict() for n in by_blocks.notes] == [n.to_dict() for n in by_whole.notes]
    assert (by_blocks.instrument, by_blocks.probabilities) == (by_whole.instrument, by_whole.probabilities)


@pytest.mark.parametrize("shape", [(1,), (5,), (2047,), (44101,), (2, 30001), (3, 2, 5000)])
@pytest.mark.parametrize("rates", [(44100, SR), (48000, SR), (8000, SR), (SR, SR * 2 ** (3 / 12))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resample_is_librosa_soxr(rng, shape, rates, dtype):
    y = (0.1 * rng.standard_normal(shape)).astype(dtype)
    got = resample(y, orig_sr=rates[0], target_sr=rates[1])
    expected = librosa.resample(y, orig_sr=rates[0], target_sr=rates[1], res_type=RES_TYPE)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert resample(y, orig_sr=SR, target_sr=SR) is y


def test_output_grows_when_the_header_says_too_little(tmp_path, small_blocks, gaps_stereo):
    path = synth.write(tmp_path / "gaps.wav", gaps_stereo, sr=44100, subtype="FLOAT")
    file_sr, channels, frames, blocks = audio._soundfile_blocks(path)
    y, sr = audio._load_blocks(path, (file_sr, channels, 1000, blocks), sr=SR, mono=True, max_duration_s=None)
    np.testing.assert_allclose(y, whole_file(path), rtol=0, atol=1e-6)


def _float_wav(path, y, sr=44100):
    sf.write(str(path), np.asarray(y, dtype=np.float32).T, sr, subtype="FLOAT")
    return path


def test_nan_in_a_later_block_is_named_as_in_the_whole_signal(tmp_path, small_blocks, rng):
    y = (0.1 * rng.standard_normal((2, 3 * BLOCK))).astype(np.float32)
    y[1, 2 * BLOCK + 7] = np.nan
    y[0, BLOCK + 3] = np.inf
    with pytest.raises(ParameterError, match="2 NaN/Inf") as whole:
        valid_audio(y)
    with pytest.raises(ParameterError, match="2 NaN/Inf") as blocks:
        load_audio(_float_wav(tmp_path / "nan.wav", y))
    assert str(whole.value).split(": ", 1)[1] == str(blocks.value).split(": ", 1)[1]
    assert f"first at index {BLOCK + 3}" in str(blocks.value)


def test_silent_and_short_files_warn_once(tmp_path, small_blocks):
    with pytest.warns(UserWarning, match="silent") as record:
        y, _ = load_audio(_float_wav(tmp_path / "silent.wav", np.zeros((2, 3 * BLOCK))))
    assert len(record) == 1 and y.size == int(np.ceil(3 * BLOCK * SR / 44100)) and not y.any()
    with pytest.warns(UserWarning, match="shorter than one analysis frame"):
        load_audio(_float_wav(tmp_path / "short.wav", 0.1 * np.ones((2, 1000))))


def test_duration_is_checked_while_decoding(tmp_path, small_blocks, monkeypatch):
    """A header that says too little (here: no header check at all) is caught block by block."""
    monkeypatch.setattr(audio, "_check_header", lambda path, max_duration_s: None)
    path = _float_wav(tmp_path / "long.wav", 0.1 * np.ones((1, 5 * BLOCK)))
    with pytest.raises(ParameterError, match="longer than the"):
        load_audio(path, max_duration_s=2 * BLOCK / 44100)

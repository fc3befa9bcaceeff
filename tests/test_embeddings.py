"""instrumentid.embeddings: the torch port of musicnn against TensorFlow's outputs, its input, its API."""

from pathlib import Path

import numpy as np
import pytest
import torch

from instrumentid import embeddings
from instrumentid.embeddings import (
    N_FRAMES,
    N_POOLS,
    load_musicnn,
    log_mel,
    musicnn_available,
    musicnn_weights,
    note_embeddings,
    note_input,
    pool_frames,
    recording_embeddings,
)
from instrumentid.errors import ModelFileError, ParameterError

PARITY = Path(__file__).parent / "golden" / "musicnn" / "musicnn_parity.npz"
needs_musicnn = pytest.mark.skipif(not musicnn_available(), reason="musicnn is not installed (scripts/setup.sh)")


def close(got, want):
    """Equal to 1e-4 of the row's largest magnitude (float32 sums in another order)."""
    scale = np.abs(want).max(axis=1, keepdims=True)
    assert np.all(np.abs(got - want) <= 1e-4 * scale), float(np.max(np.abs(got - want) / scale))


@pytest.fixture(scope="module")
def parity():
    with np.load(PARITY) as z:
        return {name: z[name] for name in z.files}


@needs_musicnn
@pytest.mark.parametrize("model", ["MSD_musicnn", "MTT_musicnn"])
@pytest.mark.parametrize("frames", [187, 100])
def test_matches_tensorflow(parity, model, frames):
    net = load_musicnn(model)
    x = torch.from_numpy(parity["inputs"][:, :frames].astype(np.float32))
    with torch.inference_mode():
        pools = net(x)
        penultimate, logits = net.head(pools)
    ref = {k.rsplit("/", 1)[1]: v for k, v in parity.items() if k.startswith(f"{model}/{frames}/")}
    close(pools.numpy(), np.hstack([ref["mean_pool"], ref["max_pool"]]))
    close(penultimate.numpy(), ref["penultimate"])
    close(torch.sigmoid(logits).numpy(), ref["taggram"])


def test_log_mel_is_librosa_melspectrogram(rng):
    librosa = pytest.importorskip("librosa")
    for n in (512, 4000, 47616):
        y = (rng.standard_normal(n) * 0.3).astype(np.float32)
        S = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=256, n_mels=96).T
        want = np.log10(10000 * S.astype(np.float16).astype(np.float32) + 1).astype(np.float16)
        got = log_mel(y)
        assert got.dtype == np.float32 and got.shape == (1 + n // 256, 96)
        np.testing.assert_array_equal(got, want.astype(np.float32))


def test_note_input_pads_and_crops(rng):
    short = note_input(rng.standard_normal(2000).astype(np.float32), sr=22050)
    assert short.shape == (N_FRAMES, 96)
    assert np.all(short[-40:] == 0)  # zero-padded after the note
    long = rng.standard_normal(22050 * 5).astype(np.float32)
    np.testing.assert_array_equal(note_input(long, sr=22050), note_input(long[:22050 * 3], sr=22050))
    # peak-normalised: the level does not matter
    np.testing.assert_allclose(note_input(0.01 * long, sr=22050), note_input(long, sr=22050), atol=2e-3)
    assert note_input(long, sr=22050, n_frames=50).shape == (50, 96)


@pytest.mark.parametrize("bad", [np.zeros(0, np.float32), np.array([0.1, np.nan, 0.2], np.float32)])
def test_note_input_bad(bad):
    with pytest.raises(ParameterError, match="finite samples"):
        note_input(bad, sr=22050)


@needs_musicnn
def test_note_embeddings(rng):
    net = load_musicnn()
    clips = [rng.standard_normal(n).astype(np.float32) for n in (30000, 80000, 5000)]
    E = note_embeddings(clips, sr=22050, model=net, batch_size=2)
    assert E.shape == (3, N_POOLS) and E.dtype == np.float32
    with torch.inference_mode():
        want = net(torch.from_numpy(np.stack([note_input(c, sr=22050) for c in clips]))).numpy()
    close(E, want)
    assert note_embeddings([], model=net).shape == (0, N_POOLS)


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"n_frames": 0}, {"n_frames": 2.5}])
def test_note_embeddings_bad_sizes(kwargs):
    with pytest.raises(ParameterError, match="positive integers"):
        note_embeddings([np.ones(100, np.float32)], **kwargs)


def test_bad_model():
    with pytest.raises(ParameterError, match="model must be one of"):
        musicnn_weights("MSD_vgg")
    with pytest.raises(ParameterError, match="model must be one of"):
        load_musicnn("nope")


def test_missing_wheel(monkeypatch):
    monkeypatch.setattr(embeddings, "musicnn_folder", lambda: None)
    assert not musicnn_available()
    with pytest.raises(ModelFileError, match="pip install --no-deps musicnn==0.1.0"):
        musicnn_weights()


@needs_musicnn
def test_weights_converted_once(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTRUMENTID_CACHE", str(tmp_path))
    path = musicnn_weights("MSD_musicnn")
    assert path.parent == tmp_path / "musicnn" and path.suffix == ".safetensors"
    stamp = path.stat().st_mtime_ns
    assert musicnn_weights("MSD_musicnn") == path and path.stat().st_mtime_ns == stamp
    assert not list((tmp_path / "musicnn").glob(".*.tmp"))


def test_pool_frames():
    maps = np.arange(3 * 200, dtype=np.float32).reshape(3, 200)
    out = pool_frames(maps, [(0.0, 0.16), (1.0, 100.0), (20.0, 30.0)], n_frames=50)
    # 0.16 s = 10 frames of 16 ms; the second span is cut at 50 frames; the third starts after the end: last frame
    np.testing.assert_array_equal(out[0], np.r_[maps[:, :10].mean(1), maps[:, :10].max(1)])
    np.testing.assert_array_equal(out[1], np.r_[maps[:, 62:112].mean(1), maps[:, 62:112].max(1)])
    np.testing.assert_array_equal(out[2], np.r_[maps[:, 199], maps[:, 199]])


@needs_musicnn
def test_recording_embeddings():
    sr = 22050
    t = np.arange(int(1.2 * sr)) / sr
    tone = lambda f: np.sin(2 * np.pi * f * t) * np.exp(-2 * t)  # noqa: E731
    y = np.concatenate([tone(330), tone(440), np.zeros(sr // 2)]).astype(np.float32)
    net = load_musicnn()
    found, E = recording_embeddings(y, sr=sr, model=net)
    assert len(found.notes) == 2 and E.shape == (2, N_POOLS)
    starts = [int(round(n.start_s * sr)) for n in found.notes]
    close(E, note_embeddings([y[s:] for s in starts], sr=sr, model=net))
    found2, F = recording_embeddings(y, sr=sr, model=net, per_note="frames")
    assert found2.notes == found.notes and F.shape == (2, N_POOLS) and np.isfinite(F).all()
    with pytest.raises(ParameterError, match="per_note"):
        recording_embeddings(y, sr=sr, model=net, per_note="whole")

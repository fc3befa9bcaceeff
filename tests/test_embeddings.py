"""instrumentid.embeddings: the torch port of musicnn against TensorFlow's outputs, its export, its API.

The input (log-mel patches) and the shipped ONNX network are :mod:`instrumentid.pretrained`'s: tests/test_pretrained.py.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from instrumentid import embeddings
from instrumentid.embeddings import (
    N_POOLS,
    export_pools_onnx,
    load_musicnn,
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


@needs_musicnn
def test_export_pools_onnx_matches_the_port(tmp_path, rng):
    ort = pytest.importorskip("onnxruntime")
    path = export_pools_onnx(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    net = load_musicnn()
    for frames in (63, 120):
        x = (rng.random((2, frames, 96)) * 4).astype(np.float32)
        with torch.inference_mode():
            want = net(torch.from_numpy(x)).numpy()
        close(session.run(None, {"log_mel": x})[0], want)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # written atomically, nothing else left

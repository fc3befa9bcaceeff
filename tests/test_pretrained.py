"""instrumentid.pretrained: musicnn's input, and the shipped ONNX network against TensorFlow's own outputs."""

from pathlib import Path

import numpy as np
import pytest

from instrumentid import pretrained
from instrumentid.errors import ModelFileError, ParameterError
from instrumentid.pretrained import N_FRAMES, N_POOLS, log_mel, network_path, note_input, note_pools

PARITY = Path(__file__).parent / "golden" / "musicnn" / "musicnn_parity.npz"


def close(got, want, rel=1e-4):
    """Equal to ``rel`` of the row's largest magnitude (float32 sums in another order)."""
    scale = np.abs(want).max(axis=1, keepdims=True)
    assert np.all(np.abs(got - want) <= rel * scale), float(np.max(np.abs(got - want) / scale))


def run_network(x: np.ndarray) -> np.ndarray:
    return pretrained._session("MSD_musicnn", 1).run(None, {pretrained.INPUT_NAME: x.astype(np.float32)})[0]


@pytest.mark.parametrize("frames", [187, 100])
def test_shipped_network_matches_tensorflow(frames):
    """The ONNX file that ships gives musicnn's own pools (TensorFlow, tests/golden/musicnn), at any input length."""
    with np.load(PARITY) as z:
        x = z["inputs"][:, :frames]
        want = np.hstack([z[f"MSD_musicnn/{frames}/mean_pool"], z[f"MSD_musicnn/{frames}/max_pool"]])
    close(run_network(x), want)


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


def test_note_pools(rng):
    t = np.arange(40000) / 22050
    clips = [np.sin(2 * np.pi * f * t[:n]).astype(np.float32) * np.exp(-t[:n]) for f, n in
             ((220.0, 40000), (880.0, 9000), (97.0, 30000))]
    E = note_pools(clips, sr=22050)
    assert E.shape == (3, N_POOLS) and E.dtype == np.float32 and np.isfinite(E).all()
    # each note's row is its own: alone or among others, in any order (to float rounding: ONNX Runtime's kernels
    # sum in another order for another batch)
    close(note_pools(clips[1:2], sr=22050), E[1:2], rel=1e-5)
    close(note_pools(clips[::-1], sr=22050), E[::-1], rel=1e-5)
    # the network's pools of the note's first 63 frames: mean first (<= max)
    close(E, run_network(np.stack([note_input(c, sr=22050, n_frames=63) for c in clips])), rel=1e-6)
    assert np.all(E[:, :N_POOLS // 2] <= E[:, N_POOLS // 2:] + 1e-5)
    # different notes, different pools; the same note at another level, the same pools
    assert np.abs(E[0] - E[1]).max() > 0.1
    np.testing.assert_allclose(note_pools([0.05 * clips[0]], sr=22050)[0], E[0], atol=1e-3 * np.abs(E[0]).max())
    assert note_pools([], sr=22050).shape == (0, N_POOLS)


# "abc", NaN, None and [3] raised ValueError or TypeError from int()
@pytest.mark.parametrize("n_frames", [0, N_FRAMES + 1, 2.5, True, "63", "abc", float("nan"), float("inf"), None, [3]])
def test_note_pools_bad_frames(n_frames):
    with pytest.raises(ParameterError, match=f"n_frames must be an integer from 1 to {N_FRAMES}, got"):
        note_pools([np.ones(1000, np.float32)], n_frames=n_frames)


def test_note_pools_bad_inputs():
    with pytest.raises(ParameterError, match="MSD_musicnn.*'VGGish'"):
        note_pools([np.ones(1000, np.float32)], network="VGGish")
    with pytest.raises(ParameterError, match="note 1 of 2: a note must hold finite samples"):
        note_pools([np.ones(1000, np.float32), np.full(1000, np.nan, np.float32)])


# each raised a ValueError, TypeError or IndexError from numpy, librosa or the resampler
@pytest.mark.parametrize("clips, match", [
    ([np.ones((2, 1000), np.float32)], r"note 0 of 1: a note must be a 1-D array .*got shape \(2, 1000\)"),
    ([np.float32(1.0)], r"1-D array .*got shape \(\)"),
    (["abc"], "a note must be an array of samples, got str"),
    (None, "clips must be a sequence of notes"),
])
def test_note_pools_bad_clips(clips, match):
    with pytest.raises(ParameterError, match=match):
        note_pools(clips)


@pytest.mark.parametrize("sr", [0, -1, float("nan"), "x", True, 1e9])
def test_note_pools_bad_sample_rate(sr):
    with pytest.raises(ParameterError, match="sr must be a sample rate from 1,000 to 768,000 Hz"):
        note_pools([np.ones(1000, np.float32)], sr=sr)


def test_notes_shorter_than_a_frame_are_padded():
    assert np.isfinite(note_pools([np.ones(1, np.float32), np.ones(10, np.float32)], n_frames=1)).all()


def test_missing_or_damaged_network(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "FOLDER", tmp_path)
    pretrained._session.cache_clear()
    try:
        with pytest.raises(ModelFileError, match="missing.*export_musicnn_onnx"):
            network_path("MSD_musicnn")
        (tmp_path / "MSD_musicnn.onnx").write_bytes(b"not an onnx graph")
        with pytest.raises(ModelFileError, match="not a loadable ONNX network"):
            note_pools([np.ones(1000, np.float32)])
    finally:
        pretrained._session.cache_clear()


def _save_network(path: Path, nodes, pools_shape, initializers=()) -> None:
    """An ONNX file of ``nodes`` from ``log_mel`` (batch, frames, 96) to ``pools`` of ``pools_shape``."""
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(nodes, "other",
                              [helper.make_tensor_value_info("log_mel", TensorProto.FLOAT, [None, None, 96])],
                              [helper.make_tensor_value_info("pools", TensorProto.FLOAT, pools_shape)],
                              initializer=list(initializers))
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_another_network_in_its_place(tmp_path, monkeypatch, capsys):
    """A loadable ONNX file of another network ran and failed on its output's shape: exit code 3 from the CLI."""
    import synth
    from onnx import helper

    from instrumentid import cli

    _save_network(tmp_path / "MSD_musicnn.onnx", [helper.make_node("Identity", ["log_mel"], ["pools"])],
                  [None, None, 96])
    monkeypatch.setattr(pretrained, "FOLDER", tmp_path)
    pretrained._session.cache_clear()
    try:
        with pytest.raises(ModelFileError, match=r"MSD_musicnn\.onnx: not the network MSD_musicnn"):
            note_pools([np.ones(1000, np.float32)])
        wav = synth.write(tmp_path / "gaps.wav", synth.phrase_audio("gaps"), sr=22050)
        assert cli.main(["predict", str(wav), "--quiet"]) == 2  # the shipped model's features need the network
        err = capsys.readouterr().err
        assert "not the network MSD_musicnn" in err and "Traceback" not in err and err.count("\n") == 1, err
    finally:
        pretrained._session.cache_clear()


def test_shipped_with_its_licence():
    text = (pretrained.FOLDER / "LICENSE").read_text()
    assert "ISC" in text and "Permission to use, copy, modify" in text


def test_a_network_giving_nan_is_named(tmp_path, monkeypatch):
    """A file of the right signature whose pools are NaN gave rows of NaN, refused later as 'X contains NaN'."""
    from onnx import helper, numpy_helper

    weights = np.full((96, N_POOLS), np.nan, np.float32)
    _save_network(tmp_path / "MSD_musicnn.onnx",
                  [helper.make_node("ReduceMean", ["log_mel"], ["mean"], axes=[1], keepdims=0),
                   helper.make_node("MatMul", ["mean", "w"], ["pools"])],
                  [None, N_POOLS], [numpy_helper.from_array(weights, "w")])
    monkeypatch.setattr(pretrained, "FOLDER", tmp_path)
    pretrained._session.cache_clear()
    try:
        with pytest.raises(ModelFileError, match=r"MSD_musicnn\.onnx: the network's pools of note 0 \(of 2\) are "
                                                 "not finite"):
            note_pools([np.ones(1000, np.float32)] * 2)
    finally:
        pretrained._session.cache_clear()

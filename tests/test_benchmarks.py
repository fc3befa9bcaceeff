"""Smoke tests of the benchmark script (benchmarks/run.py) in --quick mode with the peers skipped.

Speed itself is measured by the script, never here: these tests check that every part runs and that the report is
built from what was measured.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run():
    return _load("run")


@pytest.fixture(scope="module")
def peers():
    return _load("peers")


@pytest.fixture(scope="module")
def quick_results(run):
    return run.run(quick=True, skip_peers=True, repeat=1, command="test", log=lambda text: None)


def test_quick_run_produces_the_table(run, quick_results):
    text = run.format_report(quick_results)
    for part in ("machine:", "versions:", "fit: 2 epochs", "sweep: 4 rates x 2 epochs", "feature extraction",
                 "predict, 4 s recording", "instrumentid --help", "issue 8 targets:", "compute floor:",
                 "predict, 0.5 min recording", "issue 15 targets:", "fit <= 1.5x its compute floor"):
        assert part in text, part
    # every peer is listed, and skipped
    assert text.count("skipped") == 2 * len(run.PEERS)
    fit, sweep = quick_results["fit"], quick_results["sweep"]
    assert [r["name"] for r in fit] == ["instrumentid", *run.PEERS]
    ours = fit[0]
    assert ours["seconds"] > 0 and ours["ratio"] == 1.0 and 0.0 <= ours["accuracy"][1e-3] <= 1.0
    assert sorted(sweep[0]["accuracy"]) == sorted(run.RATES)
    assert quick_results["predict"]["n_notes"] > 0 and quick_results["predict"]["warm_s"] > 0
    assert quick_results["predict"]["cold_mb"] > 0 and quick_results["predict"]["cold_torch_s"] > 0
    assert quick_results["long"]["exit"] == 0 and quick_results["long"]["rows"] > 0
    # the built-in model runs musicnn: the warm figure's part before it, and musicnn's floor on the same notes
    pred = quick_results["predict"]
    assert pred["descriptors_s"] > 0 and "floor: MSD_musicnn's convolutions on" in text
    assert pred["embedding_floor"]["n_notes"] == pred["n_notes"] and pred["embedding_floor"]["floor_s"] > 0
    floor = quick_results["floor"]
    assert floor["ratio"] == pytest.approx(ours["seconds"] / floor["floor_s"]) and floor["bound_s"] <= floor["floor_s"]
    json.dumps(quick_results, default=str)  # what --json writes


def test_quick_data_is_learnable_and_standardized(run):
    (X, y, Xt, yt), text = run.load_data("lab", row_step=20)
    assert X.dtype == np.float32 and Xt.dtype == np.float32 and X.shape[1] == 120
    assert set(np.unique(y)) == set(range(10)) == set(np.unique(yt))
    np.testing.assert_allclose(X.mean(0), 0, atol=0.2)
    assert "10 classes" in text


def test_peer_rows_missing_and_failed(run, tmp_path, monkeypatch):
    cfg = run.settings(quick=True)
    monkeypatch.setattr(run.peers, "installed", lambda name: False)
    row = run._peer_row("keras", tmp_path / "data.npz", rates=[1e-3], epochs=1, batch_size=128, repeat=1, threads=1)
    assert row["status"] == "not installed"
    monkeypatch.setattr(run.peers, "installed", lambda name: True)
    # the data file does not exist: the peer's process fails, and the row says so
    row = run._peer_row("sklearn", tmp_path / "missing.npz", rates=[1e-3], epochs=1, batch_size=128, repeat=1,
                        threads=1)
    assert row["status"].startswith("failed:")
    assert cfg["fit_epochs"] == 2


@pytest.mark.parametrize("name", ["pytorch", "sklearn"])
def test_peers_learn_the_same_task(peers, run, name):
    (X, y, Xt, yt), _ = run.load_data("lab", row_step=20)
    out = peers.run_peer(name, (X, y, Xt, yt), rates=(1e-2, 1e-3), epochs=2, threads=1)
    assert sorted(out["accuracy"]) == [1e-3, 1e-2]
    assert out["accuracy"][1e-2] > 0.5  # well above chance (0.1) on the Gaussian clusters
    assert out["seconds"] > 0 and out["versions"]


def test_issue_15_targets_are_judged_from_the_measurements(run):
    results = {
        "predict": {"duration_s": 16.0, "warm_s": 0.05, "cold_s": 1.2, "cold_mb": 260.0},
        "long": {"minutes": 60.0, "seconds": 25.0, "peak_mb": 900.0, "exit": 0},
        "floor": {"ratio": 1.4},
        "build": {"features": {"x_real_time": 500.0}, "build": {"n_notes": 1200, "seconds": 2.0}},
    }
    checks = {name.split(" ")[0] + " " + name.split(" ")[1]: ok for name, _, ok in run.targets_15(results)}
    assert checks == {"cold predict": False, "warm predict": True, "feature extraction": False,
                      "default data": True, "predict of": True, "fit <=": True}


def test_targets_are_judged_from_the_measurements(run):
    results = {
        "fit": [
            {"name": "instrumentid", "label": "instrumentid", "status": "ok", "seconds": 1.0,
             "accuracy": {1e-3: 0.950}, "ratio": 1.0},
            {"name": "keras", "label": "Keras", "status": "ok", "seconds": 12.0, "accuracy": {1e-3: 0.951},
             "ratio": 12.0},
            {"name": "pytorch", "label": "PyTorch", "status": "ok", "seconds": 1.5, "accuracy": {1e-3: 0.940},
             "ratio": 1.5},
        ],
        "help_s": 0.7,
    }
    checks = {name: ok for name, _, ok in run.targets(results)}
    assert checks["fit <= 1/10 of Keras's time"] is True
    assert checks["fit accuracy within 0.3 points of Keras"] is True
    assert checks["fit <= 1/2 of PyTorch's time"] is False
    assert checks["fit accuracy within 0.3 points of PyTorch"] is False
    assert checks["instrumentid --help < 0.5 s"] is False


def test_fit_products_count_the_fit_analytically():
    fit_floor = _load("fit_floor")
    D, H, C, n, n_test, epochs = 120, 256, 10, 300, 50, 2
    products = fit_floor.fit_products(n, n_test, n_features=D, hidden=H, n_classes=C, epochs=epochs,
                                      batch_size=128, eval_chunk=8192)
    forward, backward = 2 * (D * H + H * C), 2 * (H * C + C * H + D * H)  # no gradient for the input
    assert fit_floor.total_flops(products) == epochs * (n * (forward + backward) + n_test * forward)
    # batches of 128, 128 and the last 44 rows, at their own shapes
    assert {(p.m, p.count) for p in products if p.name == "train forward, hidden"} == {(128, 4), (44, 2)}


def test_embedding_floor_reads_the_convolutions_from_the_network():
    predict_floor = _load("predict_floor")
    products = predict_floor.conv_products("MSD_musicnn", n_frames=10, n_notes=3)
    shapes = [(p.m, p.k, p.n, p.count) for p in products]
    # musicnn's timbral filters: 204 of 7 frames x 38 and x 67 mel bands, over 10 frames x 59 and x 30 positions;
    # its temporal ones 51 of 128, 64 and 32 frames over every band; the mid-end 64 of 7 frames
    assert shapes[:2] == [(10 * 59, 7 * 38, 204, 3), (10 * 30, 7 * 67, 204, 3)]
    assert [s[1:3] for s in shapes[2:5]] == [(128, 51), (64, 51), (32, 51)]
    assert shapes[5:] == [(10, 561 * 7, 64, 3), (10, 64 * 7, 64, 3), (10, 64 * 7, 64, 3)]
    longer = predict_floor.conv_products("MSD_musicnn", n_frames=20, n_notes=3)
    assert sum(p.flops for p in longer) == pytest.approx(2 * sum(p.flops for p in products), rel=0.01)


def test_peak_memory_is_the_commands_own(run):
    """A child forked from a large process reports that one's size as its ru_maxrss; the launcher avoids it."""
    ballast = np.ones(400 * 2**20 // 8)  # this process holds 400 MB more than the child ever will
    seconds, peak_mb = run.run_command([sys.executable, "-c", "pass"])
    assert ballast[-1] == 1.0 and 0 < peak_mb < 100 and seconds > 0
    with pytest.raises(RuntimeError, match="exit code 3"):
        run.run_command([sys.executable, "-c", "import sys; sys.exit(3)"])


def test_bad_data_argument(run, capsys):
    assert run.main(["--data", "/no/such/folder", "--skip-peers"]) == 2
    assert "/no/such/folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def note_peer():
    return _load("note_peer")


def test_note_peer_keeps_the_loudest_line(note_peer):
    """basic-pitch's overlapping events become one line: a weaker octave partial inside a note is dropped, the next
    note cuts the one it overlaps, and a sliver under 50 ms is not a note."""
    events = [(0.0, 1.0, 60, 0.8), (0.2, 0.6, 72, 0.3), (0.9, 2.0, 64, 0.9), (2.0, 2.03, 67, 0.9)]
    notes = note_peer.to_mono(events, how="loudest")
    assert [round(n[2]) for n in notes] == [262, 330]
    np.testing.assert_allclose([n[:2] for n in notes], [[0.0, 0.9], [0.9, 2.0]], atol=0.006)
    truncated = note_peer.to_mono(events, how="truncate")
    assert [round(n[2]) for n in truncated] == [262, 330]
    assert len(note_peer.to_mono(events, how="none")) == 4
    assert note_peer.to_mono([], how="loudest") == []


def test_note_peer_scores_basic_pitch_offline(note_peer):
    """The peer runs from its wheel's ONNX model (no network, no TensorFlow) and is scored like instrumentid."""
    pytest.importorskip("basic_pitch")
    pytest.importorskip("onnxruntime")
    results = note_peer.run(per_case=2, cases=["gaps"], ours=False, log=lambda text: None)
    gaps = results["basic-pitch"]["scores"]["gaps"]
    assert gaps["true_notes"] == 12 and gaps["onset_f"] >= 0.6, gaps  # 0.71 at seed 0
    assert "basic-pitch" in note_peer.format_table(results)


def test_import_costs_are_measured_step_by_step():
    import_cost = _load("import_cost")
    rows = import_cost.import_costs(repeat=1)
    assert [r["module"] for r in rows] == ["python", *(m for m, _ in import_cost.CHAIN)]
    assert all(r["seconds"] >= 0 and r["mb"] >= 0 for r in rows)
    assert rows[0]["mb"] < 50  # a fresh interpreter, not this process's peak
    assert sum(r["mb"] for r in rows if r["group"] == "librosa's imports") > 50  # scipy.signal and numba load here


def test_note_detection_counts_single_note_files():
    """--singles: the single case's first files, counted as exactly one note overall, per variant and per class."""
    note_detection = _load("note_detection")
    singles = note_detection.single_notes(3, seed=0, log=lambda text: None)
    assert singles["files"] == 3 and singles["exactly_one"] == 3 and singles["misses"] == {}
    assert singles["by_kind"] == {"at_zero": [1, 1], "lead": [1, 1], "filled": [1, 1]}
    assert sum(n for _, n in singles["by_class"].values()) == 3
    text = note_detection.format_singles({**singles, "exactly_one": 2, "misses": {"single-02-x-filled": 2}})
    assert "2/3 (66.7 %)" in text and "single-02-x-filled (2 notes)" in text
    with pytest.raises(SystemExit):
        note_detection.main(["--singles", "-1"])


def test_compare_analysis_times_two_trees_and_checks_their_results(capsys):
    """Two runs of this tree, interleaved: both times printed, and the same notes and rows found."""
    compare = _load("compare_analysis")
    root = BENCH.parent
    assert compare.main([str(root), "--after", str(root), "--rounds", "1", "--repeat", "1", "--notes", "6"]) == 0
    out = capsys.readouterr().out
    assert out.count("warm predict") >= 3 and f"({root / 'instrumentid' / '__init__.py'})" in out
    assert "the same notes: yes, the same feature rows: yes" in out


def test_chunk_sizes_times_each_set_with_the_same_rows(capsys):
    """benchmarks/chunk_sizes.py: every size set timed on the same notes, the module's sizes restored after."""
    from instrumentid import dsp, features

    chunk_sizes = _load("chunk_sizes")
    before = dsp.STFT_FRAMES, dsp.YIN_FRAMES, features.SHAPE_FRAMES
    assert chunk_sizes.main(["--rounds", "2", "--notes", "6", "--sizes", "32,256,256", "7,5,3"]) == 0
    out = capsys.readouterr().out
    assert "32,256,256 " in out and "7,5,3 " in out and "the same rows for every size set" in out
    assert (dsp.STFT_FRAMES, dsp.YIN_FRAMES, features.SHAPE_FRAMES) == before
    with pytest.raises(SystemExit):
        chunk_sizes.main(["--sizes", "32,0,256"])


def test_musicnn_cost_adds_the_network_to_predict(tmp_path, capsys):
    """benchmarks/musicnn_cost.py runs the port on the lab's example and builds its estimates from what it timed."""
    from instrumentid.embeddings import musicnn_available

    if not musicnn_available():
        pytest.skip("musicnn is not installed (scripts/setup.sh)")
    musicnn_cost = _load("musicnn_cost")
    assert musicnn_cost.main(["--variants", "fp32", "--repeat", "1", "--json", str(tmp_path / "cost.json")]) == 0
    out = json.loads((tmp_path / "cost.json").read_text())
    k = out["n_notes"]
    row, est = out["rows"]["fp32"], out["estimate"]["fp32"]
    assert k > 0 and row["deviation"] == 0.0
    assert all(wall > 0 and cpu > 0 for wall, cpu in (row[n] for n in row if n != "deviation"))
    per_note = est[f"per note, 3 s, one batch of {k}"][0]
    assert per_note == pytest.approx(out["predict_s"] + out["inputs_notes_s"] + row[f"{k} notes x 3 s"][0])
    assert "budget 0.3 s" in capsys.readouterr().out

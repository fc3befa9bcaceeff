"""ONNX export: raw features in, probabilities out, same numbers as predict_proba under onnxruntime."""

import json

import numpy as np
import onnx
import onnxruntime
import pytest

from instrumentid import cli
from instrumentid.export import INPUT_NAME, OUTPUT_NAME, export_onnx


@pytest.fixture(scope="module")
def onnx_path(small_classifier, tmp_path_factory):
    return export_onnx(small_classifier, tmp_path_factory.mktemp("onnx") / "model.onnx")


def _run(path, X):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: np.asarray(X, dtype=np.float32)})[0]


def test_parity_with_predict_proba_on_raw_rows(onnx_path, small_classifier, feature_rows):
    X, _ = feature_rows
    X32 = X.astype(np.float32)  # ONNX takes float32: compare on the same float32 rows
    expected = small_classifier.predict_proba(X32)
    got = _run(onnx_path, X32)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5
    np.testing.assert_array_equal(small_classifier.classes_[got.argmax(axis=1)], small_classifier.predict(X32))


def test_parity_on_rows_from_the_feature_extractor(small_classifier, tmp_path):
    """Real note features (the shipped extractor on rendered notes), not just synthetic rows."""
    from synth import render_phrase

    from instrumentid.analysis import clip_features

    clips = [render_phrase([(program, midi, 0.0, 0.8, 90)], sr=22050)
             for program, midi in ((0, 60), (40, 67), (73, 72), (56, 55))]
    X = np.asarray(clip_features(clips, sr=22050), dtype=np.float32)
    assert X.shape == (4, 120)
    path = export_onnx(small_classifier, tmp_path / "m.onnx")
    assert np.abs(_run(path, X) - small_classifier.predict_proba(X)).max() < 1e-5


@pytest.mark.parametrize("batch", [1, 7, 300])
def test_dynamic_batch_axis(onnx_path, small_classifier, batch, rng):
    X = small_classifier.scaler_.mean_ + rng.normal(size=(batch, 120)) * small_classifier.scaler_.scale_
    got = _run(onnx_path, X)
    assert got.shape == (batch, 4)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(got - small_classifier.predict_proba(X.astype(np.float32))).max() < 1e-5


def test_metadata_and_signature(onnx_path, small_classifier):
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["class_names"]) == ["cello", "flute", "piano", "violin"]
    assert meta["n_features"] == "120"
    assert json.loads(meta["feature_settings"]) is None and json.loads(meta["note_settings"]) is None
    assert model.producer_name == "instrumentid"
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == INPUT_NAME and out.name == OUTPUT_NAME
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 120]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", 4]


def test_cli_export_from_a_run_folder(small_classifier, tmp_path, capsys):
    small_classifier.save(tmp_path / "run" / "model")
    out = tmp_path / "exported" / "m.onnx"
    assert cli.main(["export", str(tmp_path / "run"), "--onnx", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    X = np.tile(small_classifier.scaler_.mean_, (3, 1)).astype(np.float32)
    assert np.abs(_run(out, X) - small_classifier.predict_proba(X)).max() < 1e-5
    assert [p.name for p in out.parent.iterdir()] == ["m.onnx"]


def test_metadata_carries_the_settings(small_classifier, tmp_path):
    from sklearn.base import clone

    from instrumentid.settings import DEFAULT_FEATURES, DEFAULT_NOTES

    clf = clone(small_classifier).set_params(feature_settings=DEFAULT_FEATURES, note_settings=DEFAULT_NOTES)
    clf.fit(np.tile(small_classifier.scaler_.mean_, (8, 1)) + np.arange(8)[:, None], ["a", "b"] * 4)
    meta = {p.key: p.value for p in onnx.load(export_onnx(clf, tmp_path / "m.onnx")).metadata_props}
    assert json.loads(meta["feature_settings"]) == DEFAULT_FEATURES.to_dict()
    assert json.loads(meta["note_settings"]) == DEFAULT_NOTES.to_dict()


def test_a_branch_model_exports_with_the_same_probabilities(feature_rows, tmp_path):
    """The shipped model's kind (one network per block of features, probabilities averaged) exports as one graph."""
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.inference import LightClassifier

    X, names = feature_rows
    clf = InstrumentClassifier(hidden_units=8, epochs=3, lr=1e-2, batch_size=32, members=2, branches=(90, 30),
                               activation="relu").fit(X, names).set_temperature(1.7)
    X32 = X.astype(np.float32)
    got = _run(export_onnx(clf, tmp_path / "b.onnx"), X32)
    assert np.abs(got - clf.predict_proba(X32)).max() < 1e-5
    assert np.abs(got - LightClassifier.load(clf.save(tmp_path / "m")).predict_proba(X32)).max() < 1e-5


def test_the_shipped_model_exports_with_its_probabilities(tmp_path):
    """The shipped BranchNet on a recording's features (descriptors and musicnn pools) gives predict's numbers."""
    import synth

    from instrumentid.analysis import analyze
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.prediction import DEFAULT_MODEL, load_model

    light = load_model(None)
    audio = np.asarray(synth.phrase_audio("two_instruments"))
    X = analyze(audio, sr=22050, feature_settings=light.feature_settings, note_settings=light.note_settings).X
    path = export_onnx(InstrumentClassifier.load(DEFAULT_MODEL), tmp_path / "shipped.onnx")
    assert X.shape[1] == 1626 and np.abs(_run(path, X) - light.predict_proba(X)).max() < 1e-5

"""instrumentid.inference: a saved model run with numpy gives the torch model's probabilities, without torch."""

import subprocess
import sys

import numpy as np
import pytest

from instrumentid import inference, model
from instrumentid.classifier import InstrumentClassifier
from instrumentid.errors import ModelFileError
from instrumentid.inference import LightClassifier
from instrumentid.prediction import DEFAULT_MODEL


@pytest.mark.parametrize("activation", sorted(model.ACTIVATIONS))
def test_same_probabilities_as_the_torch_model(feature_rows, tmp_path, activation):
    X, names = feature_rows
    clf = InstrumentClassifier(hidden_units=16, epochs=3, activation=activation, lr=1e-2).fit(X, names)
    light = LightClassifier.load(clf.save(tmp_path / "m"))
    np.testing.assert_allclose(light.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    assert list(light.predict(X)) == list(clf.predict(X))
    assert list(light.classes_) == list(clf.classes_) and light.n_features_in_ == X.shape[1]


def test_the_numpy_activations_are_the_networks():
    import torch

    z = np.linspace(-40, 40, 101).astype(np.float32)
    assert set(inference.ACTIVATIONS) == set(model.ACTIVATIONS)
    for name, fn in inference.ACTIVATIONS.items():
        expected = model.ACTIVATIONS[name].module()(torch.from_numpy(z)).numpy()
        np.testing.assert_allclose(fn(z), expected, atol=1e-6)


def test_edited_files_are_refused_as_by_the_classifier(feature_rows, tmp_path):
    X, names = feature_rows
    path = InstrumentClassifier(hidden_units=4, epochs=1).fit(X, names).save(tmp_path / "m")
    text = (path / "model.json").read_text().replace('"sigmoid"', '"relu"')
    (path / "model.json").write_text(text)
    with pytest.raises(ModelFileError, match="edited after it was saved"):
        LightClassifier.load(path)


@pytest.mark.skipif(not (DEFAULT_MODEL / "model.json").is_file(), reason="no shipped model")
def test_predict_imports_neither_torch_nor_sklearn(tmp_path):
    code = ("import sys, numpy as np; from instrumentid.prediction import load_model; "
            "clf = load_model(); clf.predict_proba(np.zeros((2, clf.n_features_in_))); "
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_model_info_on_a_folder_a_run_and_an_onnx_file(feature_rows, tmp_path, capsys):
    import json

    from instrumentid import cli
    from instrumentid.export import export_onnx

    X, names = feature_rows
    clf = InstrumentClassifier(hidden_units=8, epochs=2).fit(X, names, trained_on={"data": "k", "rows": ["train"]})
    folder = clf.save(tmp_path / "run" / "model")
    (tmp_path / "run" / "run.json").write_text("{}")
    onnx_file = export_onnx(clf, tmp_path / "m.onnx")
    facts = []
    for where in (folder, tmp_path / "run", onnx_file):
        assert cli.main(["model", "info", str(where), "--format", "json"]) == 0
        facts.append(json.loads(capsys.readouterr().out))
    for f in facts:
        assert f["classes"] == sorted(set(names)) and f["network"] == {"hidden_units": 8, "activation": "sigmoid"}
        assert f["trained_on"] == {"data": "k", "rows": ["train"]} and f["training"]["epochs"] == 2
    assert facts[0]["weights_sha256"] == facts[1]["weights_sha256"] and facts[2]["weights_sha256"] is None
    assert cli.main(["model", "info", str(folder)]) == 0
    assert "classes:" in capsys.readouterr().out


def test_model_info_of_the_shipped_model_and_of_a_foreign_file(tmp_path, capsys):
    from instrumentid import cli

    assert cli.main(["model", "info"]) == 0
    out = capsys.readouterr().out
    assert "trained_on:" in out and "rows ['train', 'test']" in out
    (tmp_path / "x.onnx").write_bytes(b"not onnx")
    assert cli.main(["model", "info", str(tmp_path / "x.onnx")]) == 2
    assert "not an ONNX model exported by instrumentid" in capsys.readouterr().err


def test_logits_are_the_same_on_one_and_two_blas_threads(monkeypatch):
    """A recording's rows run on one BLAS thread (inference._ONE_THREAD_ROWS): the same bits as on two."""
    from threadpoolctl import threadpool_limits

    clf = LightClassifier.load(DEFAULT_MODEL)
    rng = np.random.default_rng(0)
    rows = [(3 * rng.standard_normal((n, clf.n_features_in_))).astype(np.float32)
            for n in [1, 2, 3, 7, 20, 64, 129, 712, 3000]]
    one = [clf.decision_function(X) for X in rows]
    monkeypatch.setattr(inference, "_ONE_THREAD_ROWS", 0)  # no limit: the process's BLAS threads
    with threadpool_limits(limits=2, user_api="blas"):
        two = [clf.decision_function(X) for X in rows]
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))


def test_model_info_names_the_branches(feature_rows, tmp_path, capsys):
    import json

    from instrumentid import cli

    X, names = feature_rows
    clf = InstrumentClassifier(hidden_units=8, epochs=1, branches=(100, 20)).fit(X, names)
    assert cli.main(["model", "info", str(clf.save(tmp_path / "m")), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["network"] == {"hidden_units": 8, "activation": "sigmoid",
                                                              "branches": [100, 20]}

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

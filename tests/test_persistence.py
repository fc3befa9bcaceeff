"""Saved models: safetensors + JSON, identical predictions after a round trip, never unpickled."""

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from instrumentid import persistence, util
from instrumentid.classifier import InstrumentClassifier
from instrumentid.errors import ModelFileError
from instrumentid.inference import LightClassifier, read_model_facts
from instrumentid.settings import FeatureSettings, NoteSettings


@pytest.fixture
def saved(small_classifier, tmp_path):
    return small_classifier.save(tmp_path / "model")


def test_save_writes_two_files_and_a_complete_config(saved, small_classifier):
    assert sorted(p.name for p in saved.iterdir()) == ["model.json", "model.safetensors"]
    config = json.loads((saved / "model.json").read_text())
    assert config["format"] == "instrumentid-model" and config["format_version"] == persistence.FORMAT_VERSION
    assert config["classes"] == ["cello", "flute", "piano", "violin"]
    assert config["architecture"] == {"name": "LabNet", "n_features": 120, "n_classes": 4, "hidden_units": 32,
                                      "activation": "sigmoid"}
    np.testing.assert_array_equal(config["scaler"]["mean"], small_classifier.scaler_.mean_)
    np.testing.assert_array_equal(config["scaler"]["scale"], small_classifier.scaler_.scale_)
    assert {"instrumentid", "torch", "numpy", "scikit-learn"} <= set(config["versions"])
    assert config["weights_sha256"] == hashlib.sha256((saved / "model.safetensors").read_bytes()).hexdigest()
    assert len(config["history"]["train_loss"]) == 3
    tensors = load_file(saved / "model.safetensors")
    assert {k: list(v.shape) for k, v in tensors.items()} == {k: v["shape"] for k, v in config["tensors"].items()}


def test_round_trip_gives_identical_predictions(saved, small_classifier, feature_rows):
    X, names = feature_rows
    loaded = InstrumentClassifier.load(saved)
    np.testing.assert_array_equal(loaded.predict_proba(X), small_classifier.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), small_classifier.predict(X))
    assert loaded.classes_.dtype == small_classifier.classes_.dtype
    assert loaded.get_params() == small_classifier.get_params()
    assert loaded.history_.train_loss == small_classifier.history_.train_loss
    assert loaded.score(X, names) == small_classifier.score(X, names)


@pytest.mark.parametrize("labels", [np.array([3, 7, 11, 20]), np.array([-1, 0, 1, 2], dtype=np.int32),
                                    np.array(["a", "bb", "ccc", "dddd"], dtype=object)])
def test_label_types_survive(labels, feature_rows, tmp_path):
    X, names = feature_rows
    y = labels[np.searchsorted(np.unique(names), names)]
    clf = InstrumentClassifier(hidden_units=8, epochs=1, batch_size=64).fit(X, y)
    loaded = InstrumentClassifier.load(clf.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_note_and_feature_settings_are_carried(small_classifier, tmp_path):
    clf = InstrumentClassifier.load(small_classifier.save(tmp_path / "a"))
    assert clf.feature_settings is None and clf.note_settings is None
    clf.set_params(feature_settings=FeatureSettings(hop_length=256), note_settings=NoteSettings(top_db=40.0))
    again = InstrumentClassifier.load(clf.save(tmp_path / "b"))
    assert again.feature_settings == FeatureSettings(hop_length=256)
    assert again.note_settings == NoteSettings(top_db=40.0)
    config = json.loads((tmp_path / "b" / "model.json").read_text())
    assert config["feature_settings"]["hop_length"] == 256 and config["note_settings"]["top_db"] == 40.0
    assert again.get_params() == clf.get_params()


def test_feature_settings_of_another_width_are_refused(small_classifier, tmp_path):
    """A model whose feature settings make another number of features than its network takes (an edited model,
    or settings set on it by hand) is refused where it is loaded, by both loaders and by ``model info``."""
    clf = InstrumentClassifier.load(small_classifier.save(tmp_path / "a"))
    clf.set_params(feature_settings=FeatureSettings(n_mfcc=40))
    path = clf.save(tmp_path / "b")
    match = r"the feature settings make 200 features a note, but the network takes 120"
    for load in (InstrumentClassifier.load, LightClassifier.load, read_model_facts):
        with pytest.raises(ModelFileError, match=match):
            load(path)


def test_a_config_without_note_settings_reads_as_unknown(saved, tmp_path):
    """A model saved without note settings (trained on feature files) loads with settings None."""
    files = persistence.read_model(saved)
    config = {k: v for k, v in files.config.items()
              if k not in ("format", "format_version", "tensors", "weights_sha256", "weights_bytes", "note_settings")}
    persistence.write_model(tmp_path / "m", config, files.tensors)
    assert InstrumentClassifier.load(tmp_path / "m").note_settings is None


def test_config_is_carried_by_the_weights_deterministically(saved, tmp_path):
    """The weights file carries the config; two saves of one model give the same bytes."""
    again = InstrumentClassifier.load(saved).save(tmp_path / "again")
    assert (again / "model.safetensors").read_bytes() == (saved / "model.safetensors").read_bytes()
    assert (again / "model.json").read_text() == (saved / "model.json").read_text()


def test_persistence_only_does_files():
    """persistence.py reads and writes files: it imports neither the classifier nor the network."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(persistence.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    ours = {m for m in imported if m.startswith("instrumentid")}
    assert ours <= {"instrumentid.errors", "instrumentid.runfolder", "instrumentid.util"}, ours


def test_shipped_model_carries_the_shipped_settings():
    from instrumentid.model import BranchNet
    from instrumentid.settings import DEFAULT_NOTES, SHIPPED_FEATURES

    clf = InstrumentClassifier.load(Path(persistence.__file__).parent / "data" / "default_model")
    assert clf.feature_settings == SHIPPED_FEATURES and clf.note_settings == DEFAULT_NOTES
    assert isinstance(clf.model_, BranchNet) and clf.model_.widths == SHIPPED_FEATURES.branches


def test_load_accepts_model_folder_run_folder_json_and_weights(small_classifier, tmp_path):
    run = tmp_path / "run"
    small_classifier.save(run / "model")
    for path in (run, run / "model", run / "model" / "model.json", run / "model" / "model.safetensors",
                 str(run)):
        assert InstrumentClassifier.load(path).classes_.tolist() == small_classifier.classes_.tolist()


def test_save_replaces_atomically_and_leaves_no_temporaries(small_classifier, feature_rows, tmp_path):
    X, names = feature_rows
    other = InstrumentClassifier(hidden_units=8, epochs=1, batch_size=64, random_state=9).fit(X, names)
    other.save(tmp_path / "m")
    small_classifier.save(tmp_path / "m")
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert InstrumentClassifier.load(tmp_path / "m").model_.hidden_units == 32


def test_save_failure_keeps_the_previous_model(small_classifier, tmp_path, monkeypatch):
    small_classifier.save(tmp_path / "m")
    before = (tmp_path / "m" / "model.safetensors").read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(persistence, "file_sha256", broken)
    with pytest.raises(OSError, match="disk full"):
        small_classifier.save(tmp_path / "m")
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == before


def test_loading_never_unpickles(saved, monkeypatch):
    import torch

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle load was attempted")

    for module, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    assert InstrumentClassifier.load(saved).n_features_in_ == 120


def test_atomic_write_text(tmp_path):
    path = util.atomic_write_text(tmp_path / "sub" / "a.txt", "hello")
    assert path.read_text() == "hello"
    with pytest.raises(RuntimeError), util.atomic_file(tmp_path / "sub" / "a.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert path.read_text() == "hello"
    assert [p.name for p in path.parent.iterdir()] == ["a.txt"]

"""Bad input to the classifier, saved models, evaluation, export and report: one clear error, exit code 2."""

import json

import numpy as np
import pytest

from instrumentid import cli, persistence
from instrumentid.classifier import InstrumentClassifier
from instrumentid.errors import (
    InstrumentIdError,
    ModelFileError,
    NotFittedError,
    ParameterError,
)
from instrumentid.evaluation import evaluate_dataset
from instrumentid.export import export_onnx
from instrumentid.report import write_report


# ----------------------------------------------------------------------------------------------- fit / predict
@pytest.mark.parametrize("param, value", [("hidden_units", 0), ("hidden_units", 2.5), ("epochs", -1),
                                          ("batch_size", True), ("lr", 0.0), ("lr", float("nan")),
                                          ("lr", "fast"), ("activation", "softmax"), ("activation", None),
                                          ("random_state", -5), ("random_state", "seed")])
def test_bad_hyperparameter_is_named(param, value, feature_rows):
    X, names = feature_rows
    with pytest.raises(ParameterError, match=param if param != "activation" else "activation"):
        InstrumentClassifier(**{param: value}).fit(X[:20], names[:20])


@pytest.mark.parametrize("bad, match", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_features(bad, match, feature_rows):
    X, names = feature_rows
    X = X.copy()
    X[3, 7] = bad
    with pytest.raises(ParameterError, match=match):
        InstrumentClassifier(epochs=1).fit(X, names)


def test_bad_labels(feature_rows):
    X, names = feature_rows
    with pytest.raises(ParameterError, match="at least 2 classes.*'cello'"):
        InstrumentClassifier(epochs=1).fit(X[:5], ["cello"] * 5)
    with pytest.raises(ParameterError, match="Unknown label type"):
        InstrumentClassifier(epochs=1).fit(X[:5], [0.1, 0.2, 0.3, 0.4, 0.5])
    with pytest.raises(ParameterError, match="inconsistent numbers of samples"):
        InstrumentClassifier(epochs=1).fit(X[:5], names[:4])
    with pytest.raises(ParameterError, match="eval_set labels.*'tuba'"):
        InstrumentClassifier(epochs=1).fit(X, names, eval_set=(X[:2], ["tuba", "cello"]))
    with pytest.raises(ParameterError, match="eval_set must be a pair"):
        InstrumentClassifier(epochs=1).fit(X, names, eval_set=X[:2])


def test_bad_shapes(small_classifier, feature_rows):
    X, _ = feature_rows
    with pytest.raises(ParameterError, match="X has 119 features.*expecting 120"):
        small_classifier.predict(X[:, :119])
    with pytest.raises(ParameterError, match="2D array"):
        small_classifier.predict(X[0])
    with pytest.raises(ParameterError, match="NaN"):
        small_classifier.predict_proba(np.full((1, 120), np.nan))


def test_not_fitted():
    for call in (lambda c: c.predict(np.zeros((1, 120))), lambda c: c.save("unused"),
                 lambda c: export_onnx(c, "unused.onnx")):
        with pytest.raises(NotFittedError, match="not fitted"):
            call(InstrumentClassifier())


# ----------------------------------------------------------------------------------------------- saved models
@pytest.fixture
def model_dir(small_classifier, tmp_path):
    return small_classifier.save(tmp_path / "run" / "model")


def _edit_config(model_dir, change):
    config = json.loads((model_dir / "model.json").read_text())
    change(config)
    (model_dir / "model.json").write_text(json.dumps(config))


def _resave_with(model_dir, change, change_tensors=None):
    """Rewrite the model with an edited config whose copy in the weights matches: files consistent with each
    other, so what is tested is the check of the config's contents (someone who re-saves a model by hand).
    ``change_tensors(tensors)`` edits the dict of tensors likewise."""
    files = persistence.read_model(model_dir)
    config = {k: v for k, v in files.config.items()
              if k not in ("format", "format_version", "tensors", "weights_sha256", "weights_bytes")}
    change(config)
    tensors = {name: t.clone() for name, t in files.tensors.items()}
    if change_tensors is not None:
        change_tensors(tensors)
    persistence.write_model(model_dir, config, tensors)


# What issue 14 found trusted or crashing when model.json alone was edited: each is now refused, naming the field.
HOSTILE_EDITS = {
    "swapped classes": (lambda c: c.update(classes=[c["classes"][1], c["classes"][0], *c["classes"][2:]]),
                        "classes"),
    "classes cut by their dtype": (lambda c: c.update(classes_dtype="<U3"), "classes_dtype"),
    "shifted scaler mean": (lambda c: c["scaler"].update(mean=[m + 1.0 for m in c["scaler"]["mean"]]), "scaler"),
    "tensors as a list": (lambda c: c.update(tensors=[]), "tensors"),
    "history lr as text": (lambda c: c["history"].update(lr="fast"), "history"),
    "other note settings": (lambda c: c.update(note_settings={"top_db": 1.0}), "note_settings"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_EDITS))
def test_any_edit_of_the_config_is_refused_naming_the_field(model_dir, name, capsys):
    change, field = HOSTILE_EDITS[name]
    _edit_config(model_dir, change)
    with pytest.raises(ModelFileError, match=rf"model\.json: edited after it was saved \(fields .*{field}"):
        InstrumentClassifier.load(model_dir)
    assert cli.main(["export", str(model_dir), "--onnx", str(model_dir / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "edited after it was saved" in err and "Traceback" not in err


def test_hash_of_the_weights_as_a_number(model_dir):
    _edit_config(model_dir, lambda c: c.update(weights_sha256=12345))
    with pytest.raises(ModelFileError, match=r"model\.safetensors: sha256 .* does not match 12345"):
        InstrumentClassifier.load(model_dir)


def test_tampered_weights(model_dir):
    data = bytearray((model_dir / "model.safetensors").read_bytes())
    data[-5] ^= 0x01  # one bit of one weight
    (model_dir / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"model\.safetensors: sha256 .* does not match"):
        InstrumentClassifier.load(model_dir)


def test_truncated_weights(model_dir):
    data = (model_dir / "model.safetensors").read_bytes()
    (model_dir / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"model\.safetensors.*truncated"):
        InstrumentClassifier.load(model_dir)


def test_truncated_weights_with_matching_hash_is_still_refused(model_dir):
    """Even if someone re-hashes a cut file, safetensors' own header check refuses it."""
    import hashlib

    data = (model_dir / "model.safetensors").read_bytes()[:-100]
    (model_dir / "model.safetensors").write_bytes(data)
    _edit_config(model_dir, lambda c: c.update(weights_sha256=hashlib.sha256(data).hexdigest()))
    with pytest.raises(ModelFileError, match=r"model\.safetensors: not a readable safetensors file"):
        InstrumentClassifier.load(model_dir)


def test_truncated_config(model_dir):
    text = (model_dir / "model.json").read_text()
    (model_dir / "model.json").write_text(text[: len(text) // 3])
    with pytest.raises(ModelFileError, match=r"model\.json: not a readable model config"):
        InstrumentClassifier.load(model_dir)


def test_missing_files(model_dir, tmp_path):
    with pytest.raises(ModelFileError, match="no such model"):
        InstrumentClassifier.load(tmp_path / "nowhere")
    with pytest.raises(ModelFileError, match="no model.json"):
        InstrumentClassifier.load(tmp_path)
    (model_dir / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match=r"model\.safetensors: missing weights file"):
        InstrumentClassifier.load(model_dir)


def test_unknown_format_version(model_dir):
    _edit_config(model_dir, lambda c: c.update(format_version=99))
    with pytest.raises(ModelFileError, match="unknown model format version 99"):
        InstrumentClassifier.load(model_dir)
    _edit_config(model_dir, lambda c: c.update(format="keras"))
    with pytest.raises(ModelFileError, match="not an instrumentid model config"):
        InstrumentClassifier.load(model_dir)


def test_shapes_that_do_not_match_the_config(model_dir):
    _resave_with(model_dir, lambda c: c["architecture"].update(hidden_units=64))
    with pytest.raises(ModelFileError, match="tensors do not match a LabNet with 120 features, 64 hidden units"):
        InstrumentClassifier.load(model_dir)


def test_weights_of_another_model_with_its_hash(model_dir, feature_rows, tmp_path):
    """A foreign weights file with its hash copied into model.json: the config it carries is not this one."""
    X, names = feature_rows
    other = InstrumentClassifier(hidden_units=8, epochs=1, batch_size=64).fit(X, names).save(tmp_path / "other")
    (model_dir / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    sha = json.loads((other / "model.json").read_text())["weights_sha256"]
    _edit_config(model_dir, lambda c: c.update(weights_sha256=sha))
    with pytest.raises(ModelFileError, match=r"model\.json: edited after it was saved \(fields .*architecture"):
        InstrumentClassifier.load(model_dir)


@pytest.mark.parametrize("change, match", [
    (lambda c: c["scaler"].update(mean=c["scaler"]["mean"][:-1]), "scaler mean must be 120"),
    (lambda c: c.update(classes=["a", "b", "c"]), "4 outputs but 3 classes"),
    (lambda c: c.update(classes=["a", "a", "b", "c"]), "distinct"),
    (lambda c: c.pop("scaler"), "lacks scaler"),
    (lambda c: c["architecture"].update(activation="softmax"), "cannot build the network"),
    (lambda c: c["scaler"].update(n_samples_seen=9.3e18), "n_samples_seen must be a count from 0 to 2\\*\\*63 - 1"),
    (lambda c: c["scaler"].update(n_samples_seen=-1), "n_samples_seen must be a count"),
    (lambda c: c["architecture"].update(branches=[100, 10]), "bad branches \\[100, 10\\].*summing to the 120"),
    (lambda c: c["architecture"].update(branches=[60, 60], name="BranchNet"), "tensors do not match"),
    (lambda c: c["architecture"].update(branches="60,60"), "bad branches"),
    # fields of the wrong type (issue 14): a ModelFileError, never another exception
    (lambda c: c["history"].update(lr="fast"), "bad"),
    (lambda c: c.update(classes_dtype=7), "bad"),
    (lambda c: c.update(scaler=[1, 2]), "bad"),
])
def test_inconsistent_config(model_dir, change, match):
    """Files re-saved by hand, consistent with each other, with a config that cannot be used."""
    _resave_with(model_dir, change)
    with pytest.raises(ModelFileError, match=match):
        InstrumentClassifier.load(model_dir)


# ----------------------------------------------------------------------------------------------- the CLI
def _tamper(model_dir):
    data = bytearray((model_dir / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (model_dir / "model.safetensors").write_bytes(bytes(data))


def test_cli_evaluate_refuses_a_tampered_model(model_dir, tmp_path, capsys):
    _tamper(model_dir)
    assert cli.main(["evaluate", "--model", str(model_dir), "--data", str(tmp_path),
                     "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.safetensors" in err and "Traceback" not in err
    assert not (tmp_path / "ev").exists()


def test_cli_export_refuses_tampered_and_truncated_models(model_dir, tmp_path, capsys):
    _tamper(model_dir)
    assert cli.main(["export", str(model_dir), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "sha256" in capsys.readouterr().err
    (model_dir / "model.json").write_text('{"format": "instrumentid-model", "format_ver')
    assert cli.main(["export", str(model_dir.parent), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "model.json" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_cli_export_into_a_folder(model_dir, tmp_path, capsys):
    assert cli.main(["export", str(model_dir), "--onnx", str(tmp_path)]) == 2
    assert "folder" in capsys.readouterr().err


def test_evaluate_mismatched_data(small_classifier, feature_rows):
    from instrumentid.datasets.base import FeatureDataset

    X, _names = feature_rows
    y = np.zeros(len(X), dtype=np.int64)
    with pytest.raises(ParameterError, match="has 100 features per row but the model expects 120"):
        evaluate_dataset(small_classifier, FeatureDataset(X[:, :100], y, X[:, :100], y, ["cello"]))
    with pytest.raises(ParameterError, match=r"classes the model does not know: \['tuba'\]"):
        evaluate_dataset(small_classifier, FeatureDataset(X, y, X, y, ["tuba"]))


def test_report_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    with pytest.raises(ParameterError, match="is not a run folder"):
        write_report(tmp_path)
    (tmp_path / "run.json").write_text("{broken")
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "run.json' as JSON" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_every_error_is_an_instrumentid_error():
    assert issubclass(ModelFileError, InstrumentIdError) and issubclass(NotFittedError, InstrumentIdError)


def test_cli_evaluate_data_with_other_features(model_dir, feature_rows, tmp_path, capsys):
    from instrumentid.datasets.base import FeatureDataset, save_dataset

    X, _ = feature_rows
    y = np.arange(len(X)) % 2
    save_dataset(FeatureDataset(X[:, :60], y, X[:, :60], y, ["cello", "flute"]), tmp_path / "data")
    assert cli.main(["evaluate", "--model", str(model_dir), "--data", str(tmp_path / "data"),
                     "--out", str(tmp_path / "ev")]) == 2
    assert "60 features per row but the model expects 120" in capsys.readouterr().err
    assert not (tmp_path / "ev").exists()


def test_save_refuses_to_replace_a_folder_that_is_not_a_model(small_classifier, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    with pytest.raises(ParameterError, match="will not replace"):
        small_classifier.save(run)
    assert (run / "run.json").read_text() == "{}"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ParameterError, match="will not replace"):
        small_classifier.save(tmp_path / "file")


def test_an_absurd_architecture_allocates_nothing(model_dir):
    """Found by the fuzz suite: a re-saved config claiming a huge hidden layer was built before its shapes were
    checked, and took all the memory of the machine. The shapes are now checked first."""
    _resave_with(model_dir, lambda c: c["architecture"].update(hidden_units=10**9))
    with pytest.raises(ModelFileError, match="tensors do not match a LabNet with 120 features, 1000000000 hidden"):
        InstrumentClassifier.load(model_dir)


@pytest.mark.parametrize("value", [float("nan"), float("-inf")])
def test_weights_of_nan_or_infinity_are_refused(model_dir, tmp_path, value, capsys):
    """A re-saved model with one weight of NaN loaded, exported and predicted 'confidence ... got nan'."""
    from instrumentid.inference import LightClassifier, read_model_facts

    _resave_with(model_dir, lambda c: None, lambda t: t["output.bias"].__setitem__(1, value))
    for load in (InstrumentClassifier.load, LightClassifier.load, read_model_facts):
        with pytest.raises(ModelFileError, match=r"model\.safetensors: tensors output\.bias hold NaN or infinite"):
            load(model_dir)
    assert cli.main(["export", str(model_dir), "--onnx", str(tmp_path / "m.onnx")]) == 2
    _one_line(capsys.readouterr().err, "hold NaN or infinite values")
    assert not (tmp_path / "m.onnx").exists()


def _one_line(err: str, match: str) -> None:
    assert match in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err


@pytest.mark.parametrize("branches", [False, True])
def test_training_that_diverges_is_refused_and_writes_no_run(feature_rows, tmp_path, branches, capsys):
    """lr=1e300 made NaN weights: the run failed late on 'proba contains NaN or infinite values'."""
    from instrumentid.datasets.base import FeatureDataset, save_dataset

    X, names = feature_rows
    with pytest.raises(ParameterError, match=r"training diverged with lr=1e\+300: .*use a smaller lr"):
        InstrumentClassifier(hidden_units=8, epochs=2, lr=1e300, branches=[60, 60] if branches else None).fit(X, names)
    if not branches:
        y = np.unique(names, return_inverse=True)[1]
        save_dataset(FeatureDataset(X, y, X[:20], y[:20], sorted(set(names))), tmp_path / "data")
        assert cli.main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--epochs", "2",
                         "--lr", "1e300", "--quiet"]) == 2
        assert "training diverged with lr=1e+300" in capsys.readouterr().err
        assert not (tmp_path / "run").exists()


@pytest.fixture
def branch_model_dir(feature_rows, tmp_path):
    X, names = feature_rows
    clf = InstrumentClassifier(hidden_units=8, epochs=1, batch_size=64, branches=[60, 60]).fit(X, names)
    return clf.save(tmp_path / "branches" / "model")


@pytest.mark.parametrize("branches, match", [
    ([60, 61], r"bad branches \[60, 61\]: expected at least two positive widths summing to the 120"),
    ([120], r"bad branches \[120\]"),
    ([60.0, 60.0], r"bad branches \[60\.0, 60\.0\]"),
    ([40, 40, 40], r"do not match the architecture"),
    (None, r"the architecture is named 'BranchNet', but its branches make a LabNet"),
])
def test_model_info_refuses_branches_the_weights_do_not_make(branch_model_dir, branches, match, capsys):
    """model info showed whatever branches a re-saved model.json claimed (loading it was refused)."""
    from instrumentid.inference import read_model_facts

    _resave_with(branch_model_dir, lambda c: c["architecture"].update(branches=branches))
    with pytest.raises(ModelFileError, match=match):
        read_model_facts(branch_model_dir)
    assert cli.main(["model", "info", str(branch_model_dir)]) == 2
    _one_line(capsys.readouterr().err, "model.json")


@pytest.mark.parametrize("edit, match", [
    (lambda c: c["architecture"].update(name="LabNet"), r"named 'LabNet', but its branches make a BranchNet"),
    (lambda c: c["architecture"].update(name="ResNet"), r"named 'ResNet', but its branches make a BranchNet"),
    (lambda c: c["params"].update(branches=[100, 20]), r"params branches \[100, 20\] are not the network's \[60, 60\]"),
    (lambda c: c["params"].update(branches=[120]), r"params branches \[120\] are not the network's \[60, 60\]"),
])
def test_a_network_name_or_branch_parameter_the_weights_do_not_make_is_refused(branch_model_dir, edit, match,
                                                                                 capsys):
    """model.json's ``architecture.name`` and ``params.branches`` were only displayed or cloned, never checked: a
    re-saved model could claim another network, and a clone of it would have trained one."""
    from instrumentid.inference import LightClassifier, read_model_facts

    _resave_with(branch_model_dir, edit)
    with pytest.raises(ModelFileError, match=match):
        InstrumentClassifier.load(branch_model_dir)
    if "params" not in match:  # the numpy loader and model info read the architecture, not the training parameters
        for load in (LightClassifier.load, read_model_facts):
            with pytest.raises(ModelFileError, match=match):
                load(branch_model_dir)
    command = (["model", "info", str(branch_model_dir)] if "params" not in match
               else ["export", str(branch_model_dir), "--onnx", str(branch_model_dir.parent / "x.onnx")])
    assert cli.main(command) == 2 and not (branch_model_dir.parent / "x.onnx").exists()
    _one_line(capsys.readouterr().err, "model.json")

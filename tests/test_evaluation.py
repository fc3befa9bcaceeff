"""evaluate(): the numbers equal scikit-learn's classification_report; figures, JSON and the evaluate command."""

import json

import numpy as np
import pytest
from conftest import make_feature_rows
from sklearn.metrics import classification_report, confusion_matrix

from instrumentid import cli
from instrumentid.classifier import InstrumentClassifier
from instrumentid.datasets.base import FeatureDataset, save_dataset
from instrumentid.errors import ParameterError
from instrumentid.evaluation import (
    dataset_labels,
    evaluate,
    evaluate_dataset,
    format_evaluation,
    write_evaluation,
)


class _Fixed:
    """A stand-in classifier with known predictions (for hand-checked numbers)."""

    def __init__(self, classes, predictions):
        self.classes_ = np.asarray(classes)
        self._predictions = np.asarray(predictions)

    def predict(self, X):
        return self._predictions[: len(X)]

    def predict_proba(self, X):
        """One-hot rows of the fixed predictions (evaluate() takes the argmax of the probabilities)."""
        return (self._predictions[: len(X), None] == self.classes_[None, :]).astype(np.float64)


def test_hand_checked_numbers():
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "c", "c"]
    result = evaluate(_Fixed(["a", "b", "c"], y_pred), np.zeros((6, 1)), y_true)
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["per_class"]["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3),
                                        "f1-score": pytest.approx(0.8), "support": 3}
    assert result["per_class"]["b"]["precision"] == 0.5 and result["per_class"]["b"]["recall"] == 0.5
    assert result["per_class"]["c"] == {"precision": 0.5, "recall": 1.0, "f1-score": pytest.approx(2 / 3),
                                        "support": 1}
    assert result["macro avg"]["precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert result["weighted avg"]["recall"] == pytest.approx(4 / 6)
    assert result["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def _assert_matches_sklearn(result, y, y_pred, labels):
    names = [str(c) for c in labels]
    report = classification_report(y, y_pred, labels=labels, target_names=names, output_dict=True, zero_division=0)
    assert result["accuracy"] == pytest.approx(report["accuracy"], abs=1e-12)
    for name in names:
        assert result["per_class"][name] == pytest.approx(report[name], abs=1e-12)
    for key in ("macro avg", "weighted avg"):
        assert result[key] == pytest.approx(report[key], abs=1e-12)
    assert result["confusion_matrix"] == confusion_matrix(y, y_pred, labels=labels).tolist()


def test_equals_classification_report_on_a_weak_model(feature_rows):
    X, names = feature_rows
    # two hidden units, three epochs: a model that still makes many mistakes, so every number is non-trivial
    clf = InstrumentClassifier(hidden_units=2, epochs=3, lr=1e-2, batch_size=32, random_state=1).fit(X, names)
    y_pred = clf.predict(X)
    assert 0.2 < np.mean(y_pred == names) < 0.95
    result = evaluate(clf, X, names)
    assert result["class_names"] == ["cello", "flute", "piano", "violin"]
    assert result["n_samples"] == len(names)
    _assert_matches_sklearn(result, names, y_pred, clf.classes_)


def test_equals_classification_report_with_a_class_absent_from_the_data(small_classifier, feature_rows):
    X, names = feature_rows
    keep = names != "flute"
    result = evaluate(small_classifier, X[keep], names[keep])
    assert result["per_class"]["flute"]["support"] == 0
    _assert_matches_sklearn(result, names[keep], small_classifier.predict(X[keep]), small_classifier.classes_)


def test_unknown_labels_are_refused(small_classifier, feature_rows):
    X, _names = feature_rows
    with pytest.raises(ValueError, match="'tuba'.*not classes of the model"):
        evaluate(small_classifier, X[:3], ["tuba", "cello", "cello"])


def test_format_evaluation_lists_every_class(small_classifier, feature_rows):
    X, names = feature_rows
    text = format_evaluation(evaluate(small_classifier, X, names))
    assert text.startswith("accuracy: ")
    for name in ("cello", "flute", "piano", "violin", "macro avg", "weighted avg"):
        assert name in text


def test_write_evaluation_json_and_png(small_classifier, feature_rows, tmp_path):
    X, names = feature_rows
    result = evaluate(small_classifier, X, names)
    paths = write_evaluation(result, tmp_path / "out", extra={"model": "m"})
    assert [p.name for p in paths] == ["evaluation.json", "confusion_matrix.png"]
    saved = json.loads(paths[0].read_text())
    assert saved["model"] == "m" and saved["confusion_matrix"] == result["confusion_matrix"]
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_confusion_matrix_draws_on_given_axes():
    from instrumentid.plots import new_figure, plot_confusion_matrix

    fig, ax = new_figure()
    assert plot_confusion_matrix(np.array([[3, 1], [0, 4]]), class_names=["oboe", "tuba"], ax=ax) == (fig, ax)
    np.testing.assert_array_equal(ax.images[0].get_array(), [[3, 1], [0, 4]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["oboe", "tuba"]
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "3", "4"]
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        plot_confusion_matrix(np.eye(2), class_names=["a", "b", "c"])


def test_dataset_labels_match_by_name():
    clf = _Fixed([0, 1, 2], [])
    np.testing.assert_array_equal(dataset_labels(clf, ["0", "1", "2"], np.array([2, 0])), [2, 0])
    clf = _Fixed(["cello", "flute"], [])
    assert dataset_labels(clf, ["flute", "cello"], np.array([0, 0, 1])).tolist() == ["flute", "flute", "cello"]
    with pytest.raises(ValueError, match="tuba"):
        dataset_labels(clf, ["flute", "tuba"], np.array([0, 1]))


def _dataset(X, names, classes=("cello", "flute", "piano", "violin")):
    """A FeatureDataset with the data's names mapped to indices of ``classes`` (train = test = all rows)."""
    y = np.searchsorted(np.asarray(classes), names)
    return FeatureDataset(X_train=X, y_train=y, X_test=X, y_test=y, class_names=list(classes))


def test_evaluate_dataset_uses_the_test_split(small_classifier, feature_rows):
    X, names = feature_rows
    ds = _dataset(X, names)
    ds.X_test, ds.y_test = X[:40], ds.y_test[:40]
    result = evaluate_dataset(small_classifier, ds)
    assert result["n_samples"] == 40
    assert result == evaluate(small_classifier, X[:40], names[:40])


def test_cli_evaluate_with_data_and_out(small_classifier, feature_rows, tmp_path, capsys):
    X, names = feature_rows
    run = tmp_path / "run"
    small_classifier.save(run / "model")
    (run / "run.json").write_text("{}")
    save_dataset(_dataset(X, names), tmp_path / "data")
    assert cli.main(["evaluate", "--model", str(run), "--data", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "accuracy: " in out and "violin" in out
    saved = json.loads((run / "evaluation.json").read_text())  # default output: the model's run folder
    assert saved["accuracy"] == pytest.approx(small_classifier.score(X, names))
    assert (run / "confusion_matrix.png").is_file()
    assert cli.main(["evaluate", "--model", str(run / "model"), "--data", str(tmp_path / "data"),
                     "--out", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "evaluation.json").is_file()


def test_cli_evaluate_without_data_uses_the_default_set(small_classifier, feature_rows, tmp_path, monkeypatch,
                                                        capsys):
    from instrumentid.datasets import soundfont

    X, names = feature_rows
    calls = []

    def fake_default(*, progress=True, feature_settings=None):
        calls.append(progress)
        return _dataset(X[:20], names[:20])

    monkeypatch.setattr(soundfont, "load_default_dataset", fake_default)
    model = small_classifier.save(tmp_path / "model")
    assert cli.main(["evaluate", "--model", str(model)]) == 0
    assert calls == [True]
    saved = json.loads((model / "evaluation.json").read_text())  # default output: beside the model
    assert saved["n_samples"] == 20 and saved["data"] == "default"
    assert "accuracy: " in capsys.readouterr().out


def test_rows_the_model_was_trained_on_are_refused(feature_rows, tmp_path, capsys):
    """Issue 14: evaluating on the rows a model was (re)fit on would print a meaningless accuracy of ~1.0."""
    from instrumentid import cli
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.datasets.base import FeatureDataset, save_dataset
    from instrumentid.errors import ParameterError

    X, names = feature_rows
    classes = sorted(set(names))
    y = np.array([classes.index(n) for n in names])
    ds = FeatureDataset(X[::2], y[::2], X[1::2], y[1::2], classes, info={"kind": "folder", "cache_key": "k1"})
    path = save_dataset(ds, tmp_path / "ds")
    everything = InstrumentClassifier(hidden_units=8, epochs=2).fit(
        X, names, trained_on={"data": "k1", "rows": ["train", "test"]})
    model = everything.save(tmp_path / "model")
    assert InstrumentClassifier.load(model).trained_on_ == {"data": "k1", "rows": ["train", "test"]}
    with pytest.raises(ParameterError, match="trained on the test rows of this data set"):
        evaluate_dataset(everything, ds)
    assert cli.main(["evaluate", "--model", str(model), "--data", str(path)]) == 2
    assert "trained on the test rows" in capsys.readouterr().err
    honest = InstrumentClassifier(hidden_units=8, epochs=2).fit(X[::2], names[::2],
                                                                trained_on={"data": "k1", "rows": ["train"]})
    assert 0 <= evaluate_dataset(honest, ds)["accuracy"] <= 1  # its test rows are new to it
    with pytest.raises(ParameterError, match="trained on the train rows"):
        evaluate_dataset(honest, ds, split="train")
    other = FeatureDataset(ds.X_train, ds.y_train, ds.X_test, ds.y_test, classes, info={"cache_key": "k2"})
    assert evaluate_dataset(everything, other)["accuracy"] >= 0  # another data set: nothing is known


@pytest.mark.parametrize("bad", [{"data": "k"}, {"data": 3, "rows": ["train"]}, {"data": "k", "rows": ["all"]}, "k"])
def test_trained_on_is_validated(feature_rows, bad):
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.errors import ParameterError

    X, names = feature_rows
    with pytest.raises(ParameterError, match="trained_on must be"):
        InstrumentClassifier(hidden_units=4, epochs=1).fit(X, names, trained_on=bad)


# ----------------------------------------------------------------------------------------------- calibration, sources
def test_evaluate_reports_the_calibration_error(small_classifier, feature_rows):
    from instrumentid.calibration import expected_calibration_error, label_indices

    X, names = feature_rows
    result = evaluate(small_classifier, X, names)
    codes = label_indices(small_classifier.classes_, names)
    assert result["expected_calibration_error"] == pytest.approx(
        expected_calibration_error(small_classifier.predict_proba(X), codes))
    assert 0 < result["expected_calibration_error"] < 1 and result["temperature"] == 1.0
    assert sum(row["count"] for row in result["reliability"]) == len(X) and len(result["reliability"]) == 15
    assert "expected calibration error: " in format_evaluation(result)


def _with_sources(X, names, sources):
    ds = _dataset(X, names)
    rows = [{"source": s, "split": "train"} for s in sources] + [{"source": s, "split": "test"} for s in sources]
    ds.metadata = rows
    return ds


def test_evaluate_by_source_splits_the_test_rows(small_classifier, feature_rows):
    from instrumentid.evaluation import evaluate_by_source, format_by_source

    X, names = feature_rows
    sources = np.where(np.arange(len(X)) % 3 == 0, "FluidR3", "GMbank")
    result = evaluate_by_source(small_classifier, _with_sources(X, names, sources))
    assert list(result["sources"]) == ["FluidR3", "GMbank"]
    assert result["overall"] == evaluate(small_classifier, X, names)
    for name, mask in (("FluidR3", sources == "FluidR3"), ("GMbank", sources == "GMbank")):
        assert result["sources"][name] == evaluate(small_classifier, X[mask], names[mask])
    n = sum(r["n_samples"] for r in result["sources"].values())
    accuracy = sum(r["accuracy"] * r["n_samples"] for r in result["sources"].values()) / n
    assert n == len(X) and accuracy == pytest.approx(result["overall"]["accuracy"])
    text = format_by_source(result)
    assert "FluidR3" in text and "GMbank" in text and "overall" in text and "true \\ predicted" in text


@pytest.mark.parametrize("metadata", [None, [{"split": "train"}]])
def test_evaluate_by_source_needs_a_source_column(small_classifier, feature_rows, metadata):
    from instrumentid.evaluation import evaluate_by_source

    X, names = feature_rows
    ds = _dataset(X, names)
    ds.metadata = None if metadata is None else metadata * (2 * len(X))
    with pytest.raises(ParameterError, match="source"):
        evaluate_by_source(small_classifier, ds)


def test_cli_evaluate_by_source(small_classifier, feature_rows, tmp_path, capsys):
    X, names = feature_rows
    model = small_classifier.save(tmp_path / "model")
    sources = np.where(np.arange(len(X)) % 2 == 0, "TimGM6mb", "freepats")
    save_dataset(_with_sources(X, names, sources), tmp_path / "data")
    assert cli.main(["evaluate", "--model", str(model), "--data", str(tmp_path / "data"), "--by-source"]) == 0
    out = capsys.readouterr().out
    assert "expected calibration error" in out and "by source (test rows)" in out
    assert "== source TimGM6mb" in out and "== source freepats" in out
    saved = json.loads((model / "evaluation.json").read_text())
    assert set(saved["by_source"]["sources"]) == {"TimGM6mb", "freepats"}
    # without a source column: one clear line, exit 2
    save_dataset(_dataset(X, names), tmp_path / "plain")
    assert cli.main(["evaluate", "--model", str(model), "--data", str(tmp_path / "plain"), "--by-source"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("instrumentid: error: ") and "source" in err and err.count("\n") == 1


def test_held_out_figures_of_leave_one_group_out():
    from instrumentid.calibration import expected_calibration_error, fit_temperature, softmax
    from instrumentid.evaluation import held_out_figures

    rng = np.random.default_rng(0)
    codes = {"a": np.array([0, 0, 1, 2] * 25), "b": np.array([1, 1, 2] * 30), "c": np.array([0, 2] * 40)}
    # over-confident logits: right about 70 % of the time, always sure
    logits = {}
    for name, true in codes.items():
        pred = np.where(rng.random(len(true)) < 0.7, true, (true + 1) % 3)
        logits[name] = 8.0 * np.eye(3)[pred] + rng.normal(0, 0.5, (len(true), 3))
    figures = held_out_figures(logits, codes, 3)
    assert list(figures["groups"]) == ["a", "b", "c"]
    b = figures["groups"]["b"]
    assert b["notes"] == 90 and b["accuracy"] == np.mean(logits["b"].argmax(1) == codes["b"])
    assert set(b["recall"]) == {1, 2}  # group b has no class 0
    assert b["temperature_from_others"] == fit_temperature(np.concatenate([logits["a"], logits["c"]]),
                                                           np.concatenate([codes["a"], codes["c"]]))
    assert b["ece_before"] == expected_calibration_error(softmax(logits["b"]), codes["b"])
    assert b["ece_after"] < b["ece_before"] and b["temperature_from_others"] > 1
    assert figures["confusion"].sum() == 100 + 90 + 80
    assert np.trace(figures["confusion"]) == sum(int(np.sum(z.argmax(1) == codes[n])) for n, z in logits.items())


def test_cli_evaluate_without_data_loads_the_default_set_with_the_models_features(feature_rows, tmp_path,
                                                                                 monkeypatch, capsys):
    """A model on the shipped features (musicnn pools) is evaluated on the default notes with those features."""
    from instrumentid import lab
    from instrumentid.errors import InstrumentIdError
    from instrumentid.settings import SHIPPED_FEATURES

    X, names = make_feature_rows(10, n_features=SHIPPED_FEATURES.n_features)
    model = InstrumentClassifier(hidden_units=8, epochs=1, feature_settings=SHIPPED_FEATURES).fit(X, names)
    asked = []

    def fake_load_data(data=None, *, progress=True, feature_settings=None):
        asked.append((data, feature_settings))
        raise InstrumentIdError("stop here")

    monkeypatch.setattr(lab, "load_data", fake_load_data)
    assert cli.main(["evaluate", "--model", str(model.save(tmp_path / "m"))]) == 2
    assert asked == [(None, SHIPPED_FEATURES)] and "stop here" in capsys.readouterr().err


@pytest.mark.parametrize("features, match", [
    # the version a model saved by an older instrumentid carries: the build labelled this code's features with it
    ({"version": 2}, "the model's features are of version 2, this instrumentid computes version 3"),
    # a model whose settings make 1598 columns but which takes 1626 (an edited model): refused where it is loaded
    ({"n_mfcc": 13}, "the feature settings make 1598 features a note, but the network takes 1626"),
])
def test_cli_evaluate_without_data_refuses_features_it_cannot_build_before_building(features, match, tmp_path,
                                                                                  monkeypatch, capsys):
    """Each started rebuilding the 21,465 default notes (minutes) before any error."""
    import dataclasses

    from instrumentid import lab
    from instrumentid.settings import SHIPPED_FEATURES

    X, names = make_feature_rows(10, n_features=SHIPPED_FEATURES.n_features)
    model = InstrumentClassifier(hidden_units=8, epochs=1, feature_settings=SHIPPED_FEATURES).fit(X, names)
    model.set_params(feature_settings=dataclasses.replace(SHIPPED_FEATURES, **features))  # fit refuses n_mfcc 13
    monkeypatch.setattr(lab, "load_data", lambda *a, **k: pytest.fail("the data set was built"))
    assert cli.main(["evaluate", "--model", str(model.save(tmp_path / "m")), "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and not (tmp_path / "ev").exists(), err


def test_data_of_other_feature_settings_is_refused(feature_rows, tmp_path, capsys):
    """Rows as wide as the model's but computed otherwise (musicnn on 187 frames, the model on 63) were scored."""
    from instrumentid.settings import FeatureSettings

    X, names = feature_rows
    classes = sorted(set(names))
    y = np.array([classes.index(n) for n in names])
    ours, theirs = FeatureSettings(n_mfcc=20), FeatureSettings(n_mfcc=20, contrast_fmin=200.0)
    model = InstrumentClassifier(hidden_units=8, epochs=1, feature_settings=ours).fit(X, names)
    ds = FeatureDataset(X[::2], y[::2], X[1::2], y[1::2], classes, info={"feature_settings": theirs.to_dict()})
    with pytest.raises(ParameterError, match=r"other feature settings than the model's \(contrast_fmin: 100\.0 in "
                                             r"the model, 200\.0 in the data\)"):
        evaluate_dataset(model, ds)
    path = save_dataset(ds, tmp_path / "ds")
    assert cli.main(["evaluate", "--model", str(model.save(tmp_path / "m")), "--data", str(path),
                     "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err
    assert "other feature settings" in err and err.count("\n") == 1 and not (tmp_path / "ev").exists()
    same = FeatureDataset(ds.X_train, ds.y_train, ds.X_test, ds.y_test, classes, info={"feature_settings":
                                                                                       ours.to_dict()})
    assert 0 <= evaluate_dataset(model, same)["accuracy"] <= 1

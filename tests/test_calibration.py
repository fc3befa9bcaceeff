"""Calibrated confidence: temperature scaling fitted on held-out logits, saved with the model and used by every
runtime (torch, numpy, ONNX); the expected calibration error; "unknown" below a confidence the user sets."""

import csv
import io
import json

import numpy as np
import pytest
import synth

from instrumentid import cli, features, persistence
from instrumentid.analysis import analyze
from instrumentid.calibration import (
    DEFAULT_MIN_CONFIDENCE,
    METHOD,
    UNKNOWN,
    calibrate,
    check_min_confidence,
    expected_calibration_error,
    fit_temperature,
    reliability_table,
    softmax,
)
from instrumentid.classifier import InstrumentClassifier
from instrumentid.errors import ModelFileError, ParameterError
from instrumentid.inference import LightClassifier, read_model_facts
from instrumentid.prediction import RecordingPrediction, classify, format_predictions
from instrumentid.settings import DEFAULT_FEATURES, DEFAULT_NOTES

SR = 22050


def _sampled_logits(rng, n=4000, n_classes=5, scale=1.0):
    """Logits whose softmax is the true class distribution (labels drawn from it): calibrated at T = 1 by
    construction, ``scale`` times too confident when multiplied by ``scale``."""
    z = rng.normal(scale=2.0, size=(n, n_classes))
    p = softmax(z)
    y = np.array([rng.choice(n_classes, p=row) for row in p])
    return z * scale, y


# ----------------------------------------------------------------------------------------------- the maths
def test_fitted_temperature_undoes_over_confidence_and_lowers_ece(rng):
    logits, y = _sampled_logits(rng, scale=3.0)
    before = expected_calibration_error(softmax(logits), y)
    t = fit_temperature(logits, y)
    after = expected_calibration_error(softmax(logits, temperature=t), y)
    assert 2.6 < t < 3.4  # the logits were made 3 times too confident
    assert before > 0.1 and after < 0.03 and after < before / 4


def test_the_brier_score_finds_the_same_temperature_and_is_swayed_less_by_confident_mistakes(rng):
    logits, y = _sampled_logits(rng, scale=3.0)
    assert 2.6 < fit_temperature(logits, y, objective="brier") < 3.4
    # calibrated rows plus a few confidently wrong ones (a source unlike the rest): the log-likelihood softens every
    # row to pay for them, the Brier score far less, and leaves the smaller calibration error
    good, y_good = _sampled_logits(rng, n=3000)
    bad = np.zeros((60, 5))
    bad[:, 0] = 30.0
    logits, y = np.vstack([good, bad]), np.concatenate([y_good, np.ones(60, int)])
    t_nll, t_brier = fit_temperature(logits, y), fit_temperature(logits, y, objective="brier")
    assert t_nll > t_brier > 0.9
    ece = [expected_calibration_error(softmax(logits, temperature=t), y) for t in (t_nll, t_brier)]
    assert ece[1] < ece[0]
    with pytest.raises(ParameterError, match="objective must be one of \\['nll', 'brier'\\], got 'ece'"):
        fit_temperature(logits, y, objective="ece")


def test_fitted_temperature_sharpens_under_confident_logits(rng):
    logits, y = _sampled_logits(rng, scale=0.5)
    t = fit_temperature(logits, y)
    assert 0.4 < t < 0.6
    assert expected_calibration_error(softmax(logits, temperature=t), y) < \
        expected_calibration_error(softmax(logits), y)


def test_temperature_never_changes_the_most_probable_class(rng):
    logits, _ = _sampled_logits(rng, n=300)
    for t in (0.1, 0.7, 1.0, 4.0):
        assert (softmax(logits, temperature=t).argmax(1) == logits.argmax(1)).all()


def test_ece_and_reliability_table_hand_checked():
    # top probabilities 0.9, 0.9 (one right, one wrong), 0.6 (right), 0.3 (wrong) in 10 bins
    proba = np.array([[0.9, 0.1, 0.0], [0.9, 0.05, 0.05], [0.6, 0.4, 0.0], [0.3, 0.3, 0.4]])
    y = np.array([0, 1, 0, 0])
    table = reliability_table(proba, y, n_bins=10)
    assert len(table) == 10 and sum(row["count"] for row in table) == 4
    assert table[8] == {"lower": 0.8, "upper": 0.9, "count": 2, "confidence": pytest.approx(0.9), "accuracy": 0.5}
    assert table[5]["count"] == 1 and table[5]["accuracy"] == 1.0
    assert table[3]["count"] == 1 and table[3]["accuracy"] == 0.0  # 0.4 is the top probability of the last row
    assert table[0] == {"lower": 0.0, "upper": 0.1, "count": 0, "confidence": None, "accuracy": None}
    expected = (2 * abs(0.5 - 0.9) + abs(1.0 - 0.6) + abs(0.0 - 0.4)) / 4
    assert expected_calibration_error(proba, y, n_bins=10) == pytest.approx(expected)


def test_perfect_confident_predictions_have_zero_ece():
    proba = np.eye(3)[[0, 1, 2, 1]]
    assert expected_calibration_error(proba, np.array([0, 1, 2, 1])) == 0.0


@pytest.mark.parametrize(
    "logits, y, match",
    [
        (np.zeros((0, 3)), np.zeros(0, dtype=int), "shape"),
        (np.zeros((4, 1)), np.zeros(4, dtype=int), "shape"),
        (np.array([[0.0, np.nan], [1.0, 0.0]]), np.array([0, 1]), "NaN"),
        (np.zeros((2, 3)), np.array([0, 3]), r"class indices in \[0, 3\)"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), "class indices"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), "one label per row"),
    ],
)
def test_bad_scores_are_refused(logits, y, match):
    with pytest.raises(ParameterError, match=match):
        fit_temperature(logits, y)
    with pytest.raises(ParameterError, match=match):
        expected_calibration_error(logits, y)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf"), True, "0.5", None])
def test_bad_min_confidence_is_refused(bad):
    with pytest.raises(ParameterError, match="min_confidence must be a probability"):
        check_min_confidence(bad)


# ----------------------------------------------------------------------------------------------- the classifier
@pytest.fixture(scope="module")
def fitted(feature_rows):
    """A classifier trained on the even rows, over-confident after many epochs; the odd rows are held out."""
    X, names = feature_rows
    return InstrumentClassifier(hidden_units=16, epochs=40, lr=1e-2, random_state=0).fit(X[::2], names[::2])


def test_temperature_one_leaves_probabilities_unchanged_bit_for_bit(fitted, feature_rows, tmp_path):
    X, _ = feature_rows
    clf = InstrumentClassifier(hidden_units=16, epochs=2, random_state=0).fit(X, feature_rows[1])
    before = clf.predict_proba(X)
    assert clf.temperature_ == 1.0 and clf.calibration_ == {"temperature": 1.0, "method": None, "fitted_on": None}
    assert np.array_equal(clf.set_temperature(1.0).predict_proba(X), before)
    assert clf.calibration_["method"] is None
    light = LightClassifier.load(clf.save(tmp_path / "m"))
    assert light.temperature_ == 1.0
    assert np.array_equal(light.predict_proba(X), softmax(light.decision_function(X)))


def test_decision_function_is_the_logits_of_predict_proba(fitted, feature_rows):
    X, _ = feature_rows
    logits = fitted.decision_function(X)
    assert logits.shape == (len(X), 4) and logits.dtype == np.float64
    np.testing.assert_allclose(softmax(logits), fitted.predict_proba(X), rtol=1e-12, atol=1e-15)
    assert list(fitted.classes_[logits.argmax(1)]) == list(fitted.predict(X))


def test_two_classes_follow_sklearns_decision_function_convention(feature_rows):
    X, names = feature_rows
    keep = np.isin(names, ["cello", "flute"])
    clf = InstrumentClassifier(hidden_units=8, epochs=5, random_state=0).fit(X[keep], names[keep])
    scores = clf.decision_function(X[keep])
    assert scores.shape == (keep.sum(),)
    assert list(clf.classes_[(scores > 0).astype(int)]) == list(clf.predict(X[keep]))
    calibrate(clf, X[keep], names[keep])
    assert clf.temperature_ > 0


def test_calibrate_on_held_out_rows_saves_and_every_runtime_uses_it(fitted, feature_rows, tmp_path):
    import copy

    X, names = feature_rows
    clf = copy.deepcopy(fitted)
    X_held, y_held = X[1::2], names[1::2]
    predicted = clf.predict(X)
    calibrate(clf, X_held, y_held, fitted_on="odd rows (80 notes)")
    assert clf.calibration_["method"] == METHOD and clf.calibration_["fitted_on"] == "odd rows (80 notes)"
    t = clf.temperature_
    assert t != 1.0
    assert list(clf.predict(X)) == list(predicted)  # the temperature never changes a prediction
    np.testing.assert_allclose(clf.predict_proba(X), softmax(clf.decision_function(X), temperature=t), atol=1e-12)

    path = clf.save(tmp_path / "m")
    config = json.loads((path / "model.json").read_text())
    assert config["calibration"] == {"temperature": t, "method": METHOD, "fitted_on": "odd rows (80 notes)"}
    again = InstrumentClassifier.load(path)
    light = LightClassifier.load(path)
    assert again.temperature_ == t and light.temperature_ == t
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X), atol=1e-12)
    np.testing.assert_allclose(light.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    assert read_model_facts(path)["calibration"]["temperature"] == t


def test_refit_resets_the_calibration(feature_rows):
    X, names = feature_rows
    clf = InstrumentClassifier(hidden_units=8, epochs=1, random_state=0).fit(X, names).set_temperature(2.0)
    assert clf.temperature_ == 2.0 and clf.calibration_["method"] == "manual"
    assert clf.fit(X, names).temperature_ == 1.0


# 1e-320 and 1e-4 divided the logits past float64's (or the ONNX export's float32) range: NaN probabilities
@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "2", None, 1e-320, 1e-4, 1e4, 1e300])
def test_bad_temperatures_are_refused(fitted, bad):
    with pytest.raises(ParameterError, match="temperature must be a finite number > 0, from 0.001 to 1000"):
        fitted.set_temperature(bad)


@pytest.mark.parametrize("bad", ["NLL", "brier ", "", None, ["nll"], 3])
def test_objective_typos_are_refused_before_any_work(fitted, feature_rows, bad):
    X, names = feature_rows
    with pytest.raises(ParameterError, match=r"objective must be one of \['nll', 'brier'\], got"):
        fit_temperature(np.zeros((3, 2)), [0, 1, 0], objective=bad)
    with pytest.raises(ParameterError, match=r"objective must be one of"):
        calibrate(fitted, np.full((2, 3), np.nan), names[:2], objective=bad)  # the rows are never looked at


def test_set_temperature_needs_a_fitted_classifier():
    from instrumentid.errors import NotFittedError

    with pytest.raises(NotFittedError):
        InstrumentClassifier().set_temperature(2.0)


# ----------------------------------------------------------------------------------------------- model files
def _rewrite(path, edit):
    """Write the model at ``path`` again with ``edit(config)`` applied (the copy in the weights agrees with it)."""
    files = persistence.read_model(path)
    config = {k: v for k, v in files.config.items() if k not in ("format", "format_version", "tensors",
                                                                  "weights_sha256", "weights_bytes")}
    edit(config)
    return persistence.write_model(path, config, files.tensors)


@pytest.mark.parametrize("bad", [0.0, -2.0, "2", True, None, [1.0], 1e-320])
def test_a_bad_saved_temperature_is_refused_naming_file_and_field(fitted, tmp_path, bad, capsys):
    path = fitted.save(tmp_path / "m")
    _rewrite(path, lambda c: c["calibration"].update(temperature=bad))
    for load in (InstrumentClassifier.load, LightClassifier.load, read_model_facts):
        with pytest.raises(ModelFileError, match=r"model\.json: .*calibration\.temperature"):
            load(path)
    wav = synth.write(tmp_path / "a.wav", synth.phrase_audio("gaps"), sr=SR)
    assert cli.main(["predict", str(wav), "--model", str(path), "--quiet"]) == 2
    assert "calibration.temperature" in capsys.readouterr().err


def test_an_edited_temperature_fails_the_integrity_check(fitted, tmp_path, capsys):
    path = fitted.save(tmp_path / "m")
    text = (path / "model.json").read_text().replace('"temperature": 1.0', '"temperature": 0.5')
    (path / "model.json").write_text(text)
    with pytest.raises(ModelFileError, match="model.json: edited after it was saved .fields calibration differ"):
        LightClassifier.load(path)
    assert cli.main(["model", "info", str(path)]) == 2
    assert "fields calibration differ" in capsys.readouterr().err


def test_models_saved_without_calibration_load_with_temperature_one(fitted, feature_rows, tmp_path):
    path = fitted.save(tmp_path / "m")
    _rewrite(path, lambda c: c.pop("calibration"))
    assert "calibration" not in json.loads((path / "model.json").read_text())
    X, _ = feature_rows
    assert InstrumentClassifier.load(path).temperature_ == 1.0 and LightClassifier.load(path).temperature_ == 1.0
    np.testing.assert_allclose(LightClassifier.load(path).predict_proba(X), fitted.predict_proba(X), atol=1e-6)


def test_model_info_shows_the_calibration(fitted, tmp_path, capsys):
    import copy

    path = copy.deepcopy(fitted).set_temperature(1.7, fitted_on="held-out source X").save(tmp_path / "m")
    assert cli.main(["model", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "calibration:" in out and "temperature 1.7" in out and "held-out source X" in out


def test_onnx_export_applies_the_temperature(fitted, feature_rows, tmp_path):
    import copy

    import onnxruntime

    from instrumentid.export import INPUT_NAME, OUTPUT_NAME, export_onnx

    X, _ = feature_rows
    X32 = X.astype(np.float32)
    clf = copy.deepcopy(fitted).set_temperature(2.5)
    path = export_onnx(clf, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: X32})[0]
    expected = clf.predict_proba(X32)
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(got - fitted.predict_proba(X32)).max() > 1e-2  # the temperature is in the graph
    assert read_model_facts(path)["calibration"]["temperature"] == 2.5


# ----------------------------------------------------------------------------------------------- "unknown"
class _Fixed:
    """A stand-in model with given per-note probabilities (rows cycled over the notes)."""

    note_settings, feature_settings, n_features_in_ = DEFAULT_NOTES, DEFAULT_FEATURES, features.N_FEATURES

    def __init__(self, classes, rows):
        self.classes_ = np.asarray(classes)
        self._rows = np.asarray(rows, dtype=np.float64)

    def predict_proba(self, X):
        return self._rows[np.arange(len(X)) % len(self._rows)]


@pytest.fixture(scope="module")
def gaps_analysis(tmp_path_factory):
    wav = synth.write(tmp_path_factory.mktemp("audio") / "gaps.wav", synth.phrase_audio("gaps"), sr=SR)
    analysis = analyze(wav)
    assert len(analysis.notes) >= 2
    return analysis


ROWS = [[0.9, 0.06, 0.04], [0.4, 0.35, 0.25]]  # a sure note, then an unsure one (cycled)


def test_notes_below_the_threshold_are_unknown_with_their_guesses_kept(gaps_analysis):
    result = classify(gaps_analysis, _Fixed(["cello", "flute", "oboe"], ROWS), min_confidence=0.5)
    sure, unsure = result.notes[0], result.notes[1]
    assert (sure.instrument, sure.guess, sure.is_unknown) == ("cello", "cello", False)
    assert (unsure.instrument, unsure.guess, unsure.confidence) == (UNKNOWN, "cello", pytest.approx(0.4))
    assert unsure.top[0] == ("cello", pytest.approx(0.4)) and len(unsure.top) == 3
    assert result.min_confidence == 0.5
    # every output shows "unknown" and keeps the guesses
    data = result.to_dict()
    assert data["notes"][1]["instrument"] == UNKNOWN and data["notes"][1]["top"][0]["instrument"] == "cello"
    assert data["min_confidence"] == 0.5
    rows = list(csv.DictReader(io.StringIO(format_predictions([result], fmt="csv"))))
    assert (rows[1]["instrument"], rows[1]["guess"], rows[1]["confidence"]) == (UNKNOWN, "cello", "0.4")
    assert rows[0]["instrument"] == rows[0]["guess"] == "cello" and rows[1]["instrument_2"] == "flute"
    table = result.to_table().splitlines()
    assert "below 50%: unknown" in table[0]
    assert UNKNOWN in table[3] and "cello 40%, flute 35%, oboe 25%" in table[3]
    assert "flute 6%, oboe 4%" in table[2] and "cello 90%" not in table[2]


def test_threshold_zero_never_says_unknown_and_one_always_does(gaps_analysis):
    model = _Fixed(["cello", "flute", "oboe"], ROWS)
    never = classify(gaps_analysis, model, min_confidence=0.0)
    assert UNKNOWN not in {p.instrument for p in never.notes} | {never.instrument}
    always = classify(gaps_analysis, model, min_confidence=1.0)
    assert {p.instrument for p in always.notes} == {UNKNOWN} and always.instrument == UNKNOWN
    assert always.guess == "cello" and "best guess cello" in always.to_table().splitlines()[0]


def test_the_recording_is_unknown_when_its_mean_probability_is_low(gaps_analysis):
    result = classify(gaps_analysis, _Fixed(["cello", "flute", "oboe"], [ROWS[1]]), min_confidence=0.45)
    assert result.instrument == UNKNOWN and result.guess == "cello"
    assert result.to_dict()["instrument"] == UNKNOWN and result.to_dict()["probabilities"]["cello"] > 0.39


def test_the_plot_labels_say_unknown(gaps_analysis):
    from instrumentid import plots

    result = classify(gaps_analysis, _Fixed(["cello", "flute", "oboe"], ROWS), min_confidence=0.5)
    _, ax = plots.plot_notes(gaps_analysis.mel_spectrogram(), predictions=result)
    labels = [t.get_text() for t in ax.texts]
    assert "unknown 40%" in labels[1] and "cello 90%" in labels[0]


def test_records_check_the_threshold(gaps_analysis):
    result = classify(gaps_analysis, _Fixed(["cello", "flute", "oboe"], ROWS), min_confidence=0.5)
    with pytest.raises(ParameterError, match="exactly when its confidence is below the threshold"):
        RecordingPrediction(result.source, result.duration_s, result.notes, result.instrument, result.confidence,
                            result.probabilities, min_confidence=0.3)


def test_a_class_named_unknown_is_refused(gaps_analysis):
    with pytest.raises(ParameterError, match="class named 'unknown'"):
        classify(gaps_analysis, _Fixed(["cello", "unknown"], [[0.6, 0.4]]))


def test_default_threshold_is_the_constant():
    import inspect

    from instrumentid.prediction import predict

    assert DEFAULT_MIN_CONFIDENCE == 0.5
    assert inspect.signature(predict).parameters["min_confidence"].default == DEFAULT_MIN_CONFIDENCE
    assert inspect.signature(classify).parameters["min_confidence"].default == DEFAULT_MIN_CONFIDENCE
    predict_parser = cli.build_parser()._subparsers._group_actions[0].choices["predict"]
    action = next(a for a in predict_parser._actions if a.dest == "min_confidence")
    assert action.default == DEFAULT_MIN_CONFIDENCE and "unknown" in action.help


@pytest.mark.parametrize("bad", ["-0.1", "1.5", "nan", "x", "inf"])
def test_cli_refuses_bad_min_confidence(bad, tmp_path, capsys):
    wav = synth.write(tmp_path / "a.wav", synth.phrase_audio("gaps"), sr=SR)
    with pytest.raises(SystemExit) as exc:
        cli.main(["predict", str(wav), "--min-confidence", bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--min-confidence" in err and "expected a probability from 0 to 1" in err


def test_cli_predict_min_confidence_in_every_format(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, features.N_FEATURES))
    y = np.repeat(["flute", "oboe", "violin"], 30)
    model = InstrumentClassifier(hidden_units=8, epochs=2, random_state=0, feature_settings=DEFAULT_FEATURES,
                                 note_settings=DEFAULT_NOTES).fit(X, y).save(tmp_path / "m")
    folder = tmp_path / "audio"
    folder.mkdir()
    synth.write(folder / "a.wav", synth.phrase_audio("gaps"), sr=SR)
    synth.write(folder / "b.wav", synth.phrase_audio("gaps"), sr=SR)
    # an untrained-looking model: every probability is near 1/3, so 0.9 makes every note unknown, 0 none
    assert cli.main(["predict", str(folder), "--model", str(model), "--format", "json", "--min-confidence", "0.9",
                     "--quiet", "--plot", str(tmp_path / "plots")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 2 and all(r["instrument"] == UNKNOWN and r["min_confidence"] == 0.9 for r in data)
    assert all(n["instrument"] == UNKNOWN and len(n["top"]) == 3 for r in data for n in r["notes"])
    assert len(list((tmp_path / "plots").glob("*.png"))) == 2
    assert cli.main(["predict", str(folder), "--model", str(model), "--format", "csv", "--min-confidence", "0",
                     "--quiet"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and all(r["instrument"] == r["guess"] != UNKNOWN for r in rows)

"""The whole lab from one command, and its single steps (train, sweep, plot), on a generated UIowa-format folder."""

import json
import re

import numpy as np
import pytest

from instrumentid import cli, lab
from instrumentid.classifier import InstrumentClassifier
from instrumentid.datasets.uiowa import load_uiowa
from instrumentid.history import History, load_sweep
from instrumentid.settings import DEFAULT_FEATURES, DEFAULT_NOTES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def lab_run(uiowa_dir, tmp_path_factory):
    """``instrumentid lab --data DIR --out RUN`` run once in-process: (exit code, stdout, stderr, run folder)."""
    run = tmp_path_factory.mktemp("lab") / "run"
    capture = pytest.MonkeyPatch()
    import io
    import sys

    out, err = io.StringIO(), io.StringIO()
    capture.setattr(sys, "stdout", out)
    capture.setattr(sys, "stderr", err)
    try:
        code = cli.main(["lab", "--data", str(uiowa_dir), "--out", str(run)])
    finally:
        capture.undo()
    return code, out.getvalue(), err.getvalue(), run


def test_lab_prints_the_lab(lab_run):
    code, out, err, _ = lab_run
    assert code == 0
    lines = out.splitlines()
    for expected in ("Number of training samples: 3,000", "Number of test samples: 800",
                     "Number of features per sample: 120", "Number of classes: 10", "Total params: 33,546",
                     "Trainable params: 33,546"):
        assert expected in lines
    assert any(line.startswith("hidden") and line.endswith("30,976") for line in lines)
    assert any(line.startswith("output") and line.endswith("2,570") for line in lines)
    epochs = [line for line in lines if line.startswith("Epoch ")]
    assert [line.split()[1] for line in epochs] == [f"{i}/10" for i in range(1, 11)]
    accuracy = float(re.search(r"^Test accuracy: ([0-9.]+)", out, re.MULTILINE).group(1))
    assert accuracy > 0.9  # chance is 0.1
    assert len(re.findall(r"^lr \S+ +final training loss", out, re.MULTILINE)) == 4
    order = [out.index(s) for s in ("Number of classes", "Total params", "Epoch 1/10", "Test accuracy",
                                    "Learning-rate sweep", "lr 0.0001")]
    assert order == sorted(order)  # the lab's order: data, model, training, sweep
    assert "fit" in err and "sweep" in err  # progress bars go to stderr


def test_lab_run_folder(lab_run, uiowa_dir):
    _, _out, _, run = lab_run
    assert sorted(p.name for p in run.iterdir()) == [
        "accuracy_loss.png", "confusion_matrix.png", "evaluation.json", "example.aiff", "history.csv", "history.json",
        "mel_spectrogram.png", "model", "note_features.npy", "notes.csv", "report.html", "run.json", "sweep.csv",
        "sweep.json", "sweep_loss.png"]
    assert np.load(run / "note_features.npy").shape == (4, 120)  # steps 1-2 on the lab's saxophone example
    assert [row.split(",")[-1] for row in (run / "notes.csv").read_text().split()[1:]] == ["C6", "C#6", "D6", "D#6"]
    assert (run / "mel_spectrogram.png").read_bytes()[:8] == PNG_MAGIC
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["accuracy"] == pytest.approx(History.from_json(run / "history.json").test_accuracy[-1], abs=1e-6)
    assert "Test accuracy" in (run / "report.html").read_text() or "accuracy" in (run / "report.html").read_text()
    assert not list(run.parent.glob(".*"))  # no temporary folder left
    for png in ("accuracy_loss.png", "sweep_loss.png"):
        assert (run / png).read_bytes()[:8] == PNG_MAGIC
    history = History.from_json(run / "history.json")
    assert history.epochs == 10 and history.lr == 0.001
    assert len((run / "history.csv").read_text().splitlines()) == 11
    sweep = load_sweep(run / "sweep.json")
    assert list(sweep) == [0.1, 0.01, 0.001, 0.0001]
    assert all(h.epochs == 20 and h.has_test for h in sweep.values())
    assert len((run / "sweep.csv").read_text().splitlines()) == 1 + 4 * 20
    record = json.loads((run / "run.json").read_text())
    assert record["command"] == "lab"
    assert record["settings"]["epochs"] == 10 and record["settings"]["rates"] == [0.1, 0.01, 0.001, 0.0001]
    assert record["data"]["path"] == str(uiowa_dir.resolve())
    assert record["data"]["class_names"] == [str(i) for i in range(10)]
    assert set(record["versions"]) == {"python", "numpy", "torch", "sklearn", "instrumentid"}
    assert {"load_data", "train", "sweep", "plot_history", "plot_sweep", "total"} <= set(record["timings_s"])
    assert record["final"]["test_accuracy"] == history.test_accuracy[-1]


def test_lab_model_speaks_class_names(lab_run, uiowa_dir):
    run = lab_run[3]
    clf = InstrumentClassifier.load(run)
    ds = load_uiowa(uiowa_dir)
    assert list(clf.classes_) == [str(i) for i in range(10)]
    assert clf.feature_settings is None and clf.note_settings is None  # the UIowa files do not say
    predicted = clf.predict(ds.X_test)
    names = np.asarray(ds.class_names)[ds.y_test]
    assert np.mean(predicted == names) == pytest.approx(History.from_json(run / "history.json").test_accuracy[-1])


def test_plot_redraws_figures(lab_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(lab_run[3], run)
    for png in run.glob("*.png"):
        png.unlink()
    assert cli.main(["plot", str(run)]) == 0
    assert capsys.readouterr().out.split() == ["wrote", str(run / "accuracy_loss.png"), "wrote",
                                               str(run / "sweep_loss.png")]
    assert (run / "sweep_loss.png").read_bytes()[:8] == PNG_MAGIC


def test_train_and_sweep_commands(uiowa_dir, tmp_path, capsys):
    assert cli.main(["train", "--data", str(uiowa_dir), "--out", str(tmp_path / "t"), "--epochs", "2",
                     "--hidden-units", "16", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 2,106" in out and "Epoch 2/2" in out  # (120 + 1) * 16 + (16 + 1) * 10
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [
        "accuracy_loss.png", "confusion_matrix.png", "evaluation.json", "history.csv", "history.json", "model",
        "report.html", "run.json"]
    assert cli.main(["sweep", "--data", str(uiowa_dir), "--out", str(tmp_path / "s"), "--epochs", "3",
                     "--rates", "0.01", "0.001", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["report.html", "run.json", "sweep.csv",
                                                                  "sweep.json", "sweep_loss.png"]
    assert list(load_sweep(tmp_path / "s" / "sweep.json")) == [0.01, 0.001]


def test_train_members_saves_the_merged_ensemble(uiowa_dir, tmp_path, capsys):
    from instrumentid.classifier import InstrumentClassifier

    assert cli.main(["train", "--data", str(uiowa_dir), "--out", str(tmp_path / "t"), "--epochs", "2",
                     "--hidden-units", "16", "--members", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 6,298" in out  # (120 + 1) * 48 + (48 + 1) * 10
    assert "3 networks of 16 hidden units, trained with seeds 0-2 and merged" in out
    clf = InstrumentClassifier.load(tmp_path / "t" / "model")
    assert (clf.members, clf.hidden_units, clf.model_.hidden_units) == (3, 16, 48)
    assert json.loads((tmp_path / "t" / "run.json").read_text())["settings"]["members"] == 3
    with pytest.raises(SystemExit):
        cli.main(["train", "--members", "0"])
    assert "--members" in capsys.readouterr().err


def _default_class_names():
    from instrumentid.datasets.programs import DEFAULT_CLASSES

    names = list(DEFAULT_CLASSES)
    assert names != sorted(names)  # the data set's order is not the classifier's alphabetical one
    return names


@pytest.mark.parametrize("class_names", [None, "default"], ids=["uiowa-digits", "default-instruments"])
def test_sweep_matches_the_lab_fit_at_the_same_rate(class_names, uiowa_dir, tmp_path):
    """Fit and sweep see one class order: the sweep's network at the lab's rate is the lab's network.

    With the default data set's names (piano, guitar, violin...: not alphabetical) the data set's class indices and
    the classifier's sorted classes differ; the sweep must use the classifier's.
    """
    data = uiowa_dir
    if class_names == "default":
        from instrumentid.datasets.base import save_dataset

        ds = load_uiowa(uiowa_dir)
        ds.class_names = _default_class_names()
        data = save_dataset(ds, tmp_path / "named")
    run = lab.run_lab(data, out=tmp_path / "r", epochs=3, sweep_epochs=3, rates=[0.01, 0.001],
                      hidden_units=16, progress=False)
    fit = History.from_json(run / "history.json")
    swept = load_sweep(run / "sweep.json")[0.001]
    np.testing.assert_allclose(swept.train_loss, fit.train_loss, rtol=1e-4)
    np.testing.assert_allclose(swept.test_loss, fit.test_loss, rtol=1e-4)
    np.testing.assert_allclose(swept.test_accuracy, fit.test_accuracy, atol=1.01 / 800)


def test_run_sweep_uses_the_classifier_class_order(uiowa_dir, tmp_path):
    """``sweep`` alone encodes like ``train``: its run at the lab's rate is ``train``'s fit."""
    from instrumentid.datasets.base import save_dataset

    ds = load_uiowa(uiowa_dir)
    ds.class_names = _default_class_names()
    data = save_dataset(ds, tmp_path / "named")
    fit = History.from_json(lab.run_train(data, out=tmp_path / "t", epochs=2, hidden_units=8, progress=False)
                            / "history.json")
    swept = load_sweep(lab.run_sweep(data, out=tmp_path / "s", epochs=2, rates=[0.001], hidden_units=8,
                                     progress=False) / "sweep.json")[0.001]
    np.testing.assert_allclose(swept.train_loss, fit.train_loss, rtol=1e-4)


def test_a_trained_run_has_its_model_card_and_recipe(uiowa_dir, tmp_path):
    from instrumentid.modelcard import CARD_FILE, model_card

    run = lab.run_train(uiowa_dir, out=tmp_path / "t", epochs=1, hidden_units=8, activation="relu", input_noise=0.5,
                        progress=False)
    model_dir = run / "model"
    assert (model_dir / CARD_FILE).read_text() == model_card(model_dir)
    params = json.loads((model_dir / "model.json").read_text())["params"]
    assert params["input_noise"] == 0.5 and params["activation"] == "relu"


def test_rerun_replaces_a_run_folder(uiowa_dir, tmp_path):
    run = tmp_path / "r"
    lab.run_lab(uiowa_dir, out=run, epochs=1, sweep=False, hidden_units=8, progress=False)
    assert not (run / "sweep.json").exists()
    lab.run_lab(uiowa_dir, out=run, epochs=1, sweep_epochs=1, rates=[0.1], hidden_units=8, progress=False)
    assert (run / "sweep.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_interrupted_run_leaves_nothing(uiowa_dir, tmp_path, monkeypatch, capsys):
    from instrumentid import training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "sweep", interrupted)
    assert cli.main(["lab", "--data", str(uiowa_dir), "--out", str(tmp_path / "r"), "--epochs", "1",
                     "--hidden-units", "8", "--quiet"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_default_data_set_and_run_folder(uiowa_dir, tmp_path, monkeypatch):
    from instrumentid.datasets import soundfont

    calls = []

    def fake_default(*, progress=True, feature_settings=None):
        """A set with audio features and no note detection, as the SoundFont sets are."""
        calls.append(progress)
        ds = load_uiowa(uiowa_dir)
        ds.class_names = [f"instrument{i}" for i in range(10)]
        ds.info = {"kind": "soundfont", "feature_settings": DEFAULT_FEATURES.to_dict()}
        assert ds.feature_settings == DEFAULT_FEATURES and ds.note_settings is None
        return ds

    monkeypatch.setattr(soundfont, "load_default_dataset", fake_default)
    monkeypatch.chdir(tmp_path)
    run = lab.run_train(epochs=1, hidden_units=8, progress=False)
    assert calls == [False]
    assert run.parent == __import__("pathlib").Path("runs") and re.fullmatch(r"train-\d{8}-\d{6}", run.name)
    clf = InstrumentClassifier.load(run)
    assert clf.classes_[0] == "instrument0"
    assert clf.feature_settings == DEFAULT_FEATURES and clf.note_settings == DEFAULT_NOTES
    assert json.loads((run / "run.json").read_text())["data"]["kind"] == "soundfont"


def test_lab_steps_1_2_use_the_given_recording(uiowa_dir, tmp_path, capsys):
    import soundfile as sf

    from instrumentid.datasets.render import default_soundfonts, render_phrase

    y = render_phrase([(73, 72, 0.1, 0.6, 90), (73, 76, 0.9, 0.6, 90)], soundfont=default_soundfonts()["TimGM6mb"],
                      sr=44100, stereo=True)
    sf.write(str(tmp_path / "flute.wav"), y.T, 44100)
    run = lab.run_lab(uiowa_dir, out=tmp_path / "r", audio=tmp_path / "flute.wav", epochs=1, sweep=False,
                      hidden_units=8, progress=False)
    out = capsys.readouterr().out
    assert "flute.wav: 2.00 s at 22050 Hz" in out and "2 notes: C5" in out
    assert not (run / "example.aiff").exists() and np.load(run / "note_features.npy").shape == (2, 120)

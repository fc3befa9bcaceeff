"""The model card (instrumentid.modelcard): its sections and figures from a model folder, model info's facts, and the
shipped model's card against its files."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from instrumentid import cli
from instrumentid.errors import ModelFileError
from instrumentid.modelcard import (
    CARD_FILE,
    NOT_MEASURED,
    SOURCES,
    TRAINING_FILE,
    card_facts,
    dataset_facts,
    model_card,
    write_model_card,
)
from instrumentid.persistence import file_sha256
from instrumentid.prediction import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["cello", "flute", "piano", "violin"]  # those of conftest's feature_rows
SECTIONS = ["## Summary", "## What it predicts", "## Input, and what it was not made for", "## Training data",
            "### Sources", "### Variation applied", "### Notes per class and source", "## Recipe", "## Figures",
            "### Notes of instruments it heard (pitch split)", "### Sources it never heard (leave one source out)",
            "### Calibration", "## Known failure modes", "## Licence of the weights"]


def training_record() -> dict:
    """A training.json in the format scripts/train_default_model.py writes, with the card's data facts."""
    sources = ["TimGM6mb", "FluidR3", "freepats"]
    return {
        "script": "scripts/train_default_model.py",
        "dataset": {"kind": "soundfont", "key": "0123456789abcdef", "split": "pitch", "test_source": None,
                    "n_train": 120, "n_test": 40},
        "sources": sources,
        "recipe": {"epochs": 20, "batch_size": 128, "hidden_units": 8, "activation": "relu", "lr": 0.001,
                   "input_noise": 1.0, "seed": 0},
        "train_accuracy": 0.99875,
        "test_accuracy": 0.975,
        "leave_one_source_out": {
            "sources": {
                "TimGM6mb": {"notes": 50, "accuracy": 0.52, "ece_before": 0.31, "ece_after": 0.12,
                             "temperature_from_other_sources": 2.25},
                "FluidR3": {"notes": 60, "accuracy": 0.4, "ece_before": 0.4, "ece_after": 0.05,
                            "temperature_from_other_sources": 1.8},
                "freepats": {"notes": 50, "accuracy": 0.7, "ece_before": 0.2, "ece_after": 0.1,
                             "temperature_from_other_sources": 2.0},
            },
            "per_class": {"TimGM6mb": {"cello": 0.25, "flute": 0.9}, "FluidR3": {"cello": 0.1, "piano": 0.75},
                          "freepats": {"violin": 0.66}},
            "confusion": {"classes": CLASSES,
                          # rows true, columns predicted: cello -> violin 6 of 10 is the worst confusion
                          "matrix": [[3, 0, 1, 6], [2, 18, 0, 0], [0, 5, 15, 0], [1, 0, 0, 9]]},
            "mean_accuracy": 0.54, "ece_before": 0.3033, "ece_after": 0.09, "temperature": 1.9375,
        },
        "shipped_model_trained_on": "train+test",
        "fit_seconds": 1.0,
        "total_seconds": 2.0,
        "note_counts": {"TimGM6mb": {"cello": 20, "flute": 30}, "FluidR3": {"cello": 25, "piano": 35},
                        "freepats": {"violin": 50}},
        "rendering": {"sources": [{"name": "TimGM6mb", "file": "TimGM6mb.sf2", "bytes": 1, "programs": None},
                                  {"name": "FluidR3", "file": "FluidR3_GM.sf2", "bytes": 2, "programs": None},
                                  {"name": "freepats", "file": "freepats.cfg", "bytes": 3, "programs": [0, 40]}],
                      "classes": {"cello": {"programs": [42], "range": None}},
                      "velocities": [30, 70, 110], "durations_s": [0.3, 1.6], "renders_per_note": 3,
                      "variation": {"vibrato_probability": 0.6, "room_probability": 0.5}, "seed": 0,
                      "n_silent_dropped": 7},
    }


@pytest.fixture()
def model_folder(small_classifier, tmp_path):
    """A calibrated model folder with a training.json in the new format."""
    clf = copy.deepcopy(small_classifier).set_temperature(1.9375, method="temperature scaling",
                                                          fitted_on="held-out notes of 3 sources")
    folder = clf.save(tmp_path / "model")
    (folder / TRAINING_FILE).write_text(json.dumps(training_record()))
    return folder


def test_the_card_has_every_section_and_the_recorded_figures(model_folder):
    card = model_card(model_folder)
    config = json.loads((model_folder / "model.json").read_text())
    positions = [card.index(s + "\n") for s in SECTIONS]
    assert positions == sorted(positions)
    assert NOT_MEASURED not in card
    # what it predicts, input, recipe
    assert "one of 4 classes: cello, flute, piano, violin" in card and "polyphony" in card and "voices" in card
    assert "percussion" in card and "instruments outside its classes" in card
    assert config["weights_sha256"] in card and f"{config['weights_bytes']} bytes" in card
    assert "`0123456789abcdef`" in card and ".venv/bin/python scripts/train_default_model.py" in card
    assert ("Recipe as recorded by the training script: epochs 20, batch_size 128, hidden_units 8, activation relu, "
            "lr 0.001, input_noise 1, seed 0.") in card
    assert "Calibration: temperature 1.9375, method temperature scaling, fitted on held-out notes of 3 sources" in card
    # training data: sources with version, licence and lineage; variation; counts per class and source
    assert f"| FluidR3 | {SOURCES['FluidR3']['package']} | 3.1-5.3 | `FluidR3_GM.sf2`, every program | MIT:" in card
    assert "| freepats |" in card and "`freepats.cfg`, programs 0, 40" in card and "top sample" in card
    assert "- `vibrato_probability`: 0.6" in card and "silent renders dropped: 7" in card
    assert "| cello | 20 | 25 | 0 | 45 |" in card and "| all | 50 | 60 | 50 | 160 |" in card
    # figures
    assert "accuracy 97.5 % on 40 test notes (99.9 % on the 120 training notes)" in card
    assert "| FluidR3 | 60 | 40.0 % | 0.400 | 0.050 | 1.800 |" in card
    assert "| cello | 25.0 % | 10.0 % |  |" in card and "Mean accuracy over sources: 54.0 %." in card
    assert "0.303 before, 0.090 after temperature scaling" in card and "temperature, 1.938," in card
    # failure modes: the largest off-diagonal cells, in words, worst first
    assert card.index("- cello named violin: 6 of 10 cello notes (60.0 %)") < card.index(
        "- piano named flute: 5 of 20 piano notes (25.0 %)") < card.index("- flute named cello: 2 of 20")
    assert "worst first: cello 30.0 %, piano 75.0 %, flute 90.0 %, violin 90.0 %" in card
    # licence, stated plainly
    licence = card[card.index("## Licence of the weights"):]
    assert "TimGM6mb GPL-2; FluidR3 MIT; freepats GPL-2+ with an exception" in licence
    assert "samples under the GPL: TimGM6mb, freepats" in licence and "freepats exception" in licence
    assert "What is not known" in licence and "not legal advice" in licence


def test_the_card_is_a_function_of_the_files(model_folder, tmp_path):
    moved = shutil.copytree(model_folder, tmp_path / "elsewhere")
    assert model_card(model_folder) == model_card(moved) == model_card(moved / "model.json")


def test_the_card_of_a_merged_ensemble_names_its_members(feature_rows, model_folder, tmp_path):
    from instrumentid.classifier import InstrumentClassifier

    X, names = feature_rows
    clf = InstrumentClassifier(hidden_units=8, epochs=1, batch_size=32, random_state=0, members=3).fit(X, names)
    card = model_card(clf.save(tmp_path / "ensemble"))
    assert ("standardized features -> 24 relu units" in card or "standardized features -> 24 sigmoid units" in card)
    assert "(3 networks of 8 units trained with consecutive seeds and merged: the outputs are the mean of their " \
           "scores)." in card
    assert "networks of" not in model_card(model_folder)  # one network: no such words


def test_the_card_of_a_branch_model_names_its_blocks_and_the_embedding_licence(feature_rows, tmp_path):
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.settings import SHIPPED_FEATURES

    X, names = feature_rows
    features = SHIPPED_FEATURES  # the shipped kind: descriptors, then musicnn's pools
    Xb = np.hstack([X, np.random.default_rng(0).normal(size=(len(X), 1506))])
    clf = InstrumentClassifier(hidden_units=8, epochs=1, batch_size=32, members=2, branches=features.branches,
                               feature_settings=features).fit(Xb, names)
    card = model_card(clf.save(tmp_path / "branches"))
    assert "one network per block of the features (120 features and 1506 features): each standardized block -> 16 " \
           "sigmoid units -> 4 outputs (2 networks of 8 units" in card
    assert "the output is the mean of the blocks' softmax probabilities" in card
    assert "musicnn's MSD_musicnn network" in card and "ISC licence" in card
    assert "ISC" not in model_card(clf.set_params(feature_settings=None).save(tmp_path / "plain"))


@pytest.mark.parametrize("record", ["old", "none"])
def test_a_model_without_measured_figures_says_not_measured(small_classifier, tmp_path, record):
    folder = small_classifier.save(tmp_path / "model")
    if record == "old":  # what scripts/train_default_model.py wrote before it measured held-out sources
        (folder / TRAINING_FILE).write_text(json.dumps({
            "script": "scripts/train_default_model.py", "dataset": {"kind": "soundfont", "key": "k", "split": "pitch",
                                                                    "n_train": 10, "n_test": 5},
            "sources": ["TimGM6mb", "FluidR3"], "epochs": 40, "lr": 0.003, "seed": 0, "train_accuracy": 1.0,
            "test_accuracy": 0.99, "shipped_model_trained_on": "train+test"}))
    card = model_card(folder)
    assert all(s + "\n" in card for s in SECTIONS)
    assert "Leave-one-source-out accuracy: not measured" in card and "Calibration error: not measured" in card
    assert "Confusions on sources it never heard: not measured" in card
    assert "Note counts per class and source: not recorded" in card
    if record == "old":
        assert "99.0 %" in card and "epochs 40, lr 0.003, seed 0" in card and "GPL: TimGM6mb." in card
        assert "freepats exception" not in card
    else:
        assert "Sources: not recorded." in card and "pitch split) | not measured |" in card


def test_an_unreadable_training_record_is_one_error(model_folder):
    (model_folder / TRAINING_FILE).write_text("{truncated")
    with pytest.raises(ModelFileError, match="training.json: not a readable training record"):
        model_card(model_folder)


def test_write_model_card_records_the_data_set_and_writes_both_copies(model_folder, tmp_path):
    record = {k: v for k, v in training_record().items() if k not in ("note_counts", "rendering")}
    (model_folder / TRAINING_FILE).write_text(json.dumps(record))
    ds = SimpleNamespace(
        metadata=[{"source": "FluidR3", "class": "piano", "split": "train"}] * 3
        + [{"source": "TimGM6mb", "class": "cello", "split": "test"}, {"source": "FluidR3", "class": "cello"}],
        info={"settings": {"variation": {"snr_db": (40.0, 70.0)}, "renders_per_note": 3}, "n_silent_dropped": 2},
    )
    assert dataset_facts(ds)["note_counts"] == {"FluidR3": {"cello": 1, "piano": 3}, "TimGM6mb": {"cello": 1}}
    path = write_model_card(model_folder, out=tmp_path / "MODEL_CARD.md", dataset=ds)
    assert path == model_folder / CARD_FILE and path.read_text() == (tmp_path / "MODEL_CARD.md").read_text()
    saved = json.loads((model_folder / TRAINING_FILE).read_text())
    assert saved["rendering"]["variation"] == {"snr_db": [40.0, 70.0]} and saved["test_accuracy"] == 0.975
    card = path.read_text()
    assert card == model_card(model_folder)
    assert "| piano | 3 | 0 | 3 |" in card and "- `snr_db`: 40, 70" in card and "dropped: 2." in card


def test_card_facts_of_a_folder_a_run_and_an_onnx_file(model_folder, tmp_path, capsys):
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.export import export_onnx

    write_model_card(model_folder)
    facts = card_facts(model_folder)
    assert facts["classes"] == CLASSES and facts["sources"] == ["TimGM6mb", "FluidR3", "freepats"]
    assert facts["licences"]["freepats"] == "GPL-2+ with an exception" and facts["recipe"]["input_noise"] == 1.0
    assert facts["figures"]["pitch_split_test_accuracy"] == 0.975
    assert facts["figures"]["held_out_accuracy"] == {"TimGM6mb": 0.52, "FluidR3": 0.4, "freepats": 0.7}
    assert facts["figures"]["temperature"] == 1.9375 and facts["card"] == str(model_folder / CARD_FILE)
    assert facts["hashes"]["weights_sha256"] == file_sha256(model_folder / "model.safetensors")
    assert facts["hashes"]["data_set_key"] == "0123456789abcdef"

    run = tmp_path / "run"
    shutil.copytree(model_folder, run / "model")
    (run / "run.json").write_text(json.dumps({"final": {"test_accuracy": 0.875}}))
    run_facts = card_facts(run)
    assert run_facts["figures"]["run_test_accuracy"] == 0.875
    assert run_facts["hashes"]["weights_sha256"] == facts["hashes"]["weights_sha256"]

    onnx_file = export_onnx(InstrumentClassifier.load(model_folder), tmp_path / "m.onnx")
    onnx_facts = card_facts(onnx_file)
    assert onnx_facts["classes"] == CLASSES and onnx_facts["sources"] is None and onnx_facts["card"] is None
    assert onnx_facts["hashes"]["onnx_sha256"] == file_sha256(onnx_file)
    assert onnx_facts["hashes"]["weights_sha256"] is None and onnx_facts["figures"]["temperature"] == 1.9375

    assert cli.main(["model", "info", str(onnx_file)]) == 0
    out = capsys.readouterr().out
    assert "sources:          not recorded" in out and "pitch_split_test_accuracy not recorded" in out
    assert cli.main(["model", "info", str(model_folder)]) == 0
    out = capsys.readouterr().out
    assert "licences:         TimGM6mb GPL-2, FluidR3 MIT, freepats GPL-2+ with an exception" in out
    assert "held_out_accuracy (TimGM6mb 0.52, FluidR3 0.4, freepats 0.7)" in out


def test_an_export_carries_the_card_and_the_training_record(model_folder, tmp_path, capsys):
    from instrumentid.modelcard import ONNX_TRAINING_KEY, card_metadata, model_card, onnx_card

    onnx_file = tmp_path / "m.onnx"
    assert cli.main(["export", str(model_folder), "--onnx", str(onnx_file)]) == 0
    assert onnx_card(onnx_file) == model_card(model_folder)  # the same card as the folder's, inside the file
    facts = card_facts(onnx_file)
    assert facts["sources"] == ["TimGM6mb", "FluidR3", "freepats"] and facts["recipe"]["input_noise"] == 1.0
    assert facts["figures"]["held_out_accuracy"] == {"TimGM6mb": 0.52, "FluidR3": 0.4, "freepats": 0.7}
    assert facts["card"] == "embedded in the ONNX file (metadata 'instrumentid_model_card')"
    assert json.loads(card_metadata(model_folder)[ONNX_TRAINING_KEY])["test_accuracy"] == 0.975
    capsys.readouterr()
    assert cli.main(["model", "info", str(onnx_file)]) == 0
    assert "freepats GPL-2+ with an exception" in capsys.readouterr().out


def test_export_refuses_metadata_that_hides_its_own(model_folder, tmp_path):
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.errors import ParameterError
    from instrumentid.export import export_onnx

    clf = InstrumentClassifier.load(model_folder)
    with pytest.raises(ParameterError, match="metadata must map new keys"):
        export_onnx(clf, tmp_path / "m.onnx", metadata={"class_names": "[]"})
    with pytest.raises(ParameterError, match="metadata must map new keys"):
        export_onnx(clf, tmp_path / "m.onnx", metadata={"note": 3})
    assert not (tmp_path / "m.onnx").exists()


def _installed_version(check) -> str | None:
    kind, name, _ = check
    if kind == "sha256":
        import hashlib

        from instrumentid.datasets.render import default_soundfonts

        path = default_soundfonts().get(name)
        return None if path is None else hashlib.sha256(path.read_bytes()).hexdigest()
    if kind == "wheel":
        import importlib.metadata

        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None
    if shutil.which("dpkg-query") is None:
        return None
    done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


@pytest.mark.parametrize("name", [n for n, s in SOURCES.items() if s["check"] is not None])
def test_the_source_table_names_the_installed_versions(name):
    check = SOURCES[name]["check"]
    installed = _installed_version(check)
    if installed is None:
        pytest.skip(f"{check[1]} is not installed here")
    assert installed == check[2], (f"{check[1]} {installed} is installed, the card's table says {check[2]}: update "
                                   f"instrumentid.modelcard.SOURCES (licence too) and retrain the shipped model")


@pytest.mark.skipif(not (DEFAULT_MODEL / "model.json").is_file(), reason="the shipped default model is absent")
def test_the_shipped_model_card_is_current():
    card = model_card(DEFAULT_MODEL)
    assert (ROOT / CARD_FILE).read_text(encoding="utf-8") == card, (
        "MODEL_CARD.md differs from the shipped model's files: run .venv/bin/python scripts/train_default_model.py")
    assert (DEFAULT_MODEL / CARD_FILE).read_text(encoding="utf-8") == card


def _shipped_record() -> dict:
    path = DEFAULT_MODEL / TRAINING_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


@pytest.mark.skipif("leave_one_source_out" not in _shipped_record(),
                    reason="the shipped training.json predates the leave-one-source-out measurement (old format); "
                           "retrain with scripts/train_default_model.py")
def test_the_shipped_model_card_carries_every_figure():
    record, card = _shipped_record(), model_card(DEFAULT_MODEL)
    assert NOT_MEASURED not in card and "not recorded in `training.json`" not in card
    assert record["sources"] and all(s in SOURCES for s in record["sources"])
    assert "note_counts" in record and "rendering" in record
    held = record["leave_one_source_out"]
    assert sorted(held["sources"]) == sorted(record["sources"])
    # the held-out figures are labelled with the right classes: each source's recall covers exactly the classes
    # it has notes of, and the confusion matrix's rows add up to the notes of each class
    counts = record["note_counts"]
    for source, recall in held["per_class"].items():
        assert set(recall) == {c for c, n in counts[source].items() if n}, source
    rows = dict(zip(held["confusion"]["classes"], np.sum(held["confusion"]["matrix"], axis=1).tolist(), strict=True))
    assert rows == {c: sum(counts[s].get(c, 0) for s in counts) for c in rows}
    config = json.loads((DEFAULT_MODEL / "model.json").read_text())
    assert config["calibration"]["temperature"] == pytest.approx(held["temperature"])
    assert config["trained_on"]["data"] == record["dataset"]["key"]

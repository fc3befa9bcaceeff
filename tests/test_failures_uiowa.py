"""Bad input for the UIowa loader, training runs and their commands: one clear error, exit code 2, nothing written."""

import json

import numpy as np
import pytest
from conftest import make_uiowa_arrays, write_uiowa

from instrumentid import cli, lab
from instrumentid.datasets.uiowa import load_uiowa
from instrumentid.errors import ParameterError


def _arrays():
    return make_uiowa_arrays(n_train=60, n_test=30, n_features=12)


def _with(**changes):
    def make(folder):
        arrays = _arrays()
        for key, fn in changes.items():
            arrays[key] = fn(arrays[key])
        write_uiowa(folder, arrays)
    return make


def _nan(X):
    X = X.copy()
    X[7, 3] = np.nan
    X[9, 0] = np.inf
    X[20, 5] = -np.inf
    return X


def _remove(name):
    def make(folder):
        write_uiowa(folder, _arrays())
        (folder / name).unlink()
    return make


def _truncated(folder):
    write_uiowa(folder, _arrays())
    path = folder / "uiowa_test_data.npy"
    path.write_bytes(path.read_bytes()[:500])


def _object_labels(folder):
    write_uiowa(folder, _arrays())
    np.save(folder / "uiowa_train_labels.npy", np.array([{"label": 1}] * 60, dtype=object), allow_pickle=True)


def _extra(name, content):
    """Write the four files, then ``name`` with ``content`` (text or bytes), replacing a file if it exists."""
    def make(folder):
        write_uiowa(folder, _arrays())
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return make


def _frac(y):
    y = y.astype(np.float64)
    y[4] = 2.5
    return y


def _set(index, value):
    def fn(y):
        y = y.copy()
        y[index] = value
        return y
    return fn


CASES = {
    "missing train data": (_remove("uiowa_train_data.npy"), r"missing file 'uiowa_train_data.npy' in '.*'"),
    "missing test labels": (_remove("uiowa_test_labels.npy"), r"missing file 'uiowa_test_labels.npy'"),
    "1-D data": (_with(X_train=lambda X: X[:, 0]), r"uiowa_train_data.npy must be 2-D .*got shape \(60,\)"),
    "3-D data": (_with(X_test=lambda X: X[:, :, None]), r"uiowa_test_data.npy must be 2-D .*\(30, 12, 1\)"),
    "2-D labels": (_with(y_train=lambda y: y[:, None]), r"uiowa_train_labels.npy must be 1-D .*\(60, 1\)"),
    "widths differ": (_with(X_test=lambda X: X[:, :10]),
                      "uiowa_train_data.npy has 12 features per row but uiowa_test_data.npy has 10"),
    "lengths differ": (_with(y_test=lambda y: y[:-2]),
                       "uiowa_test_labels.npy has 28 labels but uiowa_test_data.npy has 30 rows"),
    "NaN and Inf": (_with(X_train=_nan), (r"uiowa_train_data.npy has 3 NaN/Inf values of 720 \(first at row 7, "
                                         r"column 3: nan\)")),
    "text data": (_with(X_test=lambda X: X.astype(str)), "uiowa_test_data.npy must hold numbers, got dtype <U"),
    "fractional labels": (_with(y_train=_frac), ("uiowa_train_labels.npy must hold integer class indices, got 2.5 "
                                                r"at row 4 \(1 non-integer labels\)")),
    "text labels": (_with(y_test=lambda y: y.astype(str)), ("uiowa_test_labels.npy must hold integer class indices, "
                                                           "got dtype <U")),
    "label 10": (_with(y_test=_set(11, 10)), (r"uiowa_test_labels.npy must hold labels in 0..9, got 10 at row 11 "
                                             r"\(1 labels out of range\) \(UIowa labels are 0-9")),
    "label -1": (_with(y_train=_set(0, -1)), "uiowa_train_labels.npy must hold labels in 0..9, got -1 at row 0"),
    "not a .npy": (_extra("uiowa_train_labels.npy", b"just some text\n"),
                   r"cannot read '.*uiowa_train_labels.npy' as a .npy array: it is not a .npy file"),
    "empty file": (_extra("uiowa_train_data.npy", b""), "uiowa_train_data.npy' as a .npy array"),
    "bad header": (_extra("uiowa_test_labels.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 'garbage"),
                   "uiowa_test_labels.npy' as a .npy array"),
    "truncated": (_truncated, r"cannot read '.*uiowa_test_data.npy' as a .npy array"),
    "object array": (_object_labels, r"'.*uiowa_train_labels.npy' holds Python objects, expected a numeric array"),
    "bad classes.json": (_extra("classes.json", '{"a": 1}'), r"classes.json' must be a list of at least 2 distinct"),
    "broken classes.json": (_extra("classes.json", "[oops"), r"cannot read '.*classes.json' as JSON"),
    "too few class names": (_extra("classes.json", '["a", "b"]'), "must hold labels in 0..1, got"),
    "short metadata": (_extra("metadata.csv", "source,split\nA,train\n"),
                       r"metadata.csv' has 1 rows, expected one per sample \(60 train \+ 30 test\)"),
    "dataset.json list": (_extra("dataset.json", "[1, 2]"), "dataset.json' must hold a JSON object, got list"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_uiowa_folder(case, tmp_path, capsys):
    make, message = CASES[case]
    folder = tmp_path / "data"
    folder.mkdir()
    make(folder)
    with pytest.raises(ParameterError, match=message):
        load_uiowa(folder)
    assert cli.main(["dataset", "info", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("instrumentid: error: ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert pytest.importorskip("re").search(message, err)


@pytest.mark.parametrize("command", ["lab", "train", "sweep"])
@pytest.mark.parametrize("case", ["NaN and Inf", "label 10"])
def test_runs_on_bad_data_write_nothing(command, case, tmp_path, capsys):
    make, message = CASES[case]
    folder = tmp_path / "data"
    folder.mkdir()
    make(folder)
    run = tmp_path / "runs" / "r1"
    assert cli.main([command, "--data", str(folder), "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and pytest.importorskip("re").search(message, err)
    assert not run.exists()
    assert list((tmp_path / "runs").iterdir()) == []  # no temporary folder left behind


def test_folder_that_does_not_exist(tmp_path, capsys):
    with pytest.raises(ParameterError, match="data set folder '.*nowhere' does not exist"):
        load_uiowa(tmp_path / "nowhere")
    with pytest.raises(SystemExit) as exit_info:  # argparse checks the path before any work
        cli.main(["dataset", "info", str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_lab_refuses_to_overwrite_a_folder_that_is_not_a_run(uiowa_dir, tmp_path, capsys):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("keep me")
    assert cli.main(["lab", "--data", str(uiowa_dir), "--out", str(precious), "--quiet"]) == 2
    assert "is not a run folder (no run.json)" in capsys.readouterr().err
    assert [p.name for p in precious.iterdir()] == ["chapter1.tex"]
    file_out = tmp_path / "file.txt"
    file_out.write_text("x")
    with pytest.raises(ParameterError, match="exists and is not a folder"):
        lab.run_train(uiowa_dir, out=file_out, progress=False)


def test_plot_needs_histories(tmp_path, capsys):
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert "has no history.json or sweep.json to plot" in capsys.readouterr().err
    (tmp_path / "history.json").write_text(json.dumps({"train_loss": "x"}))
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert "a training history needs the lists" in capsys.readouterr().err
    assert not (tmp_path / "accuracy_loss.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["lab", "--epochs", "0"], "expected a positive integer, got '0'"),
    (["sweep", "--rates", "0.1", "-1"], "expected a positive number, got '-1'"),
    (["train", "--lr", "nan"], "expected a positive number, got 'nan'"),
])
def test_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_rates_through_the_api(uiowa_dir, tmp_path):
    with pytest.raises(ParameterError, match="rates must be distinct positive numbers"):
        lab.run_sweep(uiowa_dir, out=tmp_path / "r", rates=[0.1, 0.1], progress=False)
    assert not (tmp_path / "r").exists()

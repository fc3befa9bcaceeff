"""The lab's UIowa feature files: loading, class names, metadata, and the printed description."""

import csv
import json

import numpy as np
import pytest
from conftest import make_uiowa_arrays, write_uiowa

from instrumentid import cli
from instrumentid.datasets.base import FeatureDataset, save_dataset
from instrumentid.datasets.uiowa import describe, load_uiowa


def test_load_fixture(uiowa_dir):
    ds = load_uiowa(uiowa_dir)
    arrays = make_uiowa_arrays()
    assert ds.X_train.shape == (3000, 120) and ds.X_test.shape == (800, 120)
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    np.testing.assert_array_equal(ds.X_train, arrays["X_train"])
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])
    assert ds.class_names == [str(i) for i in range(10)]
    assert ds.metadata is None and ds.info == {} and ds.path == uiowa_dir
    assert sum(n for n, _ in ds.class_counts().values()) == 3000


def test_describe_prints_the_lab_counts(uiowa_dir):
    ds = load_uiowa(uiowa_dir)
    text = describe(ds)
    for line in ("Number of training samples: 3,000", "Number of test samples: 800",
                 "Number of features per sample: 120", "Number of classes: 10"):
        assert line in text.splitlines()
    counts = np.bincount(ds.y_train)
    row = next(line for line in text.splitlines() if line.split()[:1] == ["3"])
    assert row.split()[1:] == [f"{counts[3]:,}", f"{np.bincount(ds.y_test)[3]:,}"]
    assert "Samples per source" not in text


def test_names_metadata_and_info(tmp_path):
    arrays = make_uiowa_arrays(n_train=60, n_test=20, n_features=8, n_classes=3)
    names = ["cello", "flute", "oboe"]
    meta = [{"source": "FluidR3" if i % 3 else "TimGM6mb", "split": split}
            for split, n in (("train", 60), ("test", 20)) for i in range(n)]
    ds = FeatureDataset(arrays["X_train"], arrays["y_train"], arrays["X_test"], arrays["y_test"], names, meta,
                        {"kind": "test-set"})
    save_dataset(ds, tmp_path / "set")
    loaded = load_uiowa(tmp_path / "set")
    assert loaded.class_names == names and loaded.info == {"kind": "test-set"}
    assert len(loaded.metadata) == 80 and loaded.metadata[0]["source"] == "TimGM6mb"
    text = describe(loaded)
    assert "Number of classes: 3" in text
    assert any(line.split()[:2] == ["1", "flute"] for line in text.splitlines())
    sources = {line.split()[0]: line.split()[1:] for line in text.split("Samples per source:")[1].splitlines()[2:]}
    assert sources == {"FluidR3": ["40", "13"], "TimGM6mb": ["20", "7"], "total": ["60", "20"]}


def test_more_classes_with_classes_json(tmp_path):
    arrays = make_uiowa_arrays(n_train=120, n_test=24, n_features=4, n_classes=12)
    folder = write_uiowa(tmp_path / "twelve", arrays)
    (folder / "classes.json").write_text(json.dumps([f"c{i}" for i in range(12)]))
    assert load_uiowa(folder).n_classes == 12


def test_integral_float_labels_and_float32_data(tmp_path):
    arrays = make_uiowa_arrays(n_train=50, n_test=20, n_features=6)
    arrays["y_train"] = arrays["y_train"].astype(np.float64)
    arrays["X_test"] = arrays["X_test"].astype(np.float32)
    ds = load_uiowa(write_uiowa(tmp_path / "f", arrays))
    assert ds.y_train.dtype == np.int64 and ds.X_test.dtype == np.float32


def test_metadata_without_source_column(tmp_path):
    folder = write_uiowa(tmp_path / "m", make_uiowa_arrays(n_train=30, n_test=10, n_features=3))
    with open(folder / "metadata.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "split"])
        writer.writerows([[f"n{i}.wav", "train" if i < 30 else "test"] for i in range(40)])
    assert "Samples per source" not in describe(load_uiowa(folder))


def test_cli_dataset_info(uiowa_dir, capsys):
    assert cli.main(["dataset", "info", str(uiowa_dir)]) == 0
    out = capsys.readouterr().out
    assert "Number of training samples: 3,000" in out and "Samples per class:" in out


@pytest.mark.parametrize("n_classes", [2, 10])
def test_every_class_counted(tmp_path, n_classes):
    arrays = make_uiowa_arrays(n_train=40, n_test=20, n_features=5, n_classes=n_classes)
    ds = load_uiowa(write_uiowa(tmp_path / "c", arrays))
    counts = ds.class_counts()
    assert list(counts) == [str(i) for i in range(10)]  # UIowa: always the 10 classes, some possibly empty
    assert sum(c[1] for c in counts.values()) == 20

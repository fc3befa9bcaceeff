"""Tests of instrumentid.datasets.base: the saved layout, the one loader, the one cache and the one worker pool."""

import os

import numpy as np
import pytest
from conftest import make_uiowa_arrays

from instrumentid.datasets import base
from instrumentid.datasets.base import FeatureDataset, cached, load_dataset, map_in_workers, save_dataset
from instrumentid.errors import ParameterError
from instrumentid.settings import DEFAULT_FEATURES, DEFAULT_NOTES, FeatureSettings, NoteSettings


def _dataset(info=None, metadata=None):
    a = make_uiowa_arrays(n_train=20, n_test=10, n_features=6, n_classes=2)
    return FeatureDataset(a["X_train"].astype(np.float32), a["y_train"], a["X_test"].astype(np.float32),
                          a["y_test"], ["harp", "lute"], metadata, info or {})


def test_round_trip_restores_number_columns(tmp_path):
    meta = [{"file": f"f{i}.wav", "note_index": i, "midi": 60 + i, "start_s": 0.125 * i, "f0_hz": 261.63,
             "note_name": "C4", "pitch": 60, "length_s": 0.3, "split": "train" if i < 20 else "test"}
            for i in range(30)]
    ds = _dataset({"kind": "test", "cache_key": "abc"}, meta)
    path = save_dataset(ds, tmp_path / "set")
    back = load_dataset(path)
    assert back.metadata == meta and back.info == ds.info and back.path == path
    assert type(back.metadata[3]["midi"]) is int and type(back.metadata[3]["start_s"]) is float
    np.testing.assert_array_equal(back.X_train, ds.X_train)
    assert back.X_train.dtype == np.float32 and back.y_test.dtype == np.int64


def test_bad_number_column(tmp_path):
    path = save_dataset(_dataset(metadata=[{"midi": 60 if i != 7 else "C4"} for i in range(30)]), tmp_path / "set")
    with pytest.raises(ParameterError, match=r"metadata.csv' row 8: column 'midi' must hold integers, got 'C4'"):
        load_dataset(path)


def test_interrupted_save_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(base.json, "dumps", broken)
    with pytest.raises(KeyboardInterrupt):
        save_dataset(_dataset(), tmp_path / "set")
    assert list(tmp_path.iterdir()) == []


def test_empty_test_split_only_when_allowed(tmp_path):
    ds = _dataset()
    ds.X_test, ds.y_test = ds.X_test[:0], ds.y_test[:0]
    path = save_dataset(ds, tmp_path / "set")
    with pytest.raises(ParameterError, match=r"uiowa_test_data.npy is empty: shape \(0, 6\)"):
        load_dataset(path)
    assert load_dataset(path, allow_empty_test=True).X_test.shape == (0, 6)


def test_cached(tmp_path):
    path = save_dataset(_dataset({"cache_key": "k1"}), tmp_path / "set")
    assert cached(path, "k1").class_names == ["harp", "lute"]
    assert cached(path, "k2") is None
    assert cached(tmp_path / "nowhere", "k1") is None
    (path / "uiowa_train_labels.npy").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match=r"cached data set .* is damaged \(cannot read .*; rebuilding"):
        assert cached(path, "k1") is None


def test_settings_properties():
    assert _dataset().feature_settings is None and _dataset().note_settings is None
    folder = _dataset({"feature_settings": DEFAULT_FEATURES.to_dict(), "note_settings": DEFAULT_NOTES.to_dict()})
    assert folder.feature_settings == DEFAULT_FEATURES and folder.note_settings == DEFAULT_NOTES
    old_soundfont = _dataset({"settings": {"features": FeatureSettings(n_mfcc=13).to_dict()}})
    assert old_soundfont.feature_settings.n_mfcc == 13
    with pytest.raises(ParameterError, match="feature settings does not match"):
        _ = _dataset({"feature_settings": {"sr": 22050, "n_mfcc": 40}}).feature_settings


@pytest.mark.parametrize("embedding", [None, "MSD_musicnn"])
def test_rows_of_another_width_than_the_recorded_features_are_refused(tmp_path, embedding, capsys):
    """An edited dataset.json trained a model that could never predict (1626 columns recorded as 120), or failed in
    training on branches it did not have (120 columns recorded with the embedding)."""
    from instrumentid import cli

    features = FeatureSettings(embedding=embedding)
    path = save_dataset(_dataset({"feature_settings": features.to_dict()}), tmp_path / "set")
    extra = " with the MSD_musicnn embedding" if embedding else ""
    with pytest.raises(ParameterError, match=f"the rows have 6 features but the feature settings in dataset.json"
                                             f"{extra} make {features.n_features}"):
        load_dataset(path)
    assert cli.main(["train", "--data", str(path), "--out", str(tmp_path / "run"), "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "the rows have 6 features" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", [NoteSettings, FeatureSettings])
def test_resolve_settings_refuses_another_version(kind):
    """A model's settings of an older version built this version's notes or features labelled with the old one."""
    import dataclasses

    old = dataclasses.replace(kind(), version=kind().version - 1)
    with pytest.raises(ParameterError, match=f"settings are of version {kind().version - 1}, but this version of "
                                             f"instrumentid computes version {kind().version}"):
        base.resolve_settings(old, kind, name="settings")


def test_resolve_settings():
    assert base.resolve_settings(None, NoteSettings, name="note_settings") == NoteSettings()
    mine = NoteSettings(top_db=40.0)
    assert base.resolve_settings(mine, NoteSettings, name="note_settings") is mine
    with pytest.raises(ParameterError, match="note_settings must be a NoteSettings or None, got dict"):
        base.resolve_settings({"top_db": 40.0}, NoteSettings, name="note_settings")


def _pid_and_square(x):
    return os.getpid(), x * x


def _fail_on_three(x):
    if x == 3:
        raise ParameterError("three is not allowed")
    return x


@pytest.mark.parametrize("jobs", [1, 2])
def test_map_in_workers_keeps_task_order(jobs):
    results = map_in_workers(_pid_and_square, range(12), jobs=jobs, progress=False, sizes=[2] * 12)
    assert [r[1] for r in results] == [x * x for x in range(12)]
    assert ({r[0] for r in results} == {os.getpid()}) == (jobs == 1)


@pytest.mark.parametrize("jobs", [1, 2])
def test_map_in_workers_raises_the_task_error(jobs):
    with pytest.raises(ParameterError, match="three is not allowed"):
        map_in_workers(_fail_on_three, range(6), jobs=jobs, progress=False)

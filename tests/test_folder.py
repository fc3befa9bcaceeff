"""Data sets from a folder of audio: instrumentid.datasets.folder."""

import json
import os
import warnings
from collections import Counter

import numpy as np
import pytest

from instrumentid.datasets import folder as folder_mod
from instrumentid.datasets.folder import (
    build_folder_dataset,
    extract_file,
    find_class_files,
    grouped_split,
)
from instrumentid.settings import DEFAULT_FEATURES, DEFAULT_NOTES, FeatureSettings, NoteSettings
from tests.synth import render_phrase, write

#: class name -> General-MIDI program
PROGRAMS = {"flute": 73, "trumpet": 56, "violin": 40}
#: (relative name, notes as (midi, start_s, dur_s, velocity), sample rate, stereo): single notes and phrases,
#: mono and stereo, 22.05 and 44.1 kHz, WAV / FLAC / AIFF, one file in a nested folder.
FILES = [
    ("a_single.wav", [(67, 0.1, 0.9, 90)], 22050, False),
    ("b_single.flac", [(72, 0.1, 0.9, 70)], 44100, True),
    ("c_phrase.aiff", [(60, 0.1, 0.5, 90), (64, 0.8, 0.5, 100), (67, 1.5, 0.5, 80)], 44100, False),
    ("take2/d_phrase.wav", [(69, 0.1, 0.5, 90), (74, 0.8, 0.5, 70)], 22050, True),
    ("e_single.flac", [(64, 0.1, 0.9, 110)], 22050, False),
    ("f_phrase.wav", [(62, 0.1, 0.5, 80), (65, 0.8, 0.5, 90), (71, 1.5, 0.5, 100)], 44100, False),
]
TEST_SIZE = 0.3  # -> 2 of the 6 files of each class held out

pytestmark = pytest.mark.filterwarnings("ignore:skipped .*:UserWarning")  # checked where they matter


def make_folder(root):
    """Render the test folder: 3 classes x 6 files, one broken file, one text file."""
    for name, program in PROGRAMS.items():
        for rel, notes, sr, stereo in FILES:
            path = root / name / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            y = render_phrase([(program, *n) for n in notes], sr=sr, stereo=stereo, tail_s=0.3)
            write(path, y, sr=sr)
    (root / "flute" / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt not really audio" * 4)
    (root / "violin" / "notes.txt").write_text("recorded in the practice room\n")
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTRUMENTID_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("audio"))


@pytest.fixture(scope="module")
def built(audio_dir, tmp_path_factory):
    """The data set built with 2 worker processes, and the warnings the build raised."""
    out = tmp_path_factory.mktemp("ds") / "mine"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = build_folder_dataset(audio_dir, out=out, test_size=TEST_SIZE, jobs=2, seed=0, progress=False)
    return ds, [str(w.message) for w in caught]


def file_splits(ds):
    sides = {}
    for row in ds.metadata:
        sides.setdefault(row["file"], set()).add(row["split"])
    return sides


def test_layout_and_rows(built, audio_dir):
    from instrumentid.datasets.uiowa import load_uiowa

    ds, _ = built
    assert ds.class_names == sorted(PROGRAMS)
    assert ds.X_train.shape[1] == ds.X_test.shape[1] == 120
    assert len(ds.metadata) == len(ds.y_train) + len(ds.y_test)
    back = load_uiowa(ds.path)
    np.testing.assert_array_equal(back.X_train, ds.X_train)
    np.testing.assert_array_equal(back.y_test, ds.y_test)
    assert back.class_names == ds.class_names
    saved = json.loads((ds.path / "dataset.json").read_text())
    assert saved["n_files_used"] == 3 * len(FILES)
    # metadata rows line up with the label arrays, train rows first
    labels = np.concatenate([ds.y_train, ds.y_test])
    assert [ds.class_names[i] for i in labels] == [row["class"] for row in ds.metadata]
    assert [row["split"] for row in ds.metadata] == ["train"] * len(ds.y_train) + ["test"] * len(ds.y_test)
    # phrases are split into their notes, each with its time span and pitch
    rows = [r for r in ds.metadata if r["file"] == "violin/c_phrase.aiff"]
    assert len(rows) == 3
    assert [r["midi"] for r in rows] == [60, 64, 67]
    assert [r["note_name"] for r in rows] == ["C4", "E4", "G4"]
    assert [r["note_index"] for r in rows] == [0, 1, 2]
    assert all(r["start_s"] < r["end_s"] for r in rows)
    assert rows[0]["start_s"] == pytest.approx(0.1, abs=0.05)


def test_pool_matches_in_process_extraction(built, audio_dir):
    ds, _ = built
    res = extract_file(audio_dir / "trumpet" / "take2" / "d_phrase.wav")
    idx = [i for i, r in enumerate(ds.metadata) if r["file"] == "trumpet/take2/d_phrase.wav"]
    X = np.concatenate([ds.X_train, ds.X_test])[idx]
    np.testing.assert_allclose(X, res["X"], rtol=1e-4, atol=1e-4)


def test_broken_and_non_audio_files_are_reported(built):
    ds, messages = built
    skipped = {s["file"]: s["reason"] for s in ds.info["skipped"]}
    assert set(skipped) == {"flute/broken.wav", "violin/notes.txt"}
    assert "cannot read" in skipped["flute/broken.wav"]
    assert any("flute/broken.wav" in m for m in messages)
    assert any("violin/notes.txt" in m for m in messages)
    assert json.loads((ds.path / "dataset.json").read_text())["skipped"] == ds.info["skipped"]
    assert not any(r["file"] == "flute/broken.wav" for r in ds.metadata)


def test_split_grouped_by_file_and_stratified(built):
    ds, _ = built
    sides = file_splits(ds)
    assert all(len(s) == 1 for s in sides.values()), "a file contributes rows to both sides"
    test_files = Counter(f.split("/")[0] for f, s in sides.items() if s == {"test"})
    assert test_files == {name: 2 for name in PROGRAMS}
    assert ds.info["n_files_test"] == 6


def test_build_train_evaluate_predict_end_to_end(built, audio_dir, tmp_path, capsys):
    """The README's walk-through: dataset build -> train -> evaluate -> predict held-out recordings."""
    from instrumentid.cli import main
    from instrumentid.prediction import predict

    ds, _ = built
    argv = ["dataset", "build", "--from-folder", str(audio_dir), "--out", str(ds.path), "--test-size", str(TEST_SIZE)]
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(argv + ["--quiet"]) == 0  # the same build: reused, and the broken file reported again
    err = capsys.readouterr().err
    assert "instrumentid: warning: skipped flute/broken.wav: cannot read" in err
    run = tmp_path / "run"
    assert main(["train", "--data", str(ds.path), "--out", str(run), "--epochs", "40", "--batch-size", "8",
                 "--lr", "0.01", "--quiet"]) == 0
    assert main(["evaluate", "--model", str(run), "--data", str(ds.path), "--out", str(tmp_path / "eval")]) == 0
    assert json.loads((tmp_path / "eval" / "evaluation.json").read_text())["accuracy"] > 0.8
    held_out = sorted(f for f, s in file_splits(ds).items() if s == {"test"})
    for rel in held_out:
        result = predict(audio_dir / rel, model=run)
        assert result.instrument == rel.split("/")[0], (rel, result.probabilities)
        assert len(result.notes) == sum(r["file"] == rel for r in ds.metadata)


def test_cache_reused_then_invalidated(audio_dir, tmp_path, monkeypatch):
    ds = build_folder_dataset(audio_dir, test_size=TEST_SIZE, jobs=1, progress=False)
    assert ds.path.parent == tmp_path / "cache" / "folders"

    def no_extraction(*args, **kwargs):
        raise AssertionError("extracted again")

    monkeypatch.setattr(folder_mod, "_extract_all", no_extraction)
    with pytest.warns(UserWarning, match="flute/broken.wav"):  # reported again from the cache
        again = build_folder_dataset(audio_dir, test_size=TEST_SIZE, jobs=1, progress=False)
    assert again.path == ds.path
    np.testing.assert_array_equal(again.X_train, ds.X_train)
    with pytest.raises(AssertionError, match="extracted again"):
        build_folder_dataset(audio_dir, test_size=TEST_SIZE, jobs=1, progress=False, force=True)
    with pytest.raises(AssertionError, match="extracted again"):  # another split is another build
        build_folder_dataset(audio_dir, test_size=0.5, jobs=1, progress=False)
    target = audio_dir / "violin" / "a_single.wav"
    st = target.stat()
    try:
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        with pytest.raises(AssertionError, match="extracted again"):  # a changed file is another build
            build_folder_dataset(audio_dir, test_size=TEST_SIZE, jobs=1, progress=False)
    finally:
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_split_csv(audio_dir, tmp_path):
    _, files, _ = find_class_files(audio_dir)
    lines = ["path,split", "# held out: every class's first phrase"]
    for group in files.values():
        lines += [f"{f},{'test' if f.endswith('c_phrase.aiff') else 'train'}" for f in group]
    csv_file = tmp_path / "split.csv"
    csv_file.write_text("\n".join(lines) + "\n")
    ds = build_folder_dataset(audio_dir, out=tmp_path / "ds", split_csv=csv_file, jobs=1, progress=False)
    sides = file_splits(ds)
    assert {f for f, s in sides.items() if s == {"test"}} == {f"{n}/c_phrase.aiff" for n in PROGRAMS}
    assert ds.info["split"] == "csv" and ds.info["seed"] is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_split_stratified_and_seeded(seed):
    files = {"a": [f"a/{i}" for i in range(10)], "b": [f"b/{i}" for i in range(3)], "c": ["c/0", "c/1"]}
    split = grouped_split(files, test_size=0.25, seed=seed)
    assert set(split) == {f for g in files.values() for f in g}
    n_test = Counter(f.split("/")[0] for f, s in split.items() if s == "test")
    assert n_test == {"a": 3, "b": 1, "c": 1}  # ceil(0.25 * n) per class
    assert grouped_split(files, test_size=0.25, seed=seed) == split


def test_grouped_split_seed_changes_split():
    files = {"a": [f"a/{i}" for i in range(20)], "b": [f"b/{i}" for i in range(20)]}
    splits = {tuple(sorted(grouped_split(files, test_size=0.2, seed=s).items())) for s in range(4)}
    assert len(splits) > 1


def test_grouped_split_single_file_class_trains_only():
    with pytest.warns(UserWarning, match="'solo' has only 1 usable file"):
        split = grouped_split({"solo": ["solo/x"], "b": ["b/0", "b/1"]}, test_size=0.2, seed=0)
    assert split["solo/x"] == "train"


def test_find_class_files_ignores_hidden(tmp_path):
    for rel in ["a/x.wav", "a/.hidden.wav", "a/.git/y.wav", "b/deep/er/z.flac", "top.wav", ".DS_Store"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / ".trash").mkdir()
    names, files, skipped = find_class_files(tmp_path)
    assert names == ["a", "b"]
    assert files == {"a": ["a/x.wav"], "b": ["b/deep/er/z.flac"]}
    assert skipped == [{"file": "top.wav", "reason": "not inside a class sub-folder"}]


def test_settings_recorded_and_part_of_the_cache_key(audio_dir, monkeypatch):
    ds = build_folder_dataset(audio_dir, test_size=TEST_SIZE, jobs=1, progress=False)
    saved = json.loads((ds.path / "dataset.json").read_text())
    assert saved["note_settings"] == DEFAULT_NOTES.to_dict() and saved["feature_settings"] == DEFAULT_FEATURES.to_dict()
    assert ds.note_settings == DEFAULT_NOTES and ds.feature_settings == DEFAULT_FEATURES

    def no_extraction(*args, **kwargs):
        raise AssertionError("extracted again")

    monkeypatch.setattr(folder_mod, "_extract_all", no_extraction)
    again = build_folder_dataset(audio_dir, test_size=TEST_SIZE, jobs=1, progress=False, note_settings=NoteSettings(),
                                 feature_settings=FeatureSettings())
    assert again.path == ds.path
    for changed in ({"note_settings": NoteSettings(top_db=45.0)}, {"feature_settings": FeatureSettings(attack_s=0.2)}):
        with pytest.raises(AssertionError, match="extracted again"):
            build_folder_dataset(audio_dir, test_size=TEST_SIZE, jobs=1, progress=False, **changed)


def test_key_changes_with_one_note_setting(audio_dir):
    _, files, skipped = find_class_files(audio_dir)
    options = {"test_size": 0.2, "seed": 0, "split_csv": None, "feature_settings": FeatureSettings()}
    base = folder_mod._cache_key(audio_dir, files, skipped, note_settings=NoteSettings(), **options)
    assert base == folder_mod._cache_key(audio_dir, files, skipped, note_settings=NoteSettings(), **options)
    for field, value in [("top_db", 45.0), ("min_duration_s", 0.08), ("split_semitones", 0.7)]:
        other = NoteSettings(**{field: value})
        assert folder_mod._cache_key(audio_dir, files, skipped, note_settings=other, **options) != base, field


def test_folder_with_the_embedding_trains_one_network_per_part(audio_dir, tmp_path, capsys):
    """dataset build --embedding adds musicnn's pools to every note; train then fits a BranchNet that predicts."""
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.cli import main
    from instrumentid.datasets.base import load_dataset
    from instrumentid.model import BranchNet
    from instrumentid.prediction import predict

    out = tmp_path / "ds"
    assert main(["dataset", "build", "--from-folder", str(audio_dir), "--out", str(out), "--embedding",
                 "MSD_musicnn", "--quiet"]) == 0
    ds = load_dataset(out)
    assert ds.n_features == 1626 and ds.feature_settings.embedding == "MSD_musicnn"
    run = tmp_path / "run"
    assert main(["train", "--data", str(out), "--out", str(run), "--epochs", "20", "--batch-size", "8",
                 "--lr", "0.01", "--quiet"]) == 0
    assert "branch 2: features 120-1625" in capsys.readouterr().out
    clf = InstrumentClassifier.load(run)
    assert isinstance(clf.model_, BranchNet) and clf.model_.widths == (120, 1506)
    held_out = sorted(f for f, s in file_splits(ds).items() if s == {"test"})
    result = predict(audio_dir / held_out[0], model=run)
    assert result.instrument == held_out[0].split("/")[0], result.probabilities
    assert main(["dataset", "build", "--from-folder", str(audio_dir), "--embedding-frames", "32"]) == 2
    assert "--embedding-frames needs --embedding" in capsys.readouterr().err

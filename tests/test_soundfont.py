"""Tests of instrumentid.datasets.soundfont: class maps, planning, splits, cache, settings and the saved layout.

Builds here are tiny (two classes, three pitches each, TimGM6mb) so the file runs in seconds.
"""

import json

import numpy as np
import pytest

from instrumentid.datasets import soundfont as sfds
from instrumentid.datasets.programs import DEFAULT_CLASSES, PROGRAM_RANGES, read_programs
from instrumentid.datasets.render import Source, render_note, timgm6mb
from instrumentid.datasets.variation import VARIATION
from instrumentid.settings import DEFAULT_FEATURES, FeatureSettings, NoteSettings, settings_key

TIM = timgm6mb()
TINY = {"piano": {"programs": [0], "range": [60, 62]}, "flute": {"programs": [73], "range": [71, 73]}}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTRUMENTID_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def two_sources(tmp_path):
    """TimGM6mb under two names (a copy), so a source split has two sides."""
    copy = tmp_path / "TimCopy.sf2"
    copy.write_bytes(TIM.read_bytes())
    return [TIM, copy]


def test_plan_covers_ranges_dynamics_and_source_programs():
    classes = read_programs(DEFAULT_CLASSES)
    sources = [Source("A", TIM), Source("B", TIM, programs=(73,))]
    rows = sfds.plan_notes(sources, classes, seed=0)
    a = [r for r in rows if r["source"] == "A"]
    assert {r["program"] for r in rows if r["source"] == "B"} == {73}
    violin = {r["pitch"] for r in a if r["program"] == 40}
    assert violin == set(range(PROGRAM_RANGES[40][0], PROGRAM_RANGES[40][1] + 1))
    assert {r["velocity"] for r in a} == set(sfds.VELOCITIES)
    assert {r["length_s"] for r in a} == set(sfds.DURATIONS_S)
    assert rows == sfds.plan_notes(sources, classes, seed=0)
    assert [r["seed"] for r in rows] != [r["seed"] for r in sfds.plan_notes(sources, classes, seed=1)]


def test_silent_render_is_dropped():
    row = sfds.plan_notes([Source("A", TIM)], read_programs({"x": [73]}), seed=0)[0]
    # MIDI 127 is far above the flute's samples: the render is silent or not, and render_varied must agree
    dry = render_note(TIM, 73, 127, velocity=row["velocity"], duration_s=row["length_s"])
    assert (sfds.render_varied({**row, "pitch": 127}) is None) == (np.max(np.abs(dry)) < 1e-4)
    assert sfds.render_varied(row) is not None


def test_pitch_split_is_grouped(cache, two_sources):
    ds = sfds.build_soundfont_dataset(two_sources, programs=TINY, jobs=1, progress=False)
    side = {}
    for row in ds.metadata:
        side.setdefault((row["source"], row["pitch"]), set()).add(row["split"])
    assert all(len(s) == 1 for s in side.values())
    assert {r["split"] for r in ds.metadata} == {"train", "test"}
    assert len(ds.y_train) + len(ds.y_test) == len(ds.metadata)
    assert ds.X_train.shape[1] == 120 and ds.class_names == ["piano", "flute"]


def test_source_split_is_grouped(cache, two_sources):
    ds = sfds.build_soundfont_dataset(two_sources, programs=TINY, split="source", test_source="TimGM6mb",
                                      jobs=1, progress=False)
    train = {r["source"] for r in ds.metadata if r["split"] == "train"}
    test = {r["source"] for r in ds.metadata if r["split"] == "test"}
    assert test == {"TimGM6mb"} and train == {"TimCopy"}


def test_saved_layout_and_cache(cache, two_sources, monkeypatch):
    ds = sfds.build_soundfont_dataset(two_sources, programs=TINY, jobs=1, progress=False)
    for name in ("uiowa_train_data.npy", "uiowa_test_labels.npy", "classes.json", "metadata.csv", "dataset.json"):
        assert (ds.path / name).is_file()
    assert json.loads((ds.path / "classes.json").read_text()) == ["piano", "flute"]
    assert str(ds.path).startswith(str(cache))
    first = ds.path.stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("the cache was not reused")

    monkeypatch.setattr(sfds, "_run_chunks", fail)
    again = sfds.build_soundfont_dataset(two_sources, programs=TINY, jobs=1, progress=False)
    assert again.path == ds.path and again.path.stat().st_mtime_ns == first
    np.testing.assert_array_equal(again.X_test, ds.X_test)
    assert again.metadata == ds.metadata  # numbers read back as numbers
    # the source split reuses the rendered feature table but saves under another key
    other = sfds.build_soundfont_dataset(two_sources, programs=TINY, split="source", jobs=1, progress=False)
    assert other.path != ds.path
    with pytest.raises(AssertionError, match="not reused"):
        sfds.build_soundfont_dataset(two_sources, programs=TINY, seed=1, jobs=1, progress=False)


def test_settings_key_changes_with_settings():
    classes = read_programs(TINY)
    src = [Source("A", TIM)]
    base = settings_key(sfds._settings(src, classes, seed=0, renders=2, variation=VARIATION))
    assert base == settings_key(sfds._settings(src, classes, seed=0, renders=2, variation=VARIATION))
    assert base != settings_key(sfds._settings(src, classes, seed=1, renders=2, variation=VARIATION))
    assert base != settings_key(sfds._settings(src, read_programs({"piano": [0]}), seed=0, renders=2,
                                               variation=VARIATION))
    louder = {**VARIATION, "level_db": (-6.0, 0.0)}
    assert base != settings_key(sfds._settings(src, classes, seed=0, renders=2, variation=louder))


def test_feature_settings_change_the_cache_key():
    settings = sfds._settings([Source("A", TIM)], read_programs(TINY), seed=0, renders=2, variation=VARIATION)
    base = sfds._cache_key(settings, DEFAULT_FEATURES)
    assert base == sfds._cache_key(settings, FeatureSettings())
    assert base != sfds._cache_key(settings, FeatureSettings(attack_s=0.2))
    assert sfds._cache_key(settings, DEFAULT_FEATURES, split="pitch") != base


def test_settings_recorded_and_part_of_the_cache(cache, two_sources, monkeypatch):
    ds = sfds.build_soundfont_dataset(two_sources[:1], programs=TINY, jobs=1, progress=False)
    saved = json.loads((ds.path / "dataset.json").read_text())
    assert saved["feature_settings"] == DEFAULT_FEATURES.to_dict() and saved["note_settings"] is None
    assert saved["cache_key"] == ds.path.name.rsplit("-", 1)[1]
    assert ds.feature_settings == DEFAULT_FEATURES and ds.note_settings is None

    def fail(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(sfds, "_run_chunks", fail)
    again = sfds.build_soundfont_dataset(two_sources[:1], programs=TINY, note_settings=NoteSettings(), jobs=1,
                                         progress=False)
    assert again.path == ds.path
    with pytest.raises(AssertionError, match="rendered again"):  # other feature settings: another table
        sfds.build_soundfont_dataset(two_sources[:1], programs=TINY, feature_settings=FeatureSettings(attack_s=0.2),
                                     jobs=1, progress=False)


def test_damaged_cached_set_is_rebuilt(cache, two_sources, monkeypatch):
    ds = sfds.build_soundfont_dataset(two_sources[:1], programs=TINY, jobs=1, progress=False)
    (ds.path / "uiowa_test_data.npy").write_bytes(b"not an array")

    def fail(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(sfds, "_run_chunks", fail)  # the table of notes is intact: rebuilt without rendering
    with pytest.warns(UserWarning, match="is damaged .*rebuilding"):
        again = sfds.build_soundfont_dataset(two_sources[:1], programs=TINY, jobs=1, progress=False)
    np.testing.assert_array_equal(again.X_test, ds.X_test)
    assert again.metadata == ds.metadata


def test_parallel_build_equals_serial(cache, two_sources, tmp_path):
    a = sfds.build_soundfont_dataset(two_sources[:1], programs=TINY, out=tmp_path / "a", jobs=1, progress=False)
    b = sfds.build_soundfont_dataset(two_sources[:1], programs=TINY, out=tmp_path / "b", jobs=2, force=True,
                                     progress=False)
    # equal up to float rounding (one BLAS thread per worker sums in another order)
    np.testing.assert_allclose(a.X_train, b.X_train, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_cli_build(cache, tmp_path, capsys):
    from instrumentid.cli import main

    prog = tmp_path / "tiny.json"
    prog.write_text(json.dumps(TINY))
    out = tmp_path / "set"
    code = main(["dataset", "build", "--soundfont", str(TIM), "--programs", str(prog), "--out", str(out),
                 "--jobs", "1", "--quiet"])
    assert code == 0
    assert "2 classes (piano, flute)" in capsys.readouterr().out
    assert (out / "uiowa_train_data.npy").is_file()


def test_rendering_many_notes_at_once_gives_each_note_as_alone():
    """render_varied_many (one TiMidity++ run per source for freepats) equals render_varied row by row."""
    from instrumentid.datasets.render import default_sources

    rows = sfds.plan_notes(default_sources(), read_programs(DEFAULT_CLASSES))
    rows = rows[:: max(1, len(rows) // 40)]
    assert len({r["source"] for r in rows}) >= 2
    together = sfds.render_varied_many(rows)
    for row, y in zip(rows, together, strict=True):
        alone = sfds.render_varied(row)
        if alone is None:
            assert y is None
        else:
            np.testing.assert_array_equal(y, alone)
    assert sum(y is not None for y in together) > len(rows) // 2

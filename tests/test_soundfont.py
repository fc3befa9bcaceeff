"""Tests of instrumentid.datasets.soundfont: rendering, variation, splits, cache and the saved layout.

Builds here are tiny (two classes, three pitches each, TimGM6mb) so the file runs in seconds.
"""

import json

import numpy as np
import pytest

from instrumentid.audio import SR
from instrumentid.datasets import soundfont as sfds

TIM = sfds.default_soundfonts().get("TimGM6mb") or sfds._timgm6mb()
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


def _f0_midi(y, sr=SR):
    import librosa

    f0 = librosa.yin(y[: int(0.5 * sr)], fmin=50, fmax=2000, sr=sr, frame_length=2048)
    return float(np.median(librosa.hz_to_midi(f0)))


def test_default_soundfonts_include_timgm6mb():
    fonts = sfds.default_soundfonts()
    assert "TimGM6mb" in fonts and fonts["TimGM6mb"].is_file()


@pytest.mark.parametrize("program, midi", [(0, 60), (40, 69), (73, 72), (57, 48)])
def test_rendered_note_is_audible_and_at_pitch(program, midi):
    y = sfds.render_note(TIM, program, midi, velocity=100, duration_s=0.6)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == round((0.6 + sfds.RELEASE_S) * SR)
    assert np.max(np.abs(y)) > 1e-3
    assert abs(_f0_midi(y) - midi) < 0.5


def test_vibrato_keeps_pitch_and_changes_signal():
    dry = sfds.render_note(TIM, 73, 72, duration_s=0.8)
    wobbly = sfds.render_note(TIM, 73, 72, duration_s=0.8, vibrato=(5.5, 0.3))
    assert abs(_f0_midi(wobbly) - 72) < 0.5
    assert not np.allclose(dry, wobbly)


def test_velocity_changes_level():
    soft = sfds.render_note(TIM, 0, 60, velocity=30, duration_s=0.5)
    loud = sfds.render_note(TIM, 0, 60, velocity=110, duration_s=0.5)
    assert np.sqrt(np.mean(loud**2)) > 1.5 * np.sqrt(np.mean(soft**2))


def test_vary_note_is_seeded(rng):
    y = sfds.render_note(TIM, 0, 60, duration_s=0.5)
    a = sfds.vary_note(y, rng=np.random.default_rng(1))
    b = sfds.vary_note(y, rng=np.random.default_rng(1))
    c = sfds.vary_note(y, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[: len(c)], c[: len(a)])
    assert np.all(np.isfinite(a)) and np.max(np.abs(a)) <= 1.0


def test_plan_covers_ranges_dynamics_and_source_programs():
    classes = sfds.read_programs(sfds.DEFAULT_CLASSES)
    sources = [sfds.Source("A", TIM), sfds.Source("B", TIM, programs=(73,))]
    rows = sfds.plan_notes(sources, classes, seed=0)
    a = [r for r in rows if r["source"] == "A"]
    assert {r["program"] for r in rows if r["source"] == "B"} == {73}
    violin = {r["pitch"] for r in a if r["program"] == 40}
    assert violin == set(range(sfds.PROGRAM_RANGES[40][0], sfds.PROGRAM_RANGES[40][1] + 1))
    assert {r["velocity"] for r in a} == set(sfds.VELOCITIES)
    assert {r["length_s"] for r in a} == set(sfds.DURATIONS_S)
    assert rows == sfds.plan_notes(sources, classes, seed=0)
    assert [r["seed"] for r in rows] != [r["seed"] for r in sfds.plan_notes(sources, classes, seed=1)]


def test_silent_render_is_dropped():
    row = sfds.plan_notes([sfds.Source("A", TIM)], sfds.read_programs({"x": [73]}), seed=0)[0]
    # MIDI 127 is far above the flute's samples: the render is silent or not, and render_varied must agree
    dry = sfds.render_note(TIM, 73, 127, velocity=row["velocity"], duration_s=row["length_s"])
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
    assert again.metadata[0]["pitch"] == ds.metadata[0]["pitch"]
    # the source split reuses the rendered feature table but saves under another key
    other = sfds.build_soundfont_dataset(two_sources, programs=TINY, split="source", jobs=1, progress=False)
    assert other.path != ds.path
    with pytest.raises(AssertionError, match="not reused"):
        sfds.build_soundfont_dataset(two_sources, programs=TINY, seed=1, jobs=1, progress=False)


def test_settings_key_changes_with_settings():
    classes = sfds.read_programs(TINY)
    src = [sfds.Source("A", TIM)]
    base = sfds.settings_key(sfds._settings(src, classes, seed=0, renders=2))
    assert base == sfds.settings_key(sfds._settings(src, classes, seed=0, renders=2))
    assert base != sfds.settings_key(sfds._settings(src, classes, seed=1, renders=2))
    assert base != sfds.settings_key(sfds._settings(src, sfds.read_programs({"piano": [0]}), seed=0, renders=2))


def test_parallel_build_equals_serial(cache, two_sources, tmp_path):
    a = sfds.build_soundfont_dataset(two_sources[:1], programs=TINY, out=tmp_path / "a", jobs=1, progress=False)
    b = sfds.build_soundfont_dataset(two_sources[:1], programs=TINY, out=tmp_path / "b", jobs=2, force=True,
                                     progress=False)
    # equal up to float rounding (one BLAS thread per worker sums in another order)
    np.testing.assert_allclose(a.X_train, b.X_train, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_read_programs_formats(tmp_path):
    j = tmp_path / "map.json"
    j.write_text(json.dumps({"classes": {"horn": [60], "tuba": {"programs": [58], "range": [30, 50]}}}))
    t = tmp_path / "map.toml"
    t.write_text('horn = [60]\n[tuba]\nprograms = [58]\nrange = [30, 50]\n')
    expected = {"horn": {"programs": [60], "range": None}, "tuba": {"programs": [58], "range": (30, 50)}}
    assert sfds.read_programs(j) == expected
    assert sfds.read_programs(t) == expected


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

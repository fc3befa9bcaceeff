"""Bad input to the SoundFont data set and the note features: one clear error naming the value."""

import json

import numpy as np
import pytest

from instrumentid.audio import SR
from instrumentid.cli import main
from instrumentid.datasets import render
from instrumentid.datasets import soundfont as sfds
from instrumentid.datasets.programs import read_programs
from instrumentid.errors import ParameterError
from instrumentid.features import note_features

TIM = render.timgm6mb()


@pytest.fixture
def not_a_soundfont(tmp_path):
    p = tmp_path / "fake.sf2"
    p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64))
    return p


def test_missing_soundfont(tmp_path):
    with pytest.raises(ParameterError, match="SoundFont not found"):
        render.render_note(tmp_path / "nope.sf2", 0, 60)


def test_folder_is_not_a_soundfont(tmp_path):
    with pytest.raises(ParameterError, match="got a folder"):
        render.check_soundfont(tmp_path)


def test_file_that_is_not_a_soundfont(not_a_soundfont):
    with pytest.raises(ParameterError, match="not a SoundFont"):
        sfds.build_soundfont_dataset([not_a_soundfont], progress=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"program": 128}, "program must be"),
        ({"midi": -1}, "midi must be"),
        ({"velocity": 0}, "velocity must be"),
        ({"duration_s": 0.0}, "duration_s must be"),
        ({"bank": 99}, "has no program"),
    ],
)
def test_render_note_bad_values(kwargs, match):
    args = {"program": 0, "midi": 60, **kwargs}
    with pytest.raises(ParameterError, match=match):
        render.render_note(TIM, args.pop("program"), args.pop("midi"), **args)


@pytest.mark.parametrize(
    "spec, match",
    [
        ({}, "non-empty"),
        ({"violin": [200]}, "unknown program 200"),
        ({"violin": ["forty"]}, "unknown program 'forty'"),
        ({"violin": []}, "non-empty list"),
        ({"violin": {"programs": [40], "range": [90, 50]}}, "range must be"),
        ({"violin": {"programs": [40], "octave": 4}}, "unknown key"),
    ],
)
def test_bad_program_maps(spec, match):
    with pytest.raises(ParameterError, match=match):
        read_programs(spec)


def test_unreadable_programs_file(tmp_path):
    p = tmp_path / "map.json"
    p.write_text("{not json")
    with pytest.raises(ParameterError, match="cannot read programs file"):
        read_programs(p)
    with pytest.raises(ParameterError, match="programs file not found"):
        read_programs(tmp_path / "missing.toml")


def test_bad_splits():
    meta = [{"source": "A", "pitch": 60}, {"source": "B", "pitch": 61}]
    with pytest.raises(ParameterError, match="unknown test_source 'C'"):
        sfds.split_test_mask(meta, split="source", test_source="C")
    with pytest.raises(ParameterError, match="only used with split='source'"):
        sfds.split_test_mask(meta, split="pitch", test_source="A")
    with pytest.raises(ParameterError, match="split must be"):
        sfds.split_test_mask(meta, split="random")
    with pytest.raises(ParameterError, match="at least two"):
        sfds.split_test_mask(meta[:1], split="source")


def test_cli_bad_soundfont_exits_2(not_a_soundfont, tmp_path, capsys):
    code = main(["dataset", "build", "--soundfont", str(not_a_soundfont), "--out", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "not a SoundFont" in err and "fake.sf2" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_cli_unknown_program_exits_2(tmp_path, capsys):
    p = tmp_path / "map.json"
    p.write_text(json.dumps({"violin": [300]}))
    code = main(["dataset", "build", "--soundfont", str(TIM), "--programs", str(p), "--quiet"])
    assert code == 2 and "unknown program 300" in capsys.readouterr().err


def test_cli_test_source_needs_source_split(capsys):
    assert main(["dataset", "build", "--test-source", "FluidR3", "--quiet"]) == 2
    assert "--split source" in capsys.readouterr().err


@pytest.mark.parametrize(
    "y, kwargs, match",
    [
        (np.zeros(SR, dtype=np.float32), {"sr": 44100}, "features are computed at sr=22050"),
        (np.ones(100, dtype=np.float32), {}, "too short"),
        (np.full(SR, np.nan, dtype=np.float32), {}, "NaN"),
        (np.ones(SR, dtype=np.int16), {}, "floating point"),
        ([0.1] * SR, {}, "numpy array"),
    ],
)
@pytest.mark.filterwarnings("ignore:note. audio is shorter")
def test_note_features_bad_input(y, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        note_features(y, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"feature_settings": {"n_mfcc": 20}}, "feature_settings must be a FeatureSettings or None, got dict"),
        ({"note_settings": 3}, "note_settings must be a NoteSettings or None, got int"),
        ({"programs": {"piano": [0]}}, r"at least 2 classes, got \['piano'\]"),
    ],
)
def test_bad_build_options(kwargs, match, tmp_path):
    with pytest.raises(ParameterError, match=match):
        sfds.build_soundfont_dataset([TIM], out=tmp_path / "x", progress=False, **kwargs)
    assert not (tmp_path / "x").exists()

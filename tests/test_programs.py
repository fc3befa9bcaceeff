"""Tests of instrumentid.datasets.programs: class maps from dicts and JSON/TOML files."""

import json

from instrumentid.datasets.programs import DEFAULT_CLASSES, FALLBACK_RANGE, PROGRAM_RANGES, program_range, read_programs


def test_default_classes_have_ranges():
    classes = read_programs(DEFAULT_CLASSES)
    assert list(classes) == list(DEFAULT_CLASSES) and len(classes) == 10
    assert all(p in PROGRAM_RANGES for entry in classes.values() for p in entry["programs"])


def test_program_range():
    assert program_range(40, None) == PROGRAM_RANGES[40]
    assert program_range(40, (60, 70)) == (60, 70)
    assert program_range(127, None) == FALLBACK_RANGE


def test_read_programs_formats(tmp_path):
    j = tmp_path / "map.json"
    j.write_text(json.dumps({"classes": {"horn": [60], "tuba": {"programs": [58], "range": [30, 50]}}}))
    t = tmp_path / "map.toml"
    t.write_text('horn = [60]\n[tuba]\nprograms = [58]\nrange = [30, 50]\n')
    expected = {"horn": {"programs": [60], "range": None}, "tuba": {"programs": [58], "range": (30, 50)}}
    assert read_programs(j) == expected
    assert read_programs(t) == expected

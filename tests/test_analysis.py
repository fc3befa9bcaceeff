"""The one path from audio to features (instrumentid.analysis), and the rule that it is the only one."""

import ast
from pathlib import Path

import numpy as np
import pytest
import synth

import instrumentid
from instrumentid import analysis, features
from instrumentid.analysis import Analysis, analyze, clip_features
from instrumentid.errors import ParameterError
from instrumentid.notes import detect_notes
from instrumentid.settings import SR, FeatureSettings, NoteSettings

PACKAGE = Path(instrumentid.__file__).resolve().parent
#: The modules allowed to import note detection and the feature code: the analysis path and those two themselves.
ALLOWED = {"analysis.py", "notes.py", "features.py"}


def _imported_modules(path: Path) -> set:
    """Every instrumentid module a source file imports (at any depth: lazy imports inside functions count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_only_the_analysis_module_reaches_notes_and_features():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in ALLOWED and path.parent == PACKAGE:
            continue
        bad = _imported_modules(path) & {"instrumentid.notes", "instrumentid.features"}
        if bad:
            offenders[str(path.relative_to(PACKAGE))] = sorted(bad)
    assert offenders == {}


def test_the_scan_sees_lazy_imports(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from instrumentid import features\n    from instrumentid.notes import Note\n")
    assert {"instrumentid.features", "instrumentid.notes"} <= _imported_modules(source)


def test_file_and_array_give_the_same_analysis(tmp_path):
    y = np.asarray(synth.phrase_audio("gaps"))
    path = synth.write(tmp_path / "gaps.wav", y, sr=SR, subtype="FLOAT")
    from_file, from_array = analyze(path), analyze(y, sr=SR)
    assert from_file.name == str(path) and from_array.name == "<array>"
    assert from_file.notes == from_array.notes and len(from_file.notes) == 5
    np.testing.assert_array_equal(from_file.X, from_array.X)
    np.testing.assert_array_equal(from_file.y, y)
    assert from_file.duration_s == pytest.approx(y.size / SR)


def test_rows_are_the_features_of_the_notes():
    y = np.asarray(synth.phrase_audio("two_instruments"))
    a = analyze(y, sr=SR)
    assert a.notes == tuple(detect_notes(y, sr=SR))
    np.testing.assert_array_equal(a.X, features.segment_features(y, a.notes, sr=SR))
    assert a.X.shape == (4, 120) and a.X.dtype == np.float32


def test_other_rates_are_resampled_once():
    notes, options = synth.PHRASES["gaps"]
    stereo = synth.render_phrase(notes, sr=44100, stereo=True, **options)
    a = analyze(stereo, sr=44100)
    assert a.sr == SR and a.y.ndim == 1 and a.y.size == pytest.approx(stereo.shape[1] / 2, abs=2)
    assert [n.midi for n in a.notes] == [67, 69, 71, 72, 74]


def test_settings_reach_both_stages():
    y = np.asarray(synth.phrase_audio("gaps"))
    a = analyze(y, sr=SR, note_settings=NoteSettings(min_duration_s=1.0), feature_settings=FeatureSettings(n_mfcc=13))
    assert all(n.duration_s >= 1.0 for n in a.notes)
    assert a.X.shape == (len(a.notes), a.feature_settings.n_features) == (len(a.notes), 92)
    with pytest.raises(ParameterError, match="expected NoteSettings"):
        analyze(y, sr=SR, note_settings={"top_db": 40})


def test_clip_features_are_note_features():
    clips = [np.asarray(synth.phrase_audio("gaps"))[: SR // 2], np.asarray(synth.phrase_audio("legato"))[:SR]]
    X = clip_features(clips)
    np.testing.assert_array_equal(X[1], features.note_features(clips[1], sr=SR))


def test_mel_spectrogram_of_file_and_analysis(tmp_path):
    y = np.asarray(synth.phrase_audio("gaps"))
    path = synth.write(tmp_path / "gaps.wav", y, sr=SR, subtype="FLOAT")
    spec = analysis.mel_spectrogram(path)
    np.testing.assert_array_equal(spec.S_db, analyze(y, sr=SR).mel_spectrogram().S_db)
    assert spec.S_db.shape[0] == 128 and spec.hop_length == 512


@pytest.mark.parametrize(
    "kwargs, match",
    [({"sr": None}, "needs sr="), ({"sr": 0}, "sample rate")],
)
def test_bad_arrays(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        analyze(np.ones(4096, dtype=np.float32) * 0.1, **kwargs)


def test_file_with_sr_is_refused(tmp_path):
    path = synth.write(tmp_path / "gaps.wav", np.asarray(synth.phrase_audio("gaps")), sr=SR)
    with pytest.raises(ParameterError, match="sr applies to arrays only"):
        analyze(path, sr=SR)


def test_analysis_checks_itself():
    with pytest.raises(ParameterError, match="shape"):
        Analysis("x", np.zeros(10, np.float32), SR, (), np.zeros((1, 120), np.float32))


def test_check_embedding_loads_the_network_before_any_audio(tmp_path, monkeypatch):
    from instrumentid import pretrained
    from instrumentid.errors import ModelFileError
    from instrumentid.settings import DEFAULT_FEATURES, SHIPPED_FEATURES

    analysis.check_embedding(SHIPPED_FEATURES)  # the shipped network loads
    monkeypatch.setattr(pretrained, "FOLDER", tmp_path / "nowhere")
    pretrained._session.cache_clear()
    try:
        analysis.check_embedding(DEFAULT_FEATURES)  # no embedding: no network needed
        with pytest.raises(ModelFileError, match="the network MSD_musicnn is missing"):
            analysis.check_embedding(SHIPPED_FEATURES)
        with pytest.raises(ParameterError, match="FeatureSettings"):
            analysis.check_embedding("MSD_musicnn")
    finally:
        pretrained._session.cache_clear()

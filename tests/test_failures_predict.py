"""Bad input to detect_notes, predict and the predict/spectrogram commands: one clear message, never a traceback."""

import numpy as np
import pytest
import synth

from instrumentid import cli, features
from instrumentid.analysis import analyze
from instrumentid.classifier import InstrumentClassifier
from instrumentid.errors import InstrumentIdError, ParameterError
from instrumentid.notes import detect_notes
from instrumentid.prediction import predict
from instrumentid.settings import DEFAULT_FEATURES, DEFAULT_NOTES

SR = 22050


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, features.N_FEATURES)).astype(np.float32)
    clf = InstrumentClassifier(hidden_units=4, epochs=1, random_state=0, feature_settings=DEFAULT_FEATURES,
                               note_settings=DEFAULT_NOTES).fit(X, np.repeat(["flute", "oboe"], 20))
    path = clf.save(tmp_path_factory.mktemp("models") / "tiny")
    clf.set_params(feature_settings=None, note_settings=None)
    return path, clf.save(tmp_path_factory.mktemp("models") / "no-settings")


def _bad_files(folder):
    """One file of every kind that cannot be predicted, by name."""
    import soundfile as sf

    good = synth.write(folder / "good.wav", synth.phrase_audio("gaps"), sr=SR)
    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)))
    truncated = folder / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:44 + 2 * 1000])  # the header, then 1000 of its samples
    (folder / "empty.flac").write_bytes(b"")
    sf.write(str(folder / "silent.wav"), np.zeros(SR, dtype=np.float32), SR)
    (folder / "notes.mp3").write_text("this is text with an audio extension")
    (folder / "readme.txt").write_text("text")
    return {
        "corrupt": (corrupt, "cannot read audio file"),
        "truncated": (truncated, "no notes found .*shorter than one analysis frame"),
        "empty": (folder / "empty.flac", r"empty \(0 bytes\)"),
        "silent": (folder / "silent.wav",
                   r"no notes found in '.*silent\.wav' \(audio is silent \(peak under -80 dBFS\)\)$"),
        "text with audio extension": (folder / "notes.mp3", "cannot read audio file"),
        "not audio": (folder / "readme.txt", "cannot read audio file"),
    }


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    return _bad_files(tmp_path_factory.mktemp("bad"))


def _one_error_line(stderr: str, match: str):
    import re

    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("instrumentid: error: ") and re.search(match, lines[0]), lines[0]
    assert "Traceback" not in stderr


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "empty", "silent", "text with audio extension", "not audio"])
def test_single_bad_file_exit_2(kind, bad_files, tiny_model, tmp_path, capsys):
    path, match = bad_files[kind]
    out = tmp_path / "out.csv"
    code = cli.main(["predict", str(path), "--model", str(tiny_model[0]), "--out", str(out), "--quiet"])
    assert code == 2
    captured = capsys.readouterr()
    _one_error_line(captured.err, match)
    assert str(path.name) in captured.err
    assert not out.exists() and list(tmp_path.iterdir()) == []  # nothing half-written


def test_bad_files_among_good_ones_are_skipped_exit_1(bad_files, tiny_model, tmp_path, capsys):
    folder = bad_files["corrupt"][0].parent
    out = tmp_path / "out.csv"
    code = cli.main(["predict", str(folder), str(folder / "readme.txt"), "--model", str(tiny_model[0]),
                     "--format", "csv", "--out", str(out)])
    assert code == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("instrumentid: error: ")]
    # the folder walk takes the five audio-named files; readme.txt is named explicitly
    assert len(err) == 6 and "Traceback" not in "".join(err)
    sources = {line.split(",")[0] for line in out.read_text().splitlines()[1:]}
    assert sources == {str(folder / "good.wav")}


@pytest.mark.parametrize(
    "argv, match",
    [
        (["predict", "missing.wav"], "no such file or folder"),
        (["predict", "{empty_dir}"], "no audio files"),
        (["predict", "{good}", "--model", "{empty_dir}"], "model"),
        (["predict", "{good}", "--model", "{no_settings}"], "no feature settings"),
        (["predict", "{good}", "--format", "xml"], "invalid choice"),
        (["predict", "{good}", "--out", "{empty_dir}"], "--out must be a file"),
        (["spectrogram", "{corrupt}"], "cannot read audio file"),
        (["spectrogram", "{empty}"], "empty"),
        (["spectrogram", "{empty_dir}"], "not a file"),
    ],
)
def test_bad_arguments_exit_2(argv, match, bad_files, tiny_model, tmp_path, capsys):
    (tmp_path / "empty_dir").mkdir()
    names = {"empty_dir": tmp_path / "empty_dir", "good": bad_files["corrupt"][0].parent / "good.wav",
             "no_settings": tiny_model[1], "corrupt": bad_files["corrupt"][0], "empty": bad_files["empty"][0]}
    argv = [a.format(**names) for a in argv]
    if argv[0] == "predict" and "--model" not in argv:
        argv += ["--model", str(tiny_model[0])]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1


def run(argv) -> int:
    """cli.main's exit code, whether it returns it or argparse exits."""
    try:
        return cli.main(argv)
    except SystemExit as exit_:
        return exit_.code


# ----------------------------------------------------------------------------------------------- the API
@pytest.mark.parametrize(
    "y, kwargs, match",
    [
        (np.array([0.1, np.nan] * 3000, dtype=np.float32), {"sr": SR}, "NaN"),
        (np.zeros((2, 2, 100), dtype=np.float32), {"sr": SR}, "shape"),
        (np.zeros(0, dtype=np.float32), {"sr": SR}, "empty"),
        ([0.1, 0.2], {"sr": SR}, "numpy array"),
        (np.ones(5000, dtype=np.int16), {"sr": SR}, "floating point"),
        (np.ones(5000, dtype=np.float32), {"sr": 0}, "sample rate"),
    ],
)
def test_detect_notes_rejects_bad_audio(y, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        detect_notes(y, **kwargs)
    with pytest.raises(ParameterError, match=match):
        analyze(y, **kwargs)


def test_predict_api_errors(tiny_model, bad_files):
    model = tiny_model[0]
    with pytest.raises(ParameterError, match="needs sr="):
        predict(np.zeros(4096, dtype=np.float32), model=model)
    with pytest.raises(ParameterError, match="sr applies to arrays only"):
        predict(bad_files["corrupt"][0].parent / "good.wav", sr=SR, model=model)
    with pytest.raises(ParameterError, match="cannot read audio file"):
        predict(bad_files["corrupt"][0], model=model)
    with pytest.raises(ParameterError, match="model must be"):
        predict(np.zeros(4096, dtype=np.float32), sr=SR, model=42)
    with pytest.raises(InstrumentIdError):
        predict(np.zeros(4096, dtype=np.float32), sr=SR, model=bad_files["corrupt"][0].parent)


def test_predict_silence_warns_once_and_has_no_notes(tiny_model):
    with pytest.warns(UserWarning) as record:
        result = predict(np.zeros(SR, dtype=np.float32), sr=SR, model=tiny_model[0])
    messages = [str(w.message) for w in record]
    assert len(messages) == len(set(messages)) == 2, messages  # "silent" and "no notes found", each once
    assert result.notes == () and result.instrument is None and "no notes found" in result.to_table()


def test_a_missing_embedding_network_is_one_error_before_any_recording(tmp_path, monkeypatch, capsys):
    """With a model on musicnn's pools, every recording was decoded and cut into notes, then failed on its own line
    (exit code 1, as if some had worked)."""
    from instrumentid import pretrained
    from instrumentid.errors import ModelFileError
    from instrumentid.prediction import load_model
    from instrumentid.settings import SHIPPED_FEATURES

    rng = np.random.default_rng(0)
    clf = InstrumentClassifier(hidden_units=4, epochs=1, feature_settings=SHIPPED_FEATURES, note_settings=DEFAULT_NOTES,
                               branches=SHIPPED_FEATURES.branches).fit(
        rng.normal(size=(40, SHIPPED_FEATURES.n_features)), np.repeat(["flute", "oboe"], 20))
    model = clf.save(tmp_path / "model")
    wavs = [synth.write(tmp_path / f"{i}.wav", synth.phrase_audio("gaps"), sr=SR) for i in range(2)]
    monkeypatch.setattr(pretrained, "FOLDER", tmp_path / "nowhere")
    pretrained._session.cache_clear()
    try:
        with pytest.raises(ModelFileError, match="the network MSD_musicnn is missing"):
            load_model(model)
        assert cli.main(["predict", *map(str, wavs), "--model", str(model), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "MSD_musicnn is missing" in err, err
    finally:
        pretrained._session.cache_clear()

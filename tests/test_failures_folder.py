"""Bad input to the folder data set builder: every case ends in one ParameterError naming the bad value."""

import numpy as np
import pytest

from instrumentid.datasets.folder import build_folder_dataset, read_split_csv
from instrumentid.errors import ParameterError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTRUMENTID_CACHE", str(tmp_path / "cache"))


def tone(path, *, midi=69, sr=22050, seconds=1.0):
    """Write a plucked-string-like decaying harmonic tone (a clear single note)."""
    import soundfile as sf

    t = np.arange(int(sr * seconds)) / sr
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    y = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) * np.exp(-3 * t)
    y = np.concatenate([np.zeros(sr // 10), y, np.zeros(sr // 10)])
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (0.3 * y).astype(np.float32), sr)
    return path


def build(folder, **kwargs):
    return build_folder_dataset(folder, jobs=1, progress=False, **kwargs)


@pytest.fixture
def two_classes(tmp_path):
    root = tmp_path / "audio"
    for name in ("harp", "lute"):
        tone(root / name / "x.wav")
        tone(root / name / "y.wav", midi=72)
    return root


def test_missing_folder(tmp_path):
    with pytest.raises(ParameterError, match="audio folder not found: .*nowhere"):
        build(tmp_path / "nowhere")


def test_file_instead_of_folder(tmp_path):
    f = tone(tmp_path / "a.wav")
    with pytest.raises(ParameterError, match="got a file: .*a.wav"):
        build(f)


def test_no_class_sub_folders(tmp_path):
    tone(tmp_path / "a.wav")
    with pytest.raises(ParameterError, match="no class sub-folders"):
        build(tmp_path)


def test_single_class(tmp_path):
    tone(tmp_path / "harp" / "a.wav")
    with pytest.raises(ParameterError, match=r"at least 2 classes .* got 1: \['harp'\]"):
        build(tmp_path)


def test_class_without_audio_files(two_classes):
    (two_classes / "oboe").mkdir()
    (two_classes / "oboe" / "readme.txt").write_text("todo")
    with pytest.raises(ParameterError, match="class folder 'oboe' .* holds no audio files"):
        build(two_classes)


def test_class_with_only_unusable_files(two_classes):
    (two_classes / "oboe").mkdir()
    (two_classes / "oboe" / "bad.wav").write_bytes(b"garbage" * 100)
    (two_classes / "oboe" / "empty.flac").write_bytes(b"")
    with pytest.warns(UserWarning), pytest.raises(ParameterError, match="'oboe' has no usable audio file .*bad.wav"):
        build(two_classes)


def test_silent_file_reported_as_without_notes(two_classes):
    import soundfile as sf

    sf.write(str(two_classes / "harp" / "silence.wav"), np.zeros(22050, np.float32), 22050)
    with pytest.warns(UserWarning, match="skipped harp/silence.wav: no notes detected"):
        ds = build(two_classes)
    assert {s["file"] for s in ds.info["skipped"]} == {"harp/silence.wav"}


@pytest.mark.parametrize("test_size", [0, 1, 1.5, -0.2, "0.2", True, float("nan")])
def test_bad_test_size(two_classes, test_size):
    with pytest.raises(ParameterError, match="test_size must be a fraction in \\(0, 1\\)"):
        build(two_classes, test_size=test_size)


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_bad_jobs(two_classes, jobs):
    with pytest.raises(ParameterError, match="jobs must be a positive integer"):
        build_folder_dataset(two_classes, jobs=jobs, progress=False)


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("harp/x.wav,train\nharp/nope.wav,test\n", r"line 2: 'harp/nope.wav' is not an audio file"),
        ("harp/x.wav,train\nharp/y.wav,validation\n", r"line 2: split must be 'train' or 'test', got 'validation'"),
        ("path,split\nharp/x.wav\n", r"line 2: expected 'path,split'"),
        ("harp/x.wav,train,extra\n", r"line 1: expected 'path,split'"),
        ("harp/x.wav,train\n./harp/x.wav,test\n", r"line 2: './harp/x.wav' is already in 'train' \(line 1\)"),
        ("harp/x.wav,train\nharp/y.wav,test\n", r"no split for 2 file\(s\) of the folder, e.g. 'lute/x.wav'"),
    ],
)
def test_bad_split_csv(two_classes, tmp_path, text, pattern):
    csv_file = tmp_path / "split.csv"
    csv_file.write_text(text)
    with pytest.raises(ParameterError, match=pattern):
        build(two_classes, split_csv=csv_file)


def test_split_csv_accepts_variants(two_classes, tmp_path):
    files = ["harp/x.wav", "harp/y.wav", "lute/x.wav", "lute/y.wav"]
    csv_file = tmp_path / "split.csv"
    csv_file.write_text(
        "\ufeffPath,Split\n\n# comment\n"
        f"{two_classes / 'harp' / 'x.wav'},TRAIN\n harp\\y.wav , test\n./lute/x.wav,train\nlute/y.wav,test\n"
    )
    assert read_split_csv(csv_file, folder=two_classes, files=files) == {
        "harp/x.wav": "train", "harp/y.wav": "test", "lute/x.wav": "train", "lute/y.wav": "test",
    }


def test_split_csv_without_train_files_for_a_class(two_classes, tmp_path):
    csv_file = tmp_path / "split.csv"
    csv_file.write_text("harp/x.wav,test\nharp/y.wav,test\nlute/x.wav,train\nlute/y.wav,test\n")
    with pytest.raises(ParameterError, match="class 'harp' has no usable file in the training split"):
        build(two_classes, split_csv=csv_file)


def test_split_csv_without_test_files(two_classes, tmp_path):
    csv_file = tmp_path / "split.csv"
    csv_file.write_text("harp/x.wav,train\nharp/y.wav,train\nlute/x.wav,train\nlute/y.wav,train\n")
    with pytest.warns(UserWarning, match="no file in the test split"), pytest.raises(
        ParameterError, match="the test split is empty"
    ):
        build(two_classes, split_csv=csv_file)


def test_out_is_a_file(two_classes, tmp_path):
    (tmp_path / "ds").write_text("")
    with pytest.raises(ParameterError, match="output must be a folder, got a file"):
        build(two_classes, out=tmp_path / "ds")


def test_out_inside_audio_folder(two_classes):
    with pytest.raises(ParameterError, match="must be outside the audio folder"):
        build(two_classes, out=two_classes / "ds")


def test_out_non_empty_folder_kept(two_classes, tmp_path):
    precious = tmp_path / "music"
    precious.mkdir()
    (precious / "song.txt").write_text("keep me")
    with pytest.raises(ParameterError, match="refusing to replace .*music"):
        build(two_classes, out=precious)
    assert (precious / "song.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"note_settings": {"top_db": 40}}, "note_settings must be a NoteSettings or None, got dict"),
        ({"feature_settings": "default"}, "feature_settings must be a FeatureSettings or None, got str"),
    ],
)
def test_bad_settings(two_classes, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        build(two_classes, **kwargs)


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_a_missing_or_damaged_embedding_network_is_one_error_before_any_file(two_classes, tmp_path, monkeypatch,
                                                                           damage, capsys):
    """Every file was decoded and cut into notes, then skipped with a warning of its own, and the build ended in
    "class 'harp' has no usable audio file"."""
    import warnings

    from instrumentid import cli, pretrained
    from instrumentid.errors import ModelFileError
    from instrumentid.settings import SHIPPED_FEATURES

    broken = tmp_path / "musicnn"
    broken.mkdir()
    if damage == "garbage":
        (broken / "MSD_musicnn.onnx").write_bytes(b"not an onnx graph")
    monkeypatch.setattr(pretrained, "FOLDER", broken)
    pretrained._session.cache_clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # not one warning per file
            with pytest.raises(ModelFileError, match="MSD_musicnn"):
                build(two_classes, out=tmp_path / "ds", feature_settings=SHIPPED_FEATURES)
        assert cli.main(["dataset", "build", "--from-folder", str(two_classes), "--out", str(tmp_path / "ds"),
                         "--embedding", "MSD_musicnn", "--quiet", "--jobs", "1"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "MSD_musicnn" in err and "skipped" not in err, err
        assert not (tmp_path / "ds").exists()
    finally:
        pretrained._session.cache_clear()

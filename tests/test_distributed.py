"""predict --backend ray (instrumentid.distributed): a local Ray with 2 CPUs against the local backend."""

import importlib.util
import json
import sys

import numpy as np
import pytest
import synth

from instrumentid import cli
from instrumentid.distributed import INSTALL_HINT, SUMMARY_FILE, predict_corpus
from instrumentid.prediction import DEFAULT_MODEL, load_model, predict

SR = 22050
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None or importlib.util.find_spec("pyarrow") is None,
                               reason=f"Ray is not installed ({INSTALL_HINT}, or scripts/setup.sh)")
needs_default_model = pytest.mark.skipif(not (DEFAULT_MODEL / "model.json").is_file(),
                                         reason="the shipped default model is absent")
PHRASES = ("gaps", "legato", "two_instruments")
BROKEN = "broken.wav"


@pytest.fixture(scope="module")
def local_ray():
    import logging

    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three rendered recordings (one in a sub-folder, as FLAC) and one corrupt file."""
    folder = tmp_path_factory.mktemp("corpus")
    synth.write(folder / "gaps.wav", synth.phrase_audio("gaps"), sr=SR)
    synth.write(folder / "legato.wav", synth.phrase_audio("legato"), sr=SR)
    (folder / "sub").mkdir()
    synth.write(folder / "sub" / "two_instruments.flac", synth.phrase_audio("two_instruments"), sr=SR)
    (folder / BROKEN).write_bytes(b"RIFF" + b"\x00not a wave file" * 20)
    return folder


@pytest.fixture(scope="module")
def first_run(local_ray, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("ray") / "out"
    summary = predict_corpus([corpus], out=out, progress=False)
    return out, summary


def _table(out):
    import pyarrow.parquet as pq

    return pq.read_table(sorted(out.glob("*.parquet"))).sort_by([("file", "ascending"), ("index", "ascending")])


def _files(corpus):
    return sorted(str(p.resolve()) for p in corpus.rglob("*") if p.is_file())


@needs_ray
@needs_default_model
def test_same_rows_as_the_local_backend(first_run, corpus):
    out, summary = first_run
    table = _table(out)
    notes = table.filter(table.column("error").is_null()).to_pylist()
    clf = load_model(None)
    classes = [str(c) for c in clf.classes_]
    expected = []
    for file in _files(corpus):
        if file.endswith(BROKEN):
            continue
        result = predict(file, model=clf)
        proba = clf.predict_proba(result.analysis.X)
        for i, (p, row) in enumerate(zip(result.notes, proba, strict=True), start=1):
            expected.append((file, i, p, row))
    assert len(notes) == len(expected) == summary.n_notes > 0
    for got, (file, i, p, proba) in zip(notes, expected, strict=True):
        assert (got["file"], got["index"], got["midi"], got["name"]) == (file, i, p.note.midi, p.note.name)
        assert (got["start_s"], got["end_s"], got["f0_hz"], got["release_s"]) == pytest.approx(
            (p.note.start_s, p.note.end_s, p.note.f0_hz, p.note.release_s), abs=1e-9)
        assert got["instrument"] == p.instrument
        assert got["confidence"] == pytest.approx(p.confidence, abs=1e-6)
        np.testing.assert_allclose([got[f"proba_{c}"] for c in classes], proba, atol=1e-6)
        assert got["n_notes"] == sum(1 for e in expected if e[0] == file)


@needs_ray
@needs_default_model
def test_parquet_schema(first_run):
    import pyarrow as pa

    out, _ = first_run
    schema = _table(out).schema
    classes = [str(c) for c in load_model(None).classes_]
    assert schema.names == ["file", "index", "start_s", "end_s", "f0_hz", "midi", "release_s", "name", "instrument",
                            "confidence", *(f"proba_{c}" for c in classes), "n_notes", "error"]
    for name in ("start_s", "end_s", "f0_hz", "release_s", "confidence", *(f"proba_{c}" for c in classes)):
        assert schema.field(name).type == pa.float64()
    for name in ("index", "midi", "n_notes"):
        assert schema.field(name).type == pa.int32()
    for name in ("file", "name", "instrument", "error"):
        assert schema.field(name).type == pa.string()


@needs_ray
@needs_default_model
def test_a_broken_file_is_reported_and_the_rest_completes(first_run, corpus):
    out, summary = first_run
    broken = str((corpus / BROKEN).resolve())
    assert summary.done == tuple(f for f in _files(corpus) if f != broken)
    assert [f for f, _ in summary.failed] == [broken]
    assert "not a supported or intact audio file" in summary.failed[0][1]
    assert broken in summary.failed[0][1]  # the reason names the file, not a temporary copy
    rows = [row for row in _table(out).to_pylist() if row["file"] == broken]
    assert len(rows) == 1 and rows[0]["error"] == summary.failed[0][1] and rows[0]["instrument"] is None
    saved = json.loads((out / SUMMARY_FILE).read_text())
    assert saved["n_done"] == 3 and saved["n_failed"] == 1 and saved["failed"][0]["file"] == broken
    assert "failed: " + broken in summary.to_table()


@needs_ray
@needs_default_model
def test_resume_skips_files_already_written(local_ray, first_run, corpus, tmp_path):
    done_out, done = first_run
    # a job stopped after two files: their Parquet part is there, plus a half-written part
    out = tmp_path / "out"
    part = predict_corpus([corpus / "gaps.wav", corpus / "sub"], out=out, progress=False)
    assert len(part.done) == 2 and part.n_skipped == 0
    (out / "killed-while-writing.parquet").write_bytes(b"PAR1 half a file")
    with pytest.warns(UserWarning, match="cannot be read"):
        resumed = predict_corpus([corpus], out=out, progress=False)
    assert resumed.n_skipped == 2 and resumed.n_files == 4
    assert not (out / "killed-while-writing.parquet").exists()
    assert (resumed.done, resumed.failed, resumed.n_notes) == (done.done, done.failed, done.n_notes)
    got, want = _table(out).to_pylist(), _table(done_out).to_pylist()
    keys = ("file", "index", "start_s", "midi", "instrument", "error")
    assert [[r[k] for k in keys] for r in got] == [[r[k] for k in keys] for r in want]  # every note once
    # the classifier sees other batches than in the first run: the same probabilities up to rounding
    np.testing.assert_allclose([r["confidence"] or 0 for r in got], [r["confidence"] or 0 for r in want], atol=1e-9)
    # everything written: nothing to do, Ray not even needed
    again = predict_corpus([corpus], out=out, progress=False)
    assert again.n_skipped == 4 and again.n_notes == done.n_notes


@needs_ray
@needs_default_model
def test_cli_backend_ray(local_ray, corpus, tmp_path, capsys):
    code = cli.main(["predict", str(corpus / "gaps.wav"), str(corpus / BROKEN), "--backend", "ray",
                     "--out", str(tmp_path / "out"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1  # one file failed, the other was done
    assert "1 files done" in captured.out and f"failed: {(corpus / BROKEN).resolve()}" in captured.out
    assert list((tmp_path / "out").glob("*.parquet"))


@pytest.mark.parametrize("extra, match", [
    ([], "give --out"),
    (["--out", "o", "--format", "csv"], "no --format"),
])
def test_cli_backend_ray_needs_an_out_folder(corpus, extra, match, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["predict", str(corpus), "--backend", "ray", *extra]) == 2
    assert match in capsys.readouterr().err


def test_ray_address_needs_backend_ray(corpus, capsys):
    assert cli.main(["predict", str(corpus), "--ray-address", "auto"]) == 2
    assert "--ray-address needs --backend ray" in capsys.readouterr().err


def test_without_ray_one_message_names_the_extra(corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    assert cli.main(["predict", str(corpus), "--backend", "ray", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "instrumentid[ray]"' in err
    assert not (tmp_path / "out").exists()


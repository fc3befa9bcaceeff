"""predict and dataset build --backend ray (instrumentid.distributed): local Ray, 2 CPUs, against the local backend."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import synth

from instrumentid import cli
from instrumentid.datasets.base import load_dataset
from instrumentid.datasets.folder import build_folder_dataset
from instrumentid.distributed import (
    BATCH_FILES,
    INSTALL_HINT,
    MAX_RETRIES,
    NOTES_FOLDER,
    SUMMARY_FILE,
    _read_output,
    build_dataset,
    predict_corpus,
)
from instrumentid.prediction import DEFAULT_MODEL, load_model, predict
from instrumentid.settings import DEFAULT_FEATURES

SR = 22050
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None or importlib.util.find_spec("pyarrow") is None,
                               reason=f"Ray is not installed ({INSTALL_HINT}, or scripts/setup.sh)")
needs_default_model = pytest.mark.skipif(not (DEFAULT_MODEL / "model.json").is_file(),
                                         reason="the shipped default model is absent")
PHRASES = ("gaps", "legato", "two_instruments")
BROKEN = "broken.wav"
#: class folder -> General-MIDI program, and the notes (midi, start_s, dur_s, velocity) of each file of a class
PROGRAMS = {"flute": 73, "violin": 40}
CLASS_FILES = {"a.wav": [(67, 0.1, 0.9, 90)], "b.wav": [(72, 0.1, 0.6, 70), (64, 0.9, 0.5, 100)],
               "c.flac": [(60, 0.1, 0.9, 90)]}


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
def class_folder(tmp_path_factory):
    """Two classes of three files (single notes and a two-note phrase), a corrupt file and a silent one."""
    root = tmp_path_factory.mktemp("classes")
    for name, program in PROGRAMS.items():
        (root / name).mkdir()
        for file, notes in CLASS_FILES.items():
            synth.write(root / name / file, synth.render_phrase([(program, *n) for n in notes], sr=SR, tail_s=0.3),
                        sr=SR)
    (root / "flute" / BROKEN).write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt not really audio" * 4)
    synth.write(root / "violin" / "silent.wav", np.zeros(SR, np.float32), sr=SR)
    return root


@pytest.fixture(scope="module")
def local_dataset(class_folder, tmp_path_factory):
    """The local backend's build (2 worker processes, one BLAS thread each, as Ray's workers)."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return build_folder_dataset(class_folder, out=tmp_path_factory.mktemp("local") / "ds", jobs=2,
                                    progress=False)


@pytest.fixture(scope="module")
def ray_dataset(local_dataset, local_ray, class_folder, tmp_path_factory):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = build_dataset(class_folder, out=tmp_path_factory.mktemp("ray") / "ds", progress=False)
    return ds, [str(w.message) for w in caught]


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



# ----------------------------------------------------------------------------------------------- dataset build
def _notes_table(path):
    import pyarrow.parquet as pq

    return pq.read_table(sorted(path.glob("*.parquet"))).sort_by([("file", "ascending"), ("note_index", "ascending")])


@needs_ray
def test_dataset_same_as_the_local_backend(local_dataset, ray_dataset):
    ds, _ = ray_dataset
    want = local_dataset
    for name in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(ds, name), getattr(want, name), err_msg=name)  # bit for bit
    assert ds.X_train.dtype == want.X_train.dtype
    assert (ds.class_names, ds.metadata) == (want.class_names, want.metadata)
    for key in ("cache_key", "skipped", "warnings", "n_files", "n_files_used", "n_notes", "audio_s", "class_counts"):
        assert ds.info[key] == want.info[key], key
    assert (ds.info["backend"], want.info["backend"], ds.info["jobs"]) == ("ray", "local", None)
    # the same layout on disk: what train, evaluate and lab read
    saved = load_dataset(ds.path)
    np.testing.assert_array_equal(saved.X_test, want.X_test)
    assert saved.metadata == load_dataset(want.path).metadata


@needs_ray
def test_dataset_parquet_rows(local_dataset, ray_dataset):
    ds, _ = ray_dataset
    table = _notes_table(ds.path / NOTES_FOLDER)
    names = DEFAULT_FEATURES.feature_names
    assert table.schema.names == ["file", "class", "note_index", "start_s", "end_s", "f0_hz", "midi", "release_s",
                                  "note_name", *names, "n_notes", "duration_s", "warnings", "error"]
    notes = [r for r in table.to_pylist() if r["note_index"] is not None]
    X = np.concatenate([local_dataset.X_train, local_dataset.X_test])
    by_note = {(m["file"], m["note_index"]): (m, x) for m, x in zip(local_dataset.metadata, X, strict=True)}
    assert sorted(by_note) == [(r["file"], r["note_index"]) for r in notes]  # one row per note, nothing else
    for row in notes:
        meta, x = by_note[row["file"], row["note_index"]]
        assert (row["class"], row["midi"], row["note_name"]) == (meta["class"], meta["midi"], meta["note_name"])
        assert row["start_s"] == pytest.approx(meta["start_s"], abs=1e-4)
        np.testing.assert_array_equal(np.array([row[n] for n in names], np.float32), x)


@needs_ray
def test_dataset_broken_file_is_reported_and_the_rest_completes(ray_dataset):
    ds, messages = ray_dataset
    skipped = {s["file"]: s["reason"] for s in ds.info["skipped"]}
    assert set(skipped) == {f"flute/{BROKEN}", "violin/silent.wav"}
    assert "not a supported or intact audio file" in skipped[f"flute/{BROKEN}"]
    assert skipped["violin/silent.wav"].startswith("no notes detected")
    assert any(f"skipped flute/{BROKEN}" in m for m in messages)
    summary = json.loads((ds.path / NOTES_FOLDER / SUMMARY_FILE).read_text())
    assert (summary["n_files"], summary["n_done"], summary["n_failed"]) == (8, 7, 1)  # silent: done, without notes
    assert summary["failed"] == [{"file": f"flute/{BROKEN}", "error": skipped[f"flute/{BROKEN}"]}]
    rows = [r for r in _notes_table(ds.path / NOTES_FOLDER).to_pylist() if r["file"] == f"flute/{BROKEN}"]
    assert len(rows) == 1 and rows[0]["error"] == skipped[f"flute/{BROKEN}"] and rows[0]["note_index"] is None


@needs_ray
def test_dataset_resume_after_a_stopped_job(local_ray, ray_dataset, class_folder, tmp_path):
    """A job stopped after some files: their rows are beside the data set (and a half-written part); rerun resumes."""
    import pyarrow.parquet as pq

    ds, _ = ray_dataset
    out = tmp_path / "ds"
    parts = tmp_path / f".ds.ray-{ds.info['cache_key']}"
    parts.mkdir()
    table = _notes_table(ds.path / NOTES_FOLDER)
    first = [f for f in sorted(set(table.column("file").to_pylist())) if f.startswith("flute/")]  # 4 files
    pq.write_table(table.filter(pc_isin(table, first)), parts / "written-before-the-stop.parquet")
    (parts / "killed-while-writing.parquet").write_bytes(b"PAR1 half a file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = build_dataset(class_folder, out=out, progress=False)
    assert any("cannot be read" in str(w.message) for w in caught)
    summary = json.loads((out / NOTES_FOLDER / SUMMARY_FILE).read_text())
    assert (summary["n_files"], summary["n_skipped"], summary["n_done"], summary["n_failed"]) == (8, 4, 7, 1)
    assert not parts.exists() and not (out / NOTES_FOLDER / "killed-while-writing.parquet").exists()
    for name in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(ds, name))
    assert resumed.metadata == ds.metadata and resumed.info["skipped"] == ds.info["skipped"]
    assert _notes_table(out / NOTES_FOLDER).to_pylist() == table.to_pylist()  # every file once
    # everything built: the data set is reused, Ray not even needed
    again = build_dataset(class_folder, out=out, progress=False)
    np.testing.assert_array_equal(again.X_train, ds.X_train)


def pc_isin(table, files):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.is_in(table.column("file"), value_set=pa.array(files))


@needs_ray
def test_cli_dataset_build_backend_ray(local_ray, local_dataset, class_folder, tmp_path, capsys):
    out = tmp_path / "ds"
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        code = cli.main(["dataset", "build", "--from-folder", str(class_folder), "--backend", "ray", "--out", str(out),
                         "--quiet"])
    assert code == 0
    counts = f"{len(local_dataset.y_train)} train / {len(local_dataset.y_test)} test notes"
    assert f"{out}: {counts}" in capsys.readouterr().out
    np.testing.assert_array_equal(load_dataset(out).X_train, local_dataset.X_train)
    assert list((out / NOTES_FOLDER).glob("*.parquet"))


@pytest.mark.parametrize("extra, match", [
    (["--ray-address", "auto"], "--ray-address needs --backend ray"),
    (["--backend", "ray", "--jobs", "2"], "excludes"),
])
def test_cli_dataset_build_bad_backend_options(class_folder, tmp_path, extra, match, capsys):
    assert cli.main(["dataset", "build", "--from-folder", str(class_folder), "--out", str(tmp_path / "ds"),
                     *extra]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_cli_dataset_build_backend_ray_needs_a_folder(tmp_path, capsys):
    assert cli.main(["dataset", "build", "--backend", "ray", "--out", str(tmp_path / "ds")]) == 2
    assert "--backend ray needs --from-folder" in capsys.readouterr().err


def test_dataset_without_ray_one_message_names_the_extra(class_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert cli.main(["dataset", "build", "--from-folder", str(class_folder), "--backend", "ray",
                     "--out", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "instrumentid[ray]"' in err
    assert not (tmp_path / "ds").exists()


# ----------------------------------------------------------------------------------------------- worker death
DYING = '''
"""Ray worker setup hook: the worker analysing the file DIE_ONCE (as folder-name) dies (os._exit) the first time, the
one analysing DIE_ALWAYS every time; each death is counted in DIE_DIR/folder-name.died."""
import os
from pathlib import Path


def setup():
    import instrumentid.distributed as distributed

    analyze = distributed.analyze

    def dying(source, *, name, **options):
        key = f"{Path(name).parent.name}-{Path(name).name}"
        marker = Path(os.environ["DIE_DIR"]) / f"{key}.died"
        if key == os.environ["DIE_ALWAYS"] or (key == os.environ["DIE_ONCE"] and not marker.exists()):
            with open(marker, "a") as fh:
                fh.write("x")
            os._exit(1)
        return analyze(source, name=name, **options)

    distributed.analyze = dying
'''


@pytest.fixture
def dying_ray(tmp_path):
    """A local Ray (2 CPUs) whose workers die on given files; replaces the module's Ray for the tests after it."""
    import logging

    import ray

    ray.shutdown()
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "dying_worker.py").write_text(DYING)
    path = os.pathsep.join([str(tmp_path / "hook"), *filter(None, [os.environ.get("PYTHONPATH")]), *sys.path])
    env = {"PYTHONPATH": path, "DIE_DIR": str(tmp_path), "DIE_ONCE": "flute-b.wav", "DIE_ALWAYS": "violin-c.flac"}
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             runtime_env={"worker_process_setup_hook": "dying_worker.setup", "env_vars": env})
    yield tmp_path
    ray.shutdown()


@needs_ray
def test_a_dead_worker_is_retried_and_the_job_completes(dying_ray, local_dataset, class_folder):
    """flute/b.wav kills its worker once (Ray retries: same rows); violin/c.flac every time (reported, the rest
    completes)."""
    out = dying_ray / "ds"
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        ds = build_dataset(class_folder, out=out, progress=False)
    assert (dying_ray / "flute-b.wav.died").read_text() == "x"  # died once, then done
    assert len((dying_ray / "violin-c.flac.died").read_text()) == MAX_RETRIES + 1  # retried, then given up
    summary = json.loads((out / NOTES_FOLDER / SUMMARY_FILE).read_text())
    lost = sorted(f["file"] for f in summary["failed"] if "worker failed at every attempt" in f["error"])
    assert lost == ["violin/c.flac"]
    assert summary["n_done"] == 6 and summary["n_failed"] == 2
    assert {s["file"] for s in ds.info["skipped"]} == {f"flute/{BROKEN}", "violin/silent.wav", *lost}
    keep = [i for i, m in enumerate(local_dataset.metadata) if m["file"] not in lost]
    X = np.concatenate([local_dataset.X_train, local_dataset.X_test])
    got = {(m["file"], m["note_index"]): x for m, x in zip(ds.metadata, np.concatenate([ds.X_train, ds.X_test]),
                                                           strict=True)}
    assert sorted(got) == sorted((local_dataset.metadata[i]["file"], local_dataset.metadata[i]["note_index"])
                                 for i in keep)
    for i in keep:
        np.testing.assert_array_equal(got[local_dataset.metadata[i]["file"], local_dataset.metadata[i]["note_index"]],
                                      X[i])


# ------------------------------------------------------------------------------------------- a job interrupted
STALLING = '''
"""Imported by every Python process of the test's job (sitecustomize): the analysis of the file STALL_FILE hangs, so
the job is caught partway, with the other files' rows written, when the test interrupts it."""
import os

if os.environ.get("STALL_FILE"):
    import time
    from pathlib import Path

    import instrumentid.distributed as distributed

    _analyze = distributed.analyze

    def stalling(source, *, name, **options):
        if Path(name).name == os.environ["STALL_FILE"]:
            time.sleep(600)
        return _analyze(source, name=name, **options)

    distributed.analyze = stalling
'''
N_QUICK = BATCH_FILES + 2  # one full batch of the row stage is written while the stalled file holds up the rest


@pytest.fixture(scope="module")
def many_files(tmp_path_factory):
    """BATCH_FILES + 2 one-note recordings and one that stalls (see STALLING)."""
    folder = tmp_path_factory.mktemp("many")
    for i in range(N_QUICK):
        program, midi = (73, 67 + i % 12) if i % 2 else (40, 55 + i % 12)
        synth.write(folder / f"note{i:02d}.wav", synth.render_phrase([(program, midi, 0.05, 0.35, 90)], sr=SR,
                                                                      tail_s=0.2), sr=SR)
    synth.write(folder / "stall.wav", synth.render_phrase([(73, 72, 0.05, 0.35, 90)], sr=SR, tail_s=0.2), sr=SR)
    return folder


def _interrupt_when_written(cmd: list, out, env: dict, *, timeout_s: float = 180.0) -> subprocess.CompletedProcess:
    """Run ``cmd``, press Ctrl+C (SIGINT) once a readable Parquet part with rows is in ``out``; its exit and stderr."""
    import pyarrow.parquet as pq

    # A suite started in the background by a shell without job control runs with SIGINT ignored, and a child would
    # inherit that (Python then installs no KeyboardInterrupt): the child gets the default, as in a terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            parts = [p for p in out.glob("*.parquet") if _rows(pq, p)]
            if parts:
                proc.send_signal(signal.SIGINT)
                break
            time.sleep(0.5)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def _rows(pq, part) -> int:
    try:
        return pq.read_metadata(part).num_rows
    except Exception:  # noqa: BLE001 - being written
        return 0


@needs_ray
@needs_default_model
@pytest.mark.slow
def test_an_interrupted_job_resumes_without_redoing_files(local_ray, many_files, tmp_path):
    """predict --backend ray, stopped with Ctrl+C partway (one file stalls): the rerun skips every file written and
    ends with each file's notes once, as the local backend finds them."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(STALLING)
    env = {**os.environ, "STALL_FILE": "stall.wav",
           "PYTHONPATH": os.pathsep.join([str(hook), *filter(None, [os.environ.get("PYTHONPATH")]), *sys.path])}
    env.pop("RAY_ADDRESS", None)  # its own local Ray, as a user's first run
    out = tmp_path / "out"
    stopped = _interrupt_when_written([sys.executable, "-m", "instrumentid", "predict", str(many_files),
                                       "--backend", "ray", "--out", str(out), "--quiet"], out, env)
    assert stopped.returncode == 130, stopped.stderr
    assert "interrupted" in stopped.stderr and "Traceback" not in stopped.stderr
    written, _, _ = _read_output(out)
    assert 1 <= len(written) <= N_QUICK and str((many_files / "stall.wav").resolve()) not in written

    resumed = predict_corpus([many_files], out=out, progress=False)
    assert resumed.n_files == N_QUICK + 1 and resumed.n_skipped == len(written)
    assert not resumed.failed and len(resumed.done) == N_QUICK + 1
    table = _table(out)
    got = sorted(zip(table.column("file").to_pylist(), table.column("index").to_pylist(), strict=True))
    assert len(got) == len(set(got))  # no file's notes written twice
    model = load_model(DEFAULT_MODEL)
    want = []
    for path in sorted(many_files.iterdir()):
        want += [(str(path.resolve()), i + 1) for i in range(len(predict(path, model=model).notes))]  # 1-based
    assert got == sorted(want)

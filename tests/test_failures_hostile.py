"""Hostile input and faults (issue 14): resource bombs, unwritable outputs, closed pipes, internal errors, killed runs.

Each ends in one line on stderr naming the value, the documented exit code, and no traceback.
"""

import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import synth

from instrumentid import cli
from instrumentid.audio import load_audio
from instrumentid.errors import ParameterError

EXE = str(Path(sys.executable).with_name("instrumentid"))


def _wav_claiming(path, rate: int, n_samples: int = 22050) -> Path:
    """A valid 16-bit mono WAV whose header claims ``rate`` Hz."""
    data = (np.sin(np.arange(n_samples) / 10.0) * 10000).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, min(rate * 2, 2**32 - 1), 2, 16) + b"data" + struct.pack("<I", len(data))
    path.write_bytes(header + data)
    return path


def _one_line(err: str, match: str) -> None:
    assert match in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err


@pytest.mark.parametrize("rate", [1, 400, 4_294_967_295])
def test_absurd_sample_rates_are_refused_before_decoding(tmp_path, rate, capsys):
    path = _wav_claiming(tmp_path / f"rate{rate}.wav", rate)
    with pytest.raises(ParameterError, match=r"sample rate|cannot read audio"):
        load_audio(path)
    assert cli.main(["notes", str(path)]) == 2
    err = capsys.readouterr().err
    assert ("outside the supported 1,000-768,000 Hz" in err or "cannot read audio" in err) and "Traceback" not in err


def test_array_sample_rates_are_bounded():
    from instrumentid.analysis import analyze

    with pytest.raises(ParameterError, match="sample rate 1 Hz is outside"):
        analyze(np.zeros(100, np.float32), sr=1)


def test_unwritable_output_is_one_line(tmp_path, capsys):
    wav = synth.write(tmp_path / "gaps.wav", synth.phrase_audio("gaps"), sr=22050)
    assert cli.main(["notes", str(wav), "--out", "/proc/instrumentid-denied/notes.csv"]) == 2
    _one_line(capsys.readouterr().err, "/proc/instrumentid-denied")


@pytest.mark.parametrize("value", ["1e23", "-1", str(2**40), "x"])
def test_seed_is_range_checked_at_parse_time(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--seed", value])
    assert exit_.value.code == 2
    _one_line(capsys.readouterr().err, "integer seed from 0 to 4294967295")


def test_closed_pipe_ends_quietly(tmp_path):
    wav = synth.write(tmp_path / "gaps.wav", synth.phrase_audio("gaps"), sr=22050)
    files = [str(wav)] * 200  # enough output to outlast the reader
    proc = subprocess.Popen([EXE, "notes", *files, "--format", "csv", "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and b"Traceback" not in err and b"BrokenPipe" not in err, err


def test_internal_error_is_one_line_unless_debug(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("something unforeseen")

    monkeypatch.setitem(cli.HANDLERS, "plot", broken)
    assert cli.main(["plot", "."]) == 3
    _one_line(capsys.readouterr().err, "internal error: RuntimeError: something unforeseen (rerun with --debug")
    with pytest.raises(RuntimeError, match="unforeseen"):
        cli.main(["--debug", "plot", "."])


def test_killed_lab_leaves_no_run_folder_and_the_next_run_succeeds(uiowa_dir, tmp_path):
    """SIGKILL in the middle of a run: no run folder appears, and the next run cleans up and succeeds."""
    run = tmp_path / "run"
    proc = subprocess.Popen([EXE, "lab", "--data", str(uiowa_dir), "--out", str(run), "--quiet", "--epochs", "200"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".run.*.tmp")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)  # into the run
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not run.exists() and list(tmp_path.glob(".run.*.tmp"))  # nothing published; the leftover is hidden
    done = subprocess.run([EXE, "lab", "--data", str(uiowa_dir), "--out", str(run), "--quiet", "--epochs", "1",
                           "--sweep-epochs", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (run / "run.json").is_file() and not list(tmp_path.glob(".run.*"))


def test_two_processes_building_one_data_set_end_with_one_valid_copy(tmp_path):
    from instrumentid.datasets.uiowa import load_uiowa

    audio = tmp_path / "audio"
    for name, program, pitches in (("flute", 73, (72, 76)), ("trumpet", 56, (60, 64))):
        (audio / name).mkdir(parents=True)
        for i, midi in enumerate(pitches):
            synth.write(audio / name / f"{i}.wav", synth.render_phrase([(program, midi, 0.1, 0.5, 90)]), sr=22050)
    out = tmp_path / "ds"
    command = [EXE, "dataset", "build", "--from-folder", str(audio), "--out", str(out), "--jobs", "1", "--force",
               "--quiet"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1] for r in results]
    ds = load_uiowa(out)
    assert len(ds.y_train) + len(ds.y_test) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio", "ds"]  # no temporary folder left


def test_recordings_longer_than_the_limit_are_refused_before_decoding(tmp_path, capsys):
    path = _wav_claiming(tmp_path / "long.wav", 22050, n_samples=22050 * 90)  # 90 s
    with pytest.raises(ParameterError, match=r"1.5 minutes is longer than the 1 minutes accepted"):
        load_audio(path, max_duration_s=60)
    assert load_audio(path, max_duration_s=None)[0].size == 22050 * 90
    assert cli.main(["notes", str(path), "--max-minutes", "1"]) == 2
    _one_line(capsys.readouterr().err, "longer than the 1 minutes accepted (--max-minutes")

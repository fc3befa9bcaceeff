"""Peak memory and time of ``instrumentid notes`` and ``instrumentid predict`` on long recordings (issues 14 and 15).

Writes (once) WAV files of the given lengths at 44.1 kHz, stereo, 16-bit: the lab's saxophone phrase (16 s, rendered
from the installed SoundFont) and 4 s of silence, repeated, the right channel a little quieter than the left. Each
command then runs in its own process, one at a time; its peak resident memory is that process's ``ru_maxrss`` (taken
through a small launcher process, :data:`LAUNCHER`) and its time the wall time from start to exit.
``decode`` is ``load_audio`` alone (decode, check, mix down, resample to 22,050 Hz); ``--audio FILE.py`` takes
``load_audio`` from another copy of ``instrumentid/audio.py``, e.g. an older one for the "before" figure:

    .venv/bin/python benchmarks/long_memory.py [--minutes 30 60] [--commands decode notes predict] [--dir /tmp/...]
    git show 72e417a:instrumentid/audio.py > /tmp/old_audio.py
    .venv/bin/python benchmarks/long_memory.py --commands decode --audio /tmp/old_audio.py

``notes`` and ``predict`` of an older commit: put a copy of its package first on ``PYTHONPATH`` and run from outside
the repository (``python -m`` would import the working tree from the current folder):

    mkdir /tmp/old && git archive 21bcc32 instrumentid | tar -x -C /tmp/old && repo=$PWD && cd /tmp
    PYTHONPATH=/tmp/old $repo/.venv/bin/python $repo/benchmarks/long_memory.py --commands notes predict
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from instrumentid.cli import positive_float

#: Rate and channels of the recordings: what a recorder or a DAW writes.
FILE_SR, CHANNELS = 44_100, 2
SILENCE_S = 4.0


def phrase() -> np.ndarray:
    """The lab's example phrase plus :data:`SILENCE_S` of silence, at :data:`FILE_SR`, shape (n, 2), float32."""
    from instrumentid.datasets import render

    soundfont = next(iter(render.default_soundfonts().values()))
    y = render.render_phrase(render.LAB_EXAMPLE["notes"], soundfont=soundfont, sr=FILE_SR,
                             vibrato=render.LAB_EXAMPLE["vibrato"])
    y = np.concatenate([y, np.zeros(round(SILENCE_S * FILE_SR), np.float32)])
    return np.stack([y, 0.8 * y], axis=1).astype(np.float32)


def recording(folder: Path, minutes: float) -> Path:
    """The WAV file of ``minutes`` minutes in ``folder``, written block by block if it does not exist yet."""
    import soundfile as sf

    path = folder / f"long_{minutes:g}min_{FILE_SR}_{CHANNELS}ch.wav"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    block = phrase()
    n_total = round(minutes * 60 * FILE_SR)
    partial = path.with_suffix(".partial.wav")
    with sf.SoundFile(str(partial), "w", FILE_SR, CHANNELS, subtype="PCM_16") as f:
        for _ in range(math.ceil(n_total / len(block))):
            f.write(block[: n_total - f.frames])
    partial.replace(path)
    return path


#: ``decode``: load_audio alone, from ``instrumentid.audio`` or from the file given as the second argument.
DECODE = """import importlib.util, sys
if len(sys.argv) > 2:
    spec = importlib.util.spec_from_file_location("old_audio", sys.argv[2])
    audio = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(audio)
else:
    from instrumentid import audio
y, sr = audio.load_audio(sys.argv[1], max_duration_s=None)
print("n,sr")
print(f"{y.size},{sr}")
"""


#: Runs the command given after the result file in a child of its own and writes ``wall_s peak_kb exit_code cpu_s``
#: there (``cpu_s``: user + system time of all its threads, less sensitive than the wall time to other processes).
#: Through this small process, the command's peak memory is its own: a process forked from a large one (a benchmark
#: that imported torch) reports that one's resident size as its ``ru_maxrss``, since Linux keeps the larger figure
#: across ``exec``.
LAUNCHER = """import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{time.perf_counter() - start} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)} "
            f"{usage.ru_utime + usage.ru_stime}")
"""


def run_measured(args: list, *, stdout, stderr) -> dict:
    """Run ``args`` (``args[0]`` an absolute path) through :data:`LAUNCHER`: wall and CPU time (s), peak memory (MB),
    exit code.

    ``stdout`` and ``stderr`` are where the command's output goes (files, or ``subprocess.DEVNULL``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result"
        subprocess.run([sys.executable, "-c", LAUNCHER, str(result), *args], stdout=stdout, stderr=stderr,
                       check=False)
        seconds, peak_kb, code, cpu = result.read_text().split() if result.exists() else ("nan", "0", "-1", "nan")
    return {"seconds": float(seconds), "cpu_s": float(cpu), "peak_mb": int(peak_kb) / 1024, "exit": int(code)}


def measure(command: str, path: Path, minutes: float, audio: Path | None = None) -> dict:
    """Run ``instrumentid COMMAND PATH`` in a child process: wall time (s), peak memory (MB), exit code."""
    if command == "decode":
        args = [sys.executable, "-c", DECODE, str(path), *([str(audio)] if audio else [])]
    else:
        args = [sys.executable, "-m", "instrumentid", command, str(path), "--quiet", "--format", "csv",
                "--max-minutes", f"{minutes + 1:g}"]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        run = run_measured(args, stdout=out, stderr=err)
        out.seek(0), err.seek(0)
        rows, stderr = len(out.read().splitlines()) - 1, err.read().strip()[-300:]
    return {"command": command, "minutes": minutes, **run, "rows": max(0, rows), "stderr": stderr}


def main(argv=None) -> int:
    """Write the recordings, run every command on each, print one line per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=positive_float, nargs="+", default=[30.0, 60.0])
    parser.add_argument("--commands", nargs="+", choices=("decode", "notes", "predict"),
                        default=["decode", "notes", "predict"])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/instrumentid-long"), help="where the files go")
    parser.add_argument("--audio", type=Path, help="decode with load_audio from this copy of instrumentid/audio.py")
    args = parser.parse_args(argv)
    print(f"{'recording':<28} {'command':<8} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} {'rows':>6}")
    failed = 0
    for minutes in args.minutes:
        path = recording(args.dir, minutes)
        for command in args.commands:
            r = measure(command, path, minutes, args.audio)
            label = f"{minutes:g} min, 44.1 kHz stereo"
            print(f"{label:<28} {command:<8} {r['seconds']:7.1f} {r['cpu_s']:7.1f} {r['peak_mb']:8.0f} {r['rows']:6d}"
                  + ("" if r["exit"] == 0 else f"  exit {r['exit']}: {r['stderr']}"), flush=True)
            failed += r["exit"] != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

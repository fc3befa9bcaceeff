"""Extraction throughput of ``instrumentid dataset build --from-folder``: files/s, notes/s and x real time.

By default renders a folder of phrases (General-MIDI SoundFont, 3 classes) into a temporary folder and builds the data
set from it in one process and with all cores; ``--folder DIR`` measures your own folder instead. The one-process
build is also timed "before" issue 15: the notes featurized one by one by the per-note code kept in
``tests/features_reference.py`` (the same rows; decoding and note detection are unchanged).

    .venv/bin/python benchmarks/extract_speed.py [--files-per-class 12] [--jobs 1 2] [--folder DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))  # the per-note feature code of before issue 15, kept as a test oracle

from features_reference import reference_features  # noqa: E402

from instrumentid import features  # noqa: E402
from instrumentid.audio import SR  # noqa: E402
from instrumentid.datasets.folder import build_folder_dataset  # noqa: E402

#: class name -> General-MIDI program
PROGRAMS = {"flute": 73, "trumpet": 56, "violin": 40}


def render_folder(root: Path, *, files_per_class: int, notes_per_file: int, seed: int = 0) -> Path:
    """Write ``files_per_class`` phrases of ``notes_per_file`` notes (0.6 s + 0.15 s gap) per class, WAV 22.05 kHz."""
    import soundfile as sf

    from instrumentid.datasets.render import default_soundfonts, render_note

    soundfont = next(iter(default_soundfonts().values()))
    rng = np.random.default_rng(seed)
    gap = np.zeros(int(0.15 * SR), np.float32)
    for name, program in PROGRAMS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(files_per_class):
            notes = []
            for midi in rng.integers(55, 80, size=notes_per_file):
                velocity = int(rng.integers(50, 120))
                y = render_note(soundfont, program, int(midi), velocity=velocity, duration_s=0.6, sr=SR)
                notes += [gap, np.asarray(y, np.float32)]
            sf.write(str(root / name / f"{i:03d}.wav"), np.concatenate(notes + [gap]), SR)
    return root


def _per_note(notes, *, sr=SR, settings=features.DEFAULT_FEATURES, labels=None) -> np.ndarray:
    """``notes_features`` as before issue 15: one note at a time through the per-note reference code."""
    return np.stack([reference_features(y, sr=sr, settings=settings) for y in notes]).astype(np.float32)


def measure(folder: Path, *, jobs: int, out: Path, before: bool = False) -> dict:
    """Build the folder's data set; ``before``: in this process with the per-note feature code patched in."""
    real = features.notes_features
    if before:
        features.notes_features = _per_note  # segment_features looks the name up at call time
    try:
        start = time.perf_counter()
        ds = build_folder_dataset(folder, out=out, jobs=jobs, force=True, progress=False)
        wall_s = time.perf_counter() - start
    finally:
        features.notes_features = real
    info = ds.info
    return {
        "jobs": "1, before" if before else jobs,
        "files": info["n_files_used"],
        "notes": info["n_notes"],
        "audio_s": info["audio_s"],
        "extract_s": info["extraction_s"],
        "wall_s": wall_s,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="measure this folder (one sub-folder per class) instead")
    parser.add_argument("--files-per-class", type=int, default=12)
    parser.add_argument("--notes-per-file", type=int, default=4)
    parser.add_argument("--jobs", type=int, nargs="+", default=sorted({1, len(os.sched_getaffinity(0))}))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = args.folder
        if folder is None:
            start = time.perf_counter()
            folder = render_folder(tmp / "audio", files_per_class=args.files_per_class,
                                   notes_per_file=args.notes_per_file)
            print(f"rendered {args.files_per_class * len(PROGRAMS)} files in {time.perf_counter() - start:.1f} s")
        print(f"{'jobs':>9} {'files':>6} {'notes':>6} {'audio s':>8} {'extract s':>9} {'files/s':>8} {'notes/s':>8} "
              f"{'x real time':>11} {'wall s':>7}")
        runs = [{"jobs": 1, "before": True}] + [{"jobs": jobs} for jobs in args.jobs]
        for run in runs:
            r = measure(folder, out=tmp / f"ds-{len(str(run))}-{run['jobs']}", **run)
            print(f"{r['jobs']:>9} {r['files']:>6} {r['notes']:>6} {r['audio_s']:>8.1f} {r['extract_s']:>9.2f} "
                  f"{r['files'] / r['extract_s']:>8.1f} {r['notes'] / r['extract_s']:>8.1f} "
                  f"{r['audio_s'] / r['extract_s']:>11.1f} {r['wall_s']:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

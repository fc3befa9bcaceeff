"""Corpus scale: files/s and x real time of the local backend and of Ray, for ``predict`` and ``dataset build``.

Renders a corpus of one-note files (General-MIDI SoundFont, 3 classes, 0.6 s notes; cached in
``$INSTRUMENTID_CACHE/benchmarks``) and runs, on the same files:

- ``predict``: the local backend (one process, as ``predict DIR`` runs it) and ``predict_corpus`` on Ray;
- ``dataset build --from-folder``: the local worker pool (``--jobs N``) and ``build_dataset`` on Ray;

Ray runs on a local instance of ``--cpus`` CPUs, started before the clock (its start is printed apart). Ray's
overhead is its cost per file in core-seconds over the local backend's (1.0: none).

    .venv/bin/python benchmarks/corpus_speed.py [--files 2010] [--cpus 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extract_speed import PROGRAMS, render_folder  # noqa: E402

from instrumentid.datasets.folder import build_folder_dataset  # noqa: E402
from instrumentid.distributed import build_dataset, predict_corpus  # noqa: E402
from instrumentid.prediction import find_audio_files, load_model, predict  # noqa: E402
from instrumentid.util import cache_dir  # noqa: E402


def corpus(n_files: int) -> Path:
    """The rendered corpus of ``n_files`` one-note files (rendered once, then reused)."""
    per_class = -(-n_files // len(PROGRAMS))
    root = cache_dir() / "benchmarks" / f"corpus-{per_class * len(PROGRAMS)}"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        start = time.perf_counter()
        render_folder(root, files_per_class=per_class, notes_per_file=1)
        (root / ".complete").write_text("")
        print(f"rendered {per_class * len(PROGRAMS)} files in {time.perf_counter() - start:.0f} s into {root}")
    return root


def audio_seconds(files) -> float:
    import soundfile as sf

    return sum(sf.info(str(f)).duration for f in files)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2010, help="one-note files in the corpus (default 2010)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray and worker processes of the pool")
    args = parser.parse_args(argv)
    import ray

    warnings.simplefilter("ignore")
    folder = corpus(args.files)
    files = find_audio_files([folder])
    audio_s = audio_seconds(files)
    print(f"corpus: {len(files)} files, {audio_s:.0f} s of audio; load average before: {load()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clf = load_model(None)
        start = time.perf_counter()
        for f in files:
            predict(f, model=clf)
        rows.append(("predict", "local, 1 process", 1, time.perf_counter() - start))
        start = time.perf_counter()
        build_folder_dataset(folder, out=tmp / "local", jobs=args.cpus, force=True, progress=False)
        rows.append(("dataset build", f"local pool, {args.cpus} processes", args.cpus, time.perf_counter() - start))

        start = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        print(f"ray.init: {time.perf_counter() - start:.1f} s")
        try:
            start = time.perf_counter()
            predict_corpus([folder], out=tmp / "ray-predict", progress=False)
            rows.append(("predict", f"Ray, {args.cpus} CPUs", args.cpus, time.perf_counter() - start))
            start = time.perf_counter()
            build_dataset(folder, out=tmp / "ray-ds", force=True, progress=False)
            rows.append(("dataset build", f"Ray, {args.cpus} CPUs", args.cpus, time.perf_counter() - start))
        finally:
            ray.shutdown()

    print(f"\n{'command':<14} {'backend':<26} {'wall s':>7} {'files/s':>8} {'x real time':>11} {'core-ms/file':>12} "
          f"{'Ray overhead':>12}")
    local = {}
    for command, backend, cores, wall_s in rows:
        per_file = wall_s * cores / len(files)
        local.setdefault(command, per_file)
        ratio = per_file / local[command]
        print(f"{command:<14} {backend:<26} {wall_s:>7.1f} {len(files) / wall_s:>8.1f} {audio_s / wall_s:>11.1f} "
              f"{per_file * 1000:>12.1f} {'' if backend.startswith('local') else f'{ratio:.2f}x':>12}")
        if not backend.startswith("local"):
            print(f"{'':<14} 1,000,000 files: {per_file * 1e6 / 3600:,.0f} core-hours")
    print(f"\nload average after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

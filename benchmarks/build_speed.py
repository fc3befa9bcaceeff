"""Build time of the default SoundFont data set, and feature-extraction speed (notes/s, x real time).

    .venv/bin/python benchmarks/build_speed.py [--jobs N] [--sample 300]

1. Builds the default data set from scratch (every installed default SoundFont, all cores) into a temporary cache and
   prints the wall time (the target is under 3 minutes on a 2-core machine).
2. Times rendering and :func:`instrumentid.features.note_features` alone on ``--sample`` planned notes in one process:
   notes/s and seconds of audio featurized per second (x real time).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from instrumentid.audio import SR  # noqa: E402
from instrumentid.datasets import soundfont as sfds  # noqa: E402
from instrumentid.features import note_features  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="default data set build time and feature extraction speed")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes for the build (default: all cores)")
    ap.add_argument("--sample", type=int, default=300, help="notes timed one by one for the per-note figures")
    args = ap.parse_args(argv)

    sources = sfds.default_sources()
    print(f"sources: {', '.join(s.name for s in sources)}; cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["INSTRUMENTID_CACHE"] = cache
        t0 = time.perf_counter()
        ds = sfds.build_soundfont_dataset(jobs=args.jobs, progress=False)
        build_s = time.perf_counter() - t0
    n_notes = len(ds.y_train) + len(ds.y_test)
    print(f"default build: {build_s:.1f} s for {n_notes} notes ({n_notes / build_s:.1f} notes/s, "
          f"{ds.info['n_silent_dropped']} silent renders dropped)")

    rows = sfds.plan_notes(sources, sfds.read_programs(sfds.DEFAULT_CLASSES))
    rows = rows[:: max(1, len(rows) // args.sample)][: args.sample]
    for src in sources:  # load every SoundFont before timing
        sfds.render_note(src.path, 0 if src.programs is None else src.programs[0], 60, duration_s=0.1)
    t0 = time.perf_counter()
    notes = [y for y in (sfds.render_varied(r) for r in rows) if y is not None]
    render_s = time.perf_counter() - t0
    note_features(notes[0], sr=SR)
    t0 = time.perf_counter()
    for y in notes:
        note_features(y, sr=SR)
    feat_s = time.perf_counter() - t0
    audio_s = sum(len(y) for y in notes) / SR
    print(f"render + variation, one process: {len(notes) / render_s:.0f} notes/s")
    print(f"note_features, one process: {len(notes) / feat_s:.0f} notes/s, {audio_s / feat_s:.0f}x real time "
          f"(mean note {audio_s / len(notes):.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build time of the default SoundFont data set, and feature-extraction speed (notes/s, x real time).

    .venv/bin/python benchmarks/build_speed.py [--jobs N] [--sample 300]

``time_build`` and ``time_features`` are importable (``benchmarks/run.py`` uses them for the full table).

1. Builds the default data set from scratch (every installed default SoundFont, all cores) into a temporary cache and
   prints the wall time (the target is under 3 minutes on a 2-core machine).
2. Times rendering and the SoundFont builder's featurization (:func:`instrumentid.analysis.clip_features`) alone on
   ``--sample`` planned notes in one process:
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

from instrumentid.analysis import clip_features
from instrumentid.audio import SR
from instrumentid.datasets import render
from instrumentid.datasets import soundfont as sfds
from instrumentid.datasets.programs import DEFAULT_CLASSES, read_programs


def time_build(*, jobs=None) -> dict:
    """Build the default data set from scratch into a temporary cache.

    Returns ``seconds``, ``n_notes`` and ``n_silent_dropped``.
    """
    old = os.environ.get("INSTRUMENTID_CACHE")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["INSTRUMENTID_CACHE"] = cache
        try:
            t0 = time.perf_counter()
            ds = sfds.build_soundfont_dataset(jobs=jobs, progress=False)
            build_s = time.perf_counter() - t0
        finally:
            if old is None:
                os.environ.pop("INSTRUMENTID_CACHE", None)
            else:
                os.environ["INSTRUMENTID_CACHE"] = old
    return {"seconds": build_s, "n_notes": len(ds.y_train) + len(ds.y_test),
            "n_silent_dropped": ds.info["n_silent_dropped"]}


def time_features(*, sample=300) -> dict:
    """Render ``sample`` planned notes and featurize them in one process.

    Returns ``n_notes``, ``render_notes_per_s``, ``notes_per_s`` and ``x_real_time`` (of :func:`clip_features`
    alone) and ``mean_note_s``.
    """
    sources = render.default_sources()
    rows = sfds.plan_notes(sources, read_programs(DEFAULT_CLASSES))
    rows = rows[:: max(1, len(rows) // sample)][:sample]
    for src in sources:  # load every SoundFont before timing
        render.render_note(src.path, 0 if src.programs is None else src.programs[0], 60, duration_s=0.1)
    t0 = time.perf_counter()
    notes = [y for y in (sfds.render_varied(r) for r in rows) if y is not None]
    render_s = time.perf_counter() - t0
    clip_features(notes[:1], sr=SR)
    t0 = time.perf_counter()
    for y in notes:
        clip_features([y], sr=SR)
    feat_s = time.perf_counter() - t0
    audio_s = sum(len(y) for y in notes) / SR
    return {"n_notes": len(notes), "render_notes_per_s": len(notes) / render_s, "notes_per_s": len(notes) / feat_s,
            "x_real_time": audio_s / feat_s, "mean_note_s": audio_s / len(notes)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="default data set build time and feature extraction speed")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes for the build (default: all cores)")
    ap.add_argument("--sample", type=int, default=300, help="notes timed one by one for the per-note figures")
    args = ap.parse_args(argv)

    print(f"sources: {', '.join(s.name for s in render.default_sources())}; cores: {os.cpu_count()}")
    b = time_build(jobs=args.jobs)
    print(f"default build: {b['seconds']:.1f} s for {b['n_notes']} notes ({b['n_notes'] / b['seconds']:.1f} notes/s, "
          f"{b['n_silent_dropped']} silent renders dropped)")
    f = time_features(sample=args.sample)
    print(f"render + variation, one process: {f['render_notes_per_s']:.0f} notes/s")
    print(f"feature extraction (clip_features), one process: {f['notes_per_s']:.0f} notes/s, "
          f"{f['x_real_time']:.0f}x real time (mean note {f['mean_note_s']:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

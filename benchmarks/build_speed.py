"""Build time of the default SoundFont data set, where a build worker's time goes, and feature-extraction speed.

    .venv/bin/python benchmarks/build_speed.py [--jobs N] [--sample 300] [--repeat 3] [--skip-build]

``time_build`` and ``time_features`` are importable (``benchmarks/run.py`` uses them for the full table).

1. Builds the default data set from scratch (every installed default SoundFont, all cores) into a temporary cache and
   prints the wall time and notes/s.
2. Profiles one build worker on ``--sample`` planned notes (spread over every source and class), in one process with
   one BLAS thread as the workers have: CPU milliseconds per note of the dry rendering (per source; TiMidity++'s
   processes included), the recording variation (rooms, EQ, noise) and the features, before and after issue 15:
   before, every freepats note was one TiMidity++ run and every note was featurized alone by the per-note code
   (kept in ``tests/features_reference.py``); now a worker's notes of one source go to one TiMidity++ run and its
   notes are featurized in batches (:func:`instrumentid.analysis.clip_features`). Every stage is timed best of
   ``--repeat`` (on a shared machine one timing of the rendering or the variation varied by 20-30 %); the features
   of both give the same rows (checked here too).
3. Feature extraction alone in one process (default BLAS threads), before and after: notes/s and x real time.
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

from instrumentid.analysis import clip_features  # noqa: E402
from instrumentid.audio import SR  # noqa: E402
from instrumentid.datasets import render  # noqa: E402
from instrumentid.datasets import soundfont as sfds  # noqa: E402
from instrumentid.datasets.programs import DEFAULT_CLASSES, read_programs  # noqa: E402
from instrumentid.datasets.variation import room_bank  # noqa: E402


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


def _cpu_s() -> float:
    """CPU seconds of this process (``time.process_time``: finer than ``os.times``' 10 ms ticks, which a source's
    few notes would feel) and of its finished children (TiMidity++ runs)."""
    t = os.times()
    return time.process_time() + t.children_user + t.children_system


def _best(fn, repeat: int) -> tuple:
    """(best wall s, best CPU s, result) of ``repeat`` calls of ``fn``."""
    wall, cpu, out = np.inf, np.inf, None
    for _ in range(repeat):
        c0, w0 = _cpu_s(), time.perf_counter()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, _cpu_s() - c0)
    return wall, cpu, out


def _sample_rows(sample: int) -> list:
    rows = sfds.plan_notes(render.default_sources(), read_programs(DEFAULT_CLASSES))
    return rows[:: max(1, len(rows) // sample)][:sample]


def _warm_up() -> None:
    """Load every SoundFont, the room bank and the feature code before timing."""
    for src in render.default_sources():
        render.render_note(src.path, 0 if src.programs is None else src.programs[0], 60, duration_s=0.1)
    room_bank()
    y = np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    clip_features([y])
    reference_features(y)


def profile_worker(*, sample: int = 300, repeat: int = 3) -> dict:
    """CPU ms per note of a build worker's stages, before and after (one BLAS thread, as in the workers).

    Returns ``n_notes``, ``sources`` (source -> notes), ``render_ms`` (source -> (before, after) CPU ms per note of
    the dry rendering), ``render_ms_mean`` (before, after), ``vary_ms``, ``features_ms`` (before, after) and
    ``total_ms`` (before, after), all CPU ms per note.
    """
    from threadpoolctl import threadpool_limits

    rows = _sample_rows(sample)
    _warm_up()
    plans = [sfds._dry_note(r, sfds.VARIATION) for r in rows]
    by_source: dict = {}
    for row, (_, note, _) in zip(rows, plans, strict=True):
        by_source.setdefault((row["source"], row["path"]), []).append(note)
    render_ms = {}
    with threadpool_limits(limits=1):
        for (name, path), notes in by_source.items():
            _, before, _ = _best(lambda p=path, n=notes: [render.render_note(p, **x) for x in n], repeat)
            _, after, dry = _best(lambda p=path, n=notes: render.render_notes(p, n), repeat)
            render_ms[name] = (1000 * before / len(notes), 1000 * after / len(notes))
        _, vary_s, varied = _best(lambda: sfds.render_varied_many(rows), repeat)
        clips = [y for y in varied if y is not None]
        _, before_s, X_before = _best(lambda: np.stack([reference_features(y) for y in clips]), repeat)
        _, after_s, X_after = _best(lambda: clip_features(clips), repeat)
    if not np.allclose(X_after, X_before, rtol=1e-5, atol=1e-5):
        raise RuntimeError("the batched features differ from the per-note ones")
    n = len(rows)
    counts = {name: len(notes) for (name, _), notes in by_source.items()}
    render_mean = tuple(sum(render_ms[k][i] * counts[k] for k in counts) / n for i in (0, 1))
    vary_ms = 1000 * vary_s / n - render_mean[1]  # render_varied_many = dry rendering (after) + variation
    features_ms = (1000 * before_s / len(clips), 1000 * after_s / len(clips))
    total = tuple(render_mean[i] + vary_ms + features_ms[i] * len(clips) / n for i in (0, 1))
    return {"n_notes": n, "sources": counts, "render_ms": render_ms, "render_ms_mean": render_mean,
            "vary_ms": vary_ms, "features_ms": features_ms, "total_ms": total,
            "identical": bool(np.array_equal(X_after, X_before))}


def time_features(*, sample: int = 300, repeat: int = 3) -> dict:
    """Render ``sample`` planned notes and featurize them in one process (default BLAS threads), before and after.

    Returns ``n_notes``, ``render_notes_per_s`` (rendering and variation), ``mean_note_s`` and, for the batched
    :func:`clip_features` (now) and the per-note code of before issue 15 (``before_`` prefix): ``notes_per_s``,
    ``x_real_time`` and ``cpu_ms_per_note`` (best of ``repeat``).
    """
    rows = _sample_rows(sample)
    _warm_up()
    t0 = time.perf_counter()
    notes = [y for y in sfds.render_varied_many(rows) if y is not None]
    render_s = time.perf_counter() - t0
    audio_s = sum(len(y) for y in notes) / SR
    wall, cpu, _ = _best(lambda: clip_features(notes, sr=SR), repeat)
    b_wall, b_cpu, _ = _best(lambda: [reference_features(y) for y in notes], repeat)
    n = len(notes)
    return {"n_notes": n, "render_notes_per_s": len(rows) / render_s, "mean_note_s": audio_s / n,
            "notes_per_s": n / wall, "x_real_time": audio_s / wall, "cpu_ms_per_note": 1000 * cpu / n,
            "before_notes_per_s": n / b_wall, "before_x_real_time": audio_s / b_wall,
            "before_cpu_ms_per_note": 1000 * b_cpu / n}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="default data set build time, a worker's profile, feature speed")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes for the build (default: all cores)")
    ap.add_argument("--sample", type=int, default=300, help="planned notes profiled and featurized")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many timings of each stage")
    ap.add_argument("--skip-build", action="store_true", help="skip the build from scratch (minutes)")
    args = ap.parse_args(argv)

    print(f"sources: {', '.join(s.name for s in render.default_sources())}; cores: {os.cpu_count()}; "
          f"load average at start: {os.getloadavg()[0]:.1f}")
    if not args.skip_build:
        b = time_build(jobs=args.jobs)
        print(f"default build: {b['seconds']:.1f} s for {b['n_notes']} notes ({b['n_notes'] / b['seconds']:.1f} "
              f"notes/s, {b['n_silent_dropped']} silent renders dropped)")
    p = profile_worker(sample=args.sample, repeat=args.repeat)
    print(f"\none build worker, {p['n_notes']} planned notes, CPU ms per note (one BLAS thread):")
    print(f"  {'stage':<34} {'before':>8} {'now':>8}")
    for name, (before, after) in p["render_ms"].items():
        stage = f"render dry: {name} ({p['sources'][name]} notes)"
        print(f"  {stage:<34} {before:>8.2f} {after:>8.2f}")
    print(f"  {'render dry, mean':<34} {p['render_ms_mean'][0]:>8.2f} {p['render_ms_mean'][1]:>8.2f}")
    print(f"  {'variation (rooms, EQ, noise)':<34} {p['vary_ms']:>8.2f} {p['vary_ms']:>8.2f}")
    print(f"  {'features':<34} {p['features_ms'][0]:>8.2f} {p['features_ms'][1]:>8.2f}")
    print(f"  {'total':<34} {p['total_ms'][0]:>8.2f} {p['total_ms'][1]:>8.2f}   "
          f"(x{p['total_ms'][0] / p['total_ms'][1]:.2f}; features {'identical' if p['identical'] else 'within 1e-5'})")
    f = time_features(sample=args.sample, repeat=args.repeat)
    print(f"\nfeature extraction, one process ({f['n_notes']} notes, mean {f['mean_note_s']:.2f} s, best of "
          f"{args.repeat}):")
    print(f"  before (per note):  {f['before_notes_per_s']:6.0f} notes/s  {f['before_x_real_time']:5.0f}x real time  "
          f"{f['before_cpu_ms_per_note']:.2f} CPU ms/note")
    print(f"  now (batched):      {f['notes_per_s']:6.0f} notes/s  {f['x_real_time']:5.0f}x real time  "
          f"{f['cpu_ms_per_note']:.2f} CPU ms/note")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Feature extraction with each set of the analysis's chunk sizes, alternated call by call in one process.

    python benchmarks/chunk_sizes.py [--rounds 8] [--notes 300] [--sizes 32,256,256 128,256,256 ...]

A size set is ``STFT,YIN,SHAPE``: how many frames :func:`instrumentid.dsp.frame_magnitudes`
(``dsp.STFT_FRAMES``), :func:`instrumentid.dsp.yin` (``dsp.YIN_FRAMES``) and the spectral shape
(``features.SHAPE_FRAMES``) take at a time. Any sizes give the same bits (checked on every call); which is fastest
has depended on the machine's load (smaller chunks measured faster on a busy machine, larger on a quiet one), so
the sets run one after the other, in alternating order, on the same notes (those of ``compare_analysis.py``), and
each set's best and median wall and CPU seconds are printed with the median of its wall time over the first set's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_SIZES = ("32,256,256", "128,256,256", "256,256,256", "32,64,32")


def _sizes(text: str) -> tuple:
    try:
        sizes = tuple(int(v) for v in text.split(","))
    except ValueError:
        sizes = ()
    if len(sizes) != 3 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected three positive frame counts STFT,YIN,SHAPE, got {text!r}")
    return sizes


def time_sizes(clips: list, size_sets: list, rounds: int) -> dict:
    """Wall and CPU seconds of ``clip_features(clips)`` per size set: ``{sizes: (walls, cpus)}``, ``rounds`` each."""
    from instrumentid import dsp, features
    from instrumentid.analysis import clip_features

    saved = dsp.STFT_FRAMES, dsp.YIN_FRAMES, features.SHAPE_FRAMES
    rows = clip_features(clips)
    times: dict = {sizes: ([], []) for sizes in size_sets}
    try:
        for i in range(rounds):
            for sizes in size_sets if i % 2 == 0 else size_sets[::-1]:
                dsp.STFT_FRAMES, dsp.YIN_FRAMES, features.SHAPE_FRAMES = sizes
                wall, cpu = time.perf_counter(), time.process_time()
                again = clip_features(clips)
                times[sizes][0].append(time.perf_counter() - wall)
                times[sizes][1].append(time.process_time() - cpu)
                if again.tobytes() != rows.tobytes():
                    raise AssertionError(f"chunk sizes {sizes} changed the feature rows")
    finally:
        dsp.STFT_FRAMES, dsp.YIN_FRAMES, features.SHAPE_FRAMES = saved
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="calls timed per size set")
    parser.add_argument("--notes", type=int, default=300, help="planned notes rendered (compare_analysis.py's)")
    parser.add_argument("--sizes", type=_sizes, nargs="+", default=[_sizes(s) for s in DEFAULT_SIZES],
                        help="size sets STFT,YIN,SHAPE (the first is the reference of the ratios)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from compare_analysis import make_inputs

    with tempfile.TemporaryDirectory(prefix="instrumentid-chunks-") as tmp:
        _, clips_file, n_notes, audio_s = make_inputs(Path(tmp), n_notes=args.notes)
        with np.load(clips_file) as z:
            clips = [z[k] for k in z.files]
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    times = time_sizes(clips, args.sizes, args.rounds)
    reference = np.array(times[args.sizes[0]][0])
    print(f"{'STFT,YIN,SHAPE':<16}{'best wall':>11}{'x real time':>13}{'median wall':>13}{'/ first':>9}"
          f"{'best CPU':>10}{'median CPU':>12}")
    for sizes, (walls, cpus) in times.items():
        print(f"{','.join(map(str, sizes)):<16}{min(walls):>9.3f} s{audio_s / min(walls):>12.0f}x"
              f"{np.median(walls):>11.3f} s{np.median(np.array(walls) / reference):>9.3f}{min(cpus):>8.3f} s"
              f"{np.median(cpus):>10.3f} s")
    print(f"{n_notes} notes, {audio_s:.1f} s of audio; the same rows for every size set; load average at end: "
          f"{os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a cold ``instrumentid predict`` spends before it reads a sample: each import's time and memory.

    .venv/bin/python benchmarks/import_cost.py [--repeat 3]

Every run is a fresh Python process that imports the modules of :data:`CHAIN` one after the other and records, after
each, the wall time since start and the peak resident memory (``ru_maxrss``); the figure of a step is what it adds to
the steps before it (its own imports, less what earlier steps already loaded). Best of ``--repeat`` processes (the
lowest time and memory of each step). The first group is what predict needs besides librosa (decoding, resampling,
``scipy.fft`` and ``scipy.ndimage`` of the features and the note detector, instrumentid itself, the numpy model); the
second is what librosa's calls in note detection and the features imported before ``instrumentid/dsp.py`` took
their place: ``scipy.signal``, numba and the machine code of librosa's numba functions loaded from their cache
(predict no longer imports them; the cold ``predict`` itself, measured last, shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

#: (module, which group) in import order.
CHAIN = (
    ("numpy", "predict without librosa"),
    ("scipy.fft", "predict without librosa"),
    ("scipy.ndimage", "predict without librosa"),
    ("soundfile", "predict without librosa"),
    ("soxr", "predict without librosa"),
    ("instrumentid.prediction", "predict without librosa"),
    ("instrumentid.inference", "predict without librosa"),
    ("scipy.signal", "librosa's imports"),
    ("numba", "librosa's imports"),
    ("librosa.filters", "librosa's imports"),
    ("librosa.core.spectrum", "librosa's imports"),
    ("librosa.core.pitch", "librosa's imports"),
    ("librosa.feature", "librosa's imports"),
    ("librosa.onset", "librosa's imports"),
)

#: Run in a fresh process: import each module, print [(seconds since start, peak MB)] after each as JSON.
_PROBE = """import importlib, json, resource, sys, time
start = time.perf_counter()
marks = [(0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)]
for name in sys.argv[1:]:
    importlib.import_module(name)
    marks.append((time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
print(json.dumps(marks))
"""


def import_costs(*, repeat: int = 3) -> list:
    """Per step of :data:`CHAIN`: ``module``, ``group``, ``seconds`` and ``mb`` it adds (best of ``repeat``).

    The first row is the bare interpreter (``module`` ``"python"``: its start-up memory, time 0).
    """
    from long_memory import run_measured

    runs = []
    for _ in range(repeat):
        # through long_memory's small launcher: a child of this process would start from its peak memory
        with tempfile.TemporaryFile("w+") as out:
            run_measured([sys.executable, "-c", _PROBE, *(m for m, _ in CHAIN)], stdout=out, stderr=subprocess.DEVNULL)
            out.seek(0)
            runs.append(json.loads(out.read()))
    rows = [{"module": "python", "group": "", "seconds": 0.0, "mb": min(r[0][1] for r in runs)}]
    for i, (module, group) in enumerate(CHAIN, start=1):
        rows.append({"module": module, "group": group, "seconds": min(r[i][0] - r[i - 1][0] for r in runs),
                     "mb": min(r[i][1] - r[i - 1][1] for r in runs)})
    return rows


def main(argv=None) -> int:
    import run

    ap = argparse.ArgumentParser(description="each import's cost in a cold predict")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many processes")
    args = ap.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    rows = import_costs(repeat=args.repeat)
    print(f"\n  {'import (in this order)':<28} {'seconds':>8} {'+MB':>6}")
    for row in rows:
        print(f"  {row['module']:<28} {row['seconds']:>8.3f} {row['mb']:>6.0f}   {row['group']}")
    for group in dict.fromkeys(r["group"] for r in rows[1:]):
        part = [r for r in rows if r["group"] == group]
        print(f"  {group}: {sum(r['seconds'] for r in part):.2f} s, {sum(r['mb'] for r in part):.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        recording = run.write_recording(Path(tmp) / "recording.wav")
        seconds, mb = run.best_command(run.cli_command() + ["predict", str(recording)], repeat=args.repeat)
    load = os.getloadavg()[0]
    print(f"\ncold `instrumentid predict` of a 16 s recording: {seconds:.2f} s, peak {mb:.0f} MB (best of "
          f"{args.repeat})\nload average at end: {load:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

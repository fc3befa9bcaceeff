"""Time the analysis of two versions of instrumentid in one run, interleaved: warm predict and feature extraction.

    git worktree add /tmp/before <commit>
    python benchmarks/compare_analysis.py /tmp/before [--rounds 5]

The inputs are made once, with this version: the 16 s recording of ``benchmarks/run.py`` (violin notes from the first
default SoundFont, 44.1 kHz WAV) and 300 rendered notes of the default data set's plan (``build_speed``). Each round
times both versions, one after the other, each in a fresh process importing its own tree (``PYTHONPATH``), so a busy
machine slows both alike: the best of ``--repeat`` warm ``predict`` calls of the recording (model loaded, one call
done first), and the best of ``--repeat`` calls of ``clip_features`` on the notes (wall and CPU time, the machine's
threads). The best of the rounds is printed per version, and whether both versions found the same notes (every field)
and the same feature rows (every byte).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

_CHILD = """
import hashlib, json, sys, time
import numpy as np
import instrumentid
from instrumentid.analysis import clip_features
from instrumentid.prediction import load_model, predict

recording, clips_file, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
z = np.load(clips_file)
clips = [z[k] for k in z.files]
clf = load_model(None)
result = predict(recording, model=clf)
warm = min(_time(lambda: predict(recording, model=clf))[0] for _ in range(repeat))
X = clip_features(clips)
feats = [_time(lambda: clip_features(clips)) for _ in range(repeat)]
notes = json.dumps([n.to_dict() for n in result.analysis.notes])
print(json.dumps({"tree": instrumentid.__file__, "warm_s": warm, "features_s": min(f[0] for f in feats),
                  "features_cpu_s": min(f[1] for f in feats), "notes": hashlib.sha256(notes.encode()).hexdigest(),
                  "rows": hashlib.sha256(result.analysis.X.tobytes() + X.tobytes()).hexdigest()}))
"""

_TIMER = """
def _time(fn):
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c
"""


def make_inputs(folder: Path, *, n_notes: int = 300) -> tuple[Path, Path, int, float]:
    """The 16 s recording and ``n_notes`` planned notes rendered (an .npz, silent renders left out).

    Returns the two paths, the number of notes and their seconds of audio.
    """
    sys.path.insert(0, str(HERE))
    import build_speed
    import run

    from instrumentid.datasets import soundfont as sfds
    from instrumentid.settings import SR

    recording = run.write_recording(folder / "recording.wav")
    notes = [y for y in sfds.render_varied_many(build_speed._sample_rows(n_notes)) if y is not None]
    clips = folder / "notes.npz"
    np.savez(clips, *notes)
    return recording, clips, len(notes), sum(len(y) for y in notes) / SR


def _run(tree: Path, recording: Path, clips: Path, repeat: int) -> dict:
    from compare_versions import run_in_tree

    return run_in_tree(tree, "import time\n" + _TIMER + _CHILD, recording, clips, repeat)


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE))
    from compare_versions import tree_parser

    parser = tree_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="calls timed per process (best kept)")
    parser.add_argument("--notes", type=int, default=300, help="planned notes rendered for the feature extraction")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="instrumentid-compare-") as tmp:
        recording, clips, n_notes, audio_s = make_inputs(Path(tmp), n_notes=args.notes)
        print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
        results: dict = {"before": [], "after": []}
        for i in range(args.rounds):
            for label, tree in (("before", args.before), ("after", args.after)):
                r = _run(tree.resolve(), recording, clips, args.repeat)
                results[label].append(r)
                print(f"round {i + 1} {label:<6} warm predict {r['warm_s']:.3f} s  features {r['features_s']:.3f} s "
                      f"({r['features_cpu_s']:.3f} s CPU)  ({r['tree']})", flush=True)
    print(f"\n{'version':<8}{'warm predict':>14}{'features':>12}{'x real time':>13}{'CPU ms a note':>15}")
    best = {}
    for label, runs in results.items():
        best[label] = (min(r["warm_s"] for r in runs), min(r["features_s"] for r in runs),
                       min(r["features_cpu_s"] for r in runs))
        warm, feats, cpu = best[label]
        print(f"{label:<8}{warm:>12.3f} s{feats:>10.3f} s{audio_s / feats:>12.0f}x{1000 * cpu / n_notes:>15.2f}")
    same = {key: len({r[key] for runs in results.values() for r in runs}) == 1 for key in ("notes", "rows")}
    print(f"after / before: warm predict {best['after'][0] / best['before'][0]:.2f}, features "
          f"{best['after'][1] / best['before'][1]:.2f}; the same notes: {'yes' if same['notes'] else 'NO'}, the "
          f"same feature rows: {'yes' if same['rows'] else 'NO'}; load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

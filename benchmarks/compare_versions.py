"""Time the fit and the sweep of two versions of instrumentid in one run, interleaved, on the same data.

    git worktree add /tmp/before <commit>
    python benchmarks/compare_versions.py /tmp/before [--rounds 3]

Each round times both versions, one after the other, each in a fresh process importing its own tree (``PYTHONPATH``),
so a busy machine slows both alike; the best of the rounds is printed per version. Data: random, of the UIowa shape
(``fit_speed.lab_shaped_data``). The figures printed are wall times in seconds and the final test accuracies, which
must be equal when a change is not meant to change what is computed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

_CHILD = """
import json, sys
sys.path.insert(0, {bench!r})
from fit_speed import lab_shaped_data, time_fit, time_sweep
import instrumentid
data = lab_shaped_data()
fit_s, fit_acc = time_fit(data, repeat=1)
sweep_s, sweep_acc = time_sweep(data, repeat=1)
print(json.dumps({{"tree": instrumentid.__file__, "fit_s": fit_s, "fit_acc": fit_acc, "sweep_s": sweep_s,
                  "sweep_acc": {{repr(k): v for k, v in sweep_acc.items()}}}}))
"""


def run_in_tree(tree: Path, code: str, *args) -> dict:
    """Run ``python -c code *args`` in a fresh process importing ``tree``; the JSON of its last output line."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # run in the tree: ``python -c`` puts the working folder first on the path, before PYTHONPATH (run from this
    # repository, every round imported this version)
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, cwd=tree, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def tree_parser(description: str) -> argparse.ArgumentParser:
    """The options of a comparison of two trees: ``before``, ``--after`` (default this repository), ``--rounds``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("before", type=Path, help="source tree of the other version (a git worktree)")
    parser.add_argument("--after", type=Path, default=HERE.parent, help="this version's tree (default: this repo)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best time of each version is kept")
    return parser


def main(argv=None) -> int:
    args = tree_parser(__doc__.split("\n\n")[0]).parse_args(argv)
    results: dict = {"before": [], "after": []}
    for i in range(args.rounds):
        for label, tree in (("before", args.before), ("after", args.after)):
            results[label].append(run_in_tree(tree.resolve(), _CHILD.format(bench=str(HERE))))
            r = results[label][-1]
            print(f"round {i + 1} {label:<6} fit {r['fit_s']:6.3f} s  sweep {r['sweep_s']:6.3f} s  ({r['tree']})",
                  flush=True)
    print(f"\n{'version':<8}{'fit (best)':>12}{'sweep (best)':>14}  fit accuracy  sweep accuracies")
    for label, runs in results.items():
        best_fit, best_sweep = min(r["fit_s"] for r in runs), min(r["sweep_s"] for r in runs)
        accs = ", ".join(f"{k}: {v:.4f}" for k, v in runs[0]["sweep_acc"].items())
        print(f"{label:<8}{best_fit:>10.3f} s{best_sweep:>12.3f} s  {runs[0]['fit_acc']:.4f}        {accs}")
    before = min(r["fit_s"] for r in results["before"]), min(r["sweep_s"] for r in results["before"])
    after = min(r["fit_s"] for r in results["after"]), min(r["sweep_s"] for r in results["after"])
    print(f"after / before: fit {after[0] / before[0]:.2f}, sweep {after[1] / before[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Note detection measured on labelled phrases (issue 12): onset and onset+offset F-measure per case.

Renders the phrases of instrumentid.datasets.phrases (every case, all ten classes, from the installed SoundFonts),
runs the detector on each through ``instrumentid.analysis.find_notes`` and scores the notes with mir_eval
(``instrumentid.datasets.phrases.score``: onsets within 50 ms, pitch within 50 cents, offsets within 20 % or 50 ms;
matches summed over the phrases of a case).

    .venv/bin/python benchmarks/note_detection.py [--per-case 8] [--seed 0] [--cases single gaps ...] [--singles 100]
        [--json OUT]

``--singles N`` also renders N single-note files (the single case's first N phrases: all ten classes, 0.1-25 s,
from sample 0, after silence, filling the file, long, decaying pianos; -40 to 0 dBFS) and counts how many come back
as exactly one note, per variant and per class.

mir_eval comes with the ``test`` and ``bench`` extras.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from instrumentid.analysis import find_notes
from instrumentid.cli import positive_int
from instrumentid.datasets.phrases import CASES, make_phrases, score
from instrumentid.errors import InstrumentIdError


def phrase_parser(description: str, add_options: Callable[[argparse.ArgumentParser], None] | None = None
                  ) -> argparse.ArgumentParser:
    """The options of a benchmark on the phrases: ``--per-case``, ``--seed``, ``--cases``, then ``add_options``'s, then
    ``--json``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--per-case", type=positive_int, default=8, help="phrases per case (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the phrases (default 0)")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=None, help="cases (default: all)")
    if add_options is not None:
        add_options(parser)
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the figures and notes here")
    return parser


def parse_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """``parser``'s arguments, with ``--json``'s folder checked before any work."""
    args = parser.parse_args(argv)
    if args.json is not None and not args.json.resolve().parent.is_dir():
        parser.error(f"--json: no folder {str(args.json.resolve().parent)!r}")
    return args


def show(results: dict, table: str, json_path: Path | None) -> None:
    """Print ``table`` and write ``results`` to ``json_path`` (if given)."""
    print(table)
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=1))
        print(f"figures written to {json_path}")


def build_parser() -> argparse.ArgumentParser:
    def singles_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--singles", type=int, default=100, metavar="N",
                            help="single-note files counted as exactly one note (default 100; 0: none)")

    return phrase_parser(__doc__.split("\n\n")[0], singles_option)


def detect(phrases, *, log=print) -> tuple:
    """Notes of each phrase through ``find_notes``, and the seconds spent in it."""
    found, detect_s = [], 0.0
    for phrase in phrases:
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "no notes found" is counted, not printed
                notes = list(find_notes(phrase.y, sr=phrase.sr, name=phrase.name).notes)
        except InstrumentIdError as err:
            log(f"{phrase.name}: {err}")
            notes = []
        detect_s += time.perf_counter() - start
        found.append(notes)
    return found, detect_s


def single_notes(n: int, *, seed: int = 0, log=print) -> dict:
    """``n`` single-note files (the single case's first ``n`` phrases): how many come back as exactly one note.

    Returns
    -------
    dict
        ``files``, ``exactly_one``; ``by_kind`` and ``by_class``: name -> [exactly one, files]; ``misses``: name ->
        notes found, of each file not given exactly one note.
    """
    phrases = make_phrases(["single"], n_per_case=n, seed=seed)
    found, _ = detect(phrases, log=log)
    out: dict = {"files": len(phrases), "exactly_one": 0, "by_kind": {}, "by_class": {}, "misses": {}}
    for phrase, notes in zip(phrases, found, strict=True):
        one = len(notes) == 1
        out["exactly_one"] += one
        for key, value in (("by_kind", phrase.kind), ("by_class", phrase.instrument)):
            counts = out[key].setdefault(value, [0, 0])
            counts[0] += one
            counts[1] += 1
        if not one:
            out["misses"][phrase.name] = len(notes)
    return out


def format_singles(singles: dict) -> str:
    """The single-note count, overall, per variant and per class, and the files missed."""
    def counts(table: dict) -> str:
        return ", ".join(f"{name} {one}/{n}" for name, (one, n) in table.items())

    n, one = singles["files"], singles["exactly_one"]
    lines = [f"single-note files as exactly one note: {one}/{n} ({100 * one / n:.1f} %)",
             f"  by variant: {counts(singles['by_kind'])}", f"  by class: {counts(singles['by_class'])}"]
    if singles["misses"]:
        lines.append("  not one note: " + ", ".join(f"{name} ({k} notes)" for name, k in singles["misses"].items()))
    return "\n".join(lines)


def run(*, per_case: int = 8, seed: int = 0, cases=None, singles: int = 0, log=print) -> dict:
    start = time.perf_counter()
    phrases = make_phrases(cases, n_per_case=per_case, seed=seed)
    render_s = time.perf_counter() - start
    found, detect_s = detect(phrases, log=log)
    per_phrase = []
    for phrase, notes in zip(phrases, found, strict=True):
        figures = score([phrase], [notes])["overall"]
        per_phrase.append({
            "name": phrase.name, "case": phrase.case, "kind": phrase.kind, "instrument": phrase.instrument,
            "program": phrase.program, "soundfont": phrase.soundfont, "duration_s": phrase.y.size / phrase.sr,
            "onset_f": figures["onset_f"], "onset_offset_f": figures["onset_offset_f"],
            "truth": [list(n) for n in phrase.notes],
            "found": [[n.start_s, n.end_s, n.f0_hz] for n in notes],
        })
    return {
        "per_case": per_case, "seed": seed, "cases": list(cases or CASES),
        "audio_s": sum(p["duration_s"] for p in per_phrase), "render_s": render_s, "detect_s": detect_s,
        "scores": score(phrases, found), "phrases": per_phrase,
        "singles": single_notes(singles, seed=seed, log=log) if singles > 0 else None,
    }


def format_table(results: dict) -> str:
    head = (f"{'case':<9} {'phrases':>7} {'notes':>6} {'found':>6} {'onset P':>8} {'onset R':>8} {'onset F':>8} "
            f"{'on+off F':>9} {'pitch ok':>9} {'one note':>12} {'no notes':>9}")
    lines = [head, "-" * len(head)]
    for case, s in results["scores"].items():
        if case == "overall":
            lines.append("-" * len(head))
        pitch = "-" if s["pitch_share"] is None else f"{100 * s['pitch_share']:.0f} %"
        one = "-" if s["exactly_one"] is None else (
            f"{round(s['exactly_one'] * s['single_files'])}/{s['single_files']} {100 * s['exactly_one']:.0f}%")
        lines.append(
            f"{case:<9} {s['phrases']:>7} {s['true_notes']:>6} {s['found_notes']:>6} {s['onset_precision']:>8.3f} "
            f"{s['onset_recall']:>8.3f} {s['onset_f']:>8.3f} {s['onset_offset_f']:>9.3f} {pitch:>9} {one:>12} "
            f"{s['no_notes']:>9}"
        )
    audio_s, detect_s = results["audio_s"], results["detect_s"]
    lines.append(f"{results['per_case']} phrases per case, seed {results['seed']}: {audio_s:.0f} s of audio rendered "
                 f"in {results['render_s']:.1f} s; find_notes took {detect_s:.1f} s ({audio_s / detect_s:.0f}x real "
                 f"time)")
    if results.get("singles"):
        lines.append(format_singles(results["singles"]))
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(build_parser(), argv)
    if args.singles < 0:
        build_parser().error(f"--singles must be >= 0, got {args.singles}")
    results = run(per_case=args.per_case, seed=args.seed, cases=args.cases, singles=args.singles)
    show(results, format_table(results), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A peer on the note-detection benchmark: basic-pitch's note tracker (Spotify, Apache-2.0), next to ours.

Renders the labelled phrases of ``benchmarks/note_detection.py`` once, finds their notes with instrumentid
(``find_notes``) and with basic-pitch, and scores both with the same ``instrumentid.datasets.phrases.score``.

basic-pitch is run offline from its wheel, without TensorFlow: the ONNX model it ships (``saved_models/icassp_2022/
nmp.onnx``) runs in onnxruntime on the audio resampled to 22050 Hz and cut into basic-pitch's own 2 s windows
(``basic_pitch.inference.window_audio_file`` / ``unwrap_output``, 30 frames of overlap), and its own decoder
``basic_pitch.note_creation.model_output_to_notes`` turns the model's output into note events with the defaults of
``basic_pitch.inference.predict`` (onset threshold 0.5, frame threshold 0.3, notes of at least 127.7 ms, the melodia
trick). The decoder's module imports ``resampy`` for its sonification helper only; a placeholder module stands in
for it when resampy is not installed.

basic-pitch is polyphonic: on one instrument it also reports partials and ghost notes that overlap the played note.
``--mono`` chooses how its events become one line of notes (the benchmark's truth is monophonic):

- ``truncate`` (default): events in start order, each one cut at the next event's start; an event starting inside a
  longer, louder one that outlasts it is dropped (the better of the two for basic-pitch: onset F 0.70 and 0.68 on
  seeds 0 and 1, against 0.64 and 0.64).
- ``loudest``: at every 5 ms step the sounding event with the highest amplitude (basic-pitch's mean frame
  activation of the event) is the note; runs of one event make a note, runs under 50 ms are dropped.
- ``none``: the events as they are.

Install the peer with ``pip install --no-deps basic-pitch`` (its metadata pulls TensorFlow, which is not needed here);
``onnxruntime`` and ``mir_eval`` come with the ``test`` extra.

    .venv/bin/python benchmarks/note_peer.py [--per-case 20] [--seed 0] [--cases ...] [--mono loudest] [--json OUT]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from note_detection import detect, parse_args, phrase_parser, show

from instrumentid.datasets.phrases import CASES, make_phrases, score

MONO = ("truncate", "loudest", "none")


def build_parser() -> argparse.ArgumentParser:
    def peer_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--mono", choices=MONO, default="truncate", help="basic-pitch events -> one line of notes")
        parser.add_argument("--peer-only", action="store_true", help="do not run instrumentid's detector")

    return phrase_parser(__doc__.split("\n\n")[0], peer_options)


class BasicPitch:
    """basic-pitch's ONNX model and note decoder, loaded from the installed wheel (no network, no TensorFlow)."""

    def __init__(self):
        if importlib.util.find_spec("basic_pitch") is None:
            raise SystemExit("basic-pitch is not installed: pip install --no-deps basic-pitch")
        if importlib.util.find_spec("resampy") is None:  # imported by note_creation for sonify_salience only
            sys.modules["resampy"] = types.ModuleType("resampy")
        logging.getLogger().setLevel(logging.ERROR)  # basic_pitch warns about every backend it does not find
        import basic_pitch
        import onnxruntime as ort
        from basic_pitch import constants, inference, note_creation

        self.c, self.inference, self.note_creation = constants, inference, note_creation
        path = Path(basic_pitch.__file__).parent / "saved_models" / "icassp_2022" / "nmp.onnx"
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def output(self, y: np.ndarray, sr: int) -> dict:
        """The model's ``note``, ``onset`` and ``contour`` matrices, as ``basic_pitch.inference.run_inference``."""
        import librosa

        c = self.c
        y = librosa.resample(np.asarray(y, dtype=np.float32), orig_sr=sr, target_sr=c.AUDIO_SAMPLE_RATE)
        n_overlap = 30
        overlap_len = n_overlap * c.FFT_HOP
        hop = c.AUDIO_N_SAMPLES - overlap_len
        padded = np.concatenate([np.zeros(overlap_len // 2, dtype=np.float32), y])
        out: dict = {"note": [], "onset": [], "contour": []}
        for window, _ in self.inference.window_audio_file(padded, hop):
            note, onset, contour = self.session.run(
                ["StatefulPartitionedCall:1", "StatefulPartitionedCall:2", "StatefulPartitionedCall:0"],
                {"serving_default_input_2:0": window[None].astype(np.float32)},
            )
            out["note"].append(note)
            out["onset"].append(onset)
            out["contour"].append(contour)
        return {k: self.inference.unwrap_output(np.concatenate(v), y.size, n_overlap) for k, v in out.items()}

    def events(self, y: np.ndarray, sr: int) -> list:
        """``(start_s, end_s, midi, amplitude)`` events, with ``basic_pitch.inference.predict``'s defaults."""
        output = self.output(y, sr)
        min_note_len = int(np.round(127.70 / 1000 * (self.c.AUDIO_SAMPLE_RATE / self.c.FFT_HOP)))
        _, events = self.note_creation.model_output_to_notes(
            output, onset_thresh=0.5, frame_thresh=0.3, min_note_len=min_note_len, melodia_trick=True,
            include_pitch_bends=False,
        )
        return [(float(s), float(e), int(p), float(a)) for s, e, p, a, _ in events if e > s]


def to_mono(events: list, *, how: str = "truncate", step_s: float = 0.005, min_s: float = 0.05) -> list:
    """One line of ``(start_s, end_s, f0_hz)`` notes from overlapping ``(start_s, end_s, midi, amplitude)`` events."""
    import librosa

    events = sorted(events)
    if how == "none" or not events:
        notes = [(s, e, p) for s, e, p, _ in events]
    elif how == "truncate":
        kept: list = []
        for s, e, p, a in events:
            if kept and s < kept[-1][1] and e <= kept[-1][1] and a < kept[-1][3]:
                continue  # inside a longer, louder event
            if kept and s < kept[-1][1]:
                kept[-1] = (kept[-1][0], s, *kept[-1][2:])
            kept.append((s, e, p, a))
        notes = [(s, e, p) for s, e, p, _ in kept if e - s >= min_s]
    else:
        end = max(e for _, e, _, _ in events)
        t = np.arange(0.0, end + step_s, step_s)
        best = np.full(t.size, -1)
        level = np.full(t.size, -np.inf)
        for i, (s, e, _, a) in enumerate(events):
            on = (t >= s) & (t < e) & (a > level)
            best[on], level[on] = i, a
        notes = []
        change = np.flatnonzero(np.diff(np.r_[-2, best, -2]))
        for lo, hi in zip(change[:-1], change[1:], strict=True):
            if best[lo] >= 0 and (hi - lo) * step_s >= min_s:
                notes.append((t[lo], t[lo] + (hi - lo) * step_s, events[best[lo]][2]))
    return [(float(s), float(e), float(librosa.midi_to_hz(p))) for s, e, p in notes if e > s]


def run(*, per_case: int = 8, seed: int = 0, cases=None, mono: str = "truncate", ours: bool = True, log=print):
    """Figures of basic-pitch (and of instrumentid, unless ``ours`` is False) on the same phrases."""
    start = time.perf_counter()
    phrases = make_phrases(cases, n_per_case=per_case, seed=seed)
    render_s = time.perf_counter() - start
    audio_s = sum(p.y.size / p.sr for p in phrases)
    peer = BasicPitch()
    warm_up = np.random.default_rng(0).normal(0.0, 0.1, 22050).astype(np.float32)
    peer.events(warm_up, 22050)  # the session's first run is slow: keep it out of the timing
    found, start = [], time.perf_counter()
    for phrase in phrases:
        found.append(to_mono(peer.events(phrase.y, phrase.sr), how=mono))
    results = {"per_case": per_case, "seed": seed, "cases": list(cases or CASES), "mono": mono, "audio_s": audio_s,
               "render_s": render_s}
    results["basic-pitch"] = {"detect_s": time.perf_counter() - start, "scores": score(phrases, found),
                              "found": {p.name: n for p, n in zip(phrases, found, strict=True)}}
    if ours:
        notes, detect_s = detect(phrases, log=log)
        results["instrumentid"] = {"detect_s": detect_s, "scores": score(phrases, notes),
                                   "found": {p.name: [[n.start_s, n.end_s, n.f0_hz] for n in ns]
                                             for p, ns in zip(phrases, notes, strict=True)}}
    return results


def format_table(results: dict) -> str:
    """Per case: onset F, onset+offset F and exactly-one share of each detector, side by side."""
    names = [n for n in ("instrumentid", "basic-pitch") if n in results]
    head = f"{'case':<9}" + "".join(f" | {n[:12]:>12} on F  on+off  one" for n in names)
    lines = [head, "-" * len(head)]
    for case in results[names[0]]["scores"]:
        if case == "overall":
            lines.append("-" * len(head))
        row = f"{case:<9}"
        for n in names:
            s = results[n]["scores"][case]
            one = "   -" if s["exactly_one"] is None else f"{100 * s['exactly_one']:3.0f}%"
            row += f" | {'':>12} {s['onset_f']:.3f}  {s['onset_offset_f']:.3f} {one}"
        lines.append(row)
    speed = ", ".join(f"{n} {results['audio_s'] / results[n]['detect_s']:.0f}x" for n in names)
    lines.append(f"{results['per_case']} phrases per case, seed {results['seed']}, {results['audio_s']:.0f} s of "
                 f"audio; basic-pitch events -> notes: {results['mono']}; speed (x real time): {speed}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(build_parser(), argv)
    results = run(per_case=args.per_case, seed=args.seed, cases=args.cases, mono=args.mono, ours=not args.peer_only)
    show(results, format_table(results), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Labelled monophonic phrases rendered from the SoundFonts, and their scoring: the note-detection benchmark.

:func:`make_phrases` renders seeded phrases of every case of :data:`CASES` (single notes, gaps, legato and slurs,
repeated pitches, staccato, vibrato and bends, a room, background noise), spread over the ten classes of
:data:`~instrumentid.datasets.programs.DEFAULT_CLASSES` and their ranges, each with the truth of its notes.
:func:`score` compares detected notes with that truth using ``mir_eval``'s transcription metrics.

The truth of a note is ``(onset_s, offset_s, f0_hz)``:

- ``onset_s`` is the note-on (for a slur, the pitch-wheel step), in seconds from the file's first sample;
- ``offset_s`` is the key-up (for a slur, the next step). The release that rings after the key-up (0.1-0.5 s in
  these SoundFonts) and a room's reverberation are not part of the note: ``mir_eval``'s offset tolerance (20 % of the
  note, at least 50 ms) absorbs part of them. A note that has faded out of hearing before its key-up (a held piano
  or guitar note) ends where it was last heard: where its level, in 93 ms frames, is last within
  :data:`AUDIBLE_DB` dB of its loudest frame and above the background noise;
- ``f0_hz`` is the equal-tempered pitch of the key plus any bend (A4 = 440 Hz).

Examples
--------
>>> from instrumentid.datasets.phrases import make_phrases, score     # doctest: +SKIP
>>> phrases = make_phrases(["gaps", "legato"], n_per_case=4)           # doctest: +SKIP
>>> score(phrases, [p.notes for p in phrases])["overall"]["onset_f"]   # doctest: +SKIP
1.0
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from instrumentid.datasets.programs import DEFAULT_CLASSES, PROGRAM_RANGES
from instrumentid.datasets.render import Source, default_sources, render_phrase, sources_from_paths
from instrumentid.errors import ParameterError
from instrumentid.settings import SR

__all__ = ["AUDIBLE_DB", "CASES", "KINDS", "PHRASE_SOURCES", "PITCH_LIMITS", "LabelledPhrase", "make_phrases",
           "score"]

#: Case name -> what its phrases hold.
#: The default sources the phrases are rendered from: fixed, so that the benchmark's figures compare across versions
#: whatever else is installed (GeneralUser GS, a default source of the data set since, is not among them; freepats
#: renders single notes only).
PHRASE_SOURCES = ("TimGM6mb", "FluidR3", "GMbank", "MuseScore")
CASES = {
    "single": "one note per file, 0.1-25 s: from sample 0, after silence, filling the file, long decays; -40 to 0 dBFS",
    "gaps": "notes separated by silence",
    "legato": "no silence from the first to the last sample: new attacks at the key-up, or slurs of 1-12 semitones",
    "repeated": "one pitch re-articulated, with and without gaps",
    "staccato": "notes of 0.1-0.2 s",
    "vibrato": "vibrato up to +-0.5 semitone, and slow bends within notes (never a new note)",
    "reverb": "a synthetic room (RT60 0.3-1.5 s) on phrases with gaps or legato",
    "noise": "white or pink background noise at 20-40 dB SNR (over the notes)",
}
#: The variants of each case, taken in turn by its phrases. ``at_zero``: the file starts at the first audible sample
#: of the first note; ``lead``: after 0.05-1 s of silence; ``filled``: from sample 0 to the key-up, no silence at all;
#: ``long``: 8-20 s (2-8 s in noise); ``piano_decay``: a piano note (C1-C6) held 15-25 s; ``attacks``: each note-on at
#: the previous key-up; ``slurs``: one note-on, then pitch-wheel steps; ``bends``: a scoop into each note or a bend
#: away and back (0.3-1 semitone).
KINDS = {
    "single": ("at_zero", "lead", "filled", "long", "piano_decay"),
    "gaps": ("lead", "at_zero"),
    "legato": ("attacks", "slurs"),
    "repeated": ("gaps", "no_gaps"),
    "staccato": ("staccato",),
    "vibrato": ("vibrato", "bends", "vibrato_bends"),
    "reverb": ("gaps", "legato"),
    "noise": ("gaps", "legato", "long"),
}
#: A note has faded out of hearing once its level is this many dB under its loudest frame.
AUDIBLE_DB = 60.0
#: Pitches are drawn within the instrument's range clipped to C1-C8 (MIDI 24-108), the pitched range of the analysis.
PITCH_LIMITS = (24, 108)
_DECAYING = ("piano", "guitar")  # classes whose held notes fade out
_FRAME, _HOP = 2048, 512  # level frames of the audible end (93 ms, 23 ms)


@dataclass(frozen=True)
class LabelledPhrase:
    """A rendered monophonic phrase and the truth of its notes.

    Attributes
    ----------
    case, kind : str
        Its case (a key of :data:`CASES`) and variant (one of :data:`KINDS` ``[case]``).
    name : str
        ``"{case}-{index}-{instrument}-{kind}"``, unique within a set.
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono samples in [-1, 1].
    sr : int
        Sample rate in Hz.
    notes : tuple of (onset_s, offset_s, f0_hz)
        The true notes in time order, not overlapping, within the file (see the module's notes on truth).
    instrument : str
        Class name (a key of :data:`~instrumentid.datasets.programs.DEFAULT_CLASSES`).
    program : int
        General-MIDI program it was rendered with.
    soundfont : str
        Name of the SoundFont source.
    """

    case: str
    kind: str
    name: str
    y: np.ndarray = field(repr=False)
    sr: int
    notes: tuple
    instrument: str = ""
    program: int = 0
    soundfont: str = ""

    def __post_init__(self):
        y = self.y
        if not isinstance(y, np.ndarray) or y.ndim != 1 or y.dtype != np.float32 or not np.all(np.isfinite(y)):
            raise ParameterError(f"LabelledPhrase.y must be finite float32 samples of shape (n,), got {y!r}")
        notes = tuple(tuple(float(v) for v in note) for note in self.notes)
        duration_s = y.size / self.sr
        last = 0.0
        for note in notes:
            if len(note) != 3 or not last <= note[0] < note[1] <= duration_s + 1e-6 or not note[2] > 0:
                raise ParameterError(f"{self.name}: notes must be (onset_s, offset_s, f0_hz) in time order within "
                                     f"[0, {duration_s:.3f}] s with f0_hz > 0, got {note!r}")
            last = note[1]
        object.__setattr__(self, "notes", notes)


def make_phrases(cases=None, *, n_per_case: int = 8, seed: int = 0, soundfonts=None, sr: int = SR) -> list:
    """Render labelled phrases of the benchmark's cases.

    Phrase ``i`` of the ``c``-th case of :data:`CASES` plays the variant ``KINDS[case][i % len(KINDS[case])]`` and
    class ``(3 * c + i) % 10`` of :data:`~instrumentid.datasets.programs.DEFAULT_CLASSES` (so ten phrases per case
    cover all ten classes); the single notes' ``piano_decay`` variant plays the piano and is left out of that count
    (ten of the other single notes cover the ten classes); its random choices (program, SoundFont, pitches, lengths,
    level, room, noise) come from a generator seeded with ``(seed, c, i)``, so a phrase does not depend on the other
    cases asked for.

    Parameters
    ----------
    cases : sequence of str, optional
        Keys of :data:`CASES` (default: all, in that order).
    n_per_case : int
        Phrases per case.
    seed : int
        Seed of every random choice: the same seed gives the same phrases.
    soundfonts : sequence of Source or str or os.PathLike, optional
        SoundFonts to render from (default: those of :func:`~instrumentid.datasets.render.default_sources` named in
        :data:`PHRASE_SOURCES`); a path renders every program.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    list of LabelledPhrase
        Case by case, ``n_per_case`` each. A phrase that its chosen SoundFont renders silent (no sample for its
        keys) comes from the next SoundFont that plays its program, with the same random choices.

    Raises
    ------
    ParameterError
        Unknown cases, ``n_per_case`` < 1, no SoundFont, or none that plays (and sounds) a phrase's program.
    """
    cases = list(CASES) if cases is None else list(cases)
    unknown = [c for c in cases if c not in CASES]
    if unknown or int(n_per_case) < 1:
        raise ParameterError(f"cases must be among {list(CASES)} and n_per_case >= 1, got {cases!r}, {n_per_case!r}")
    # phrases need a SoundFont (render_phrase); the TiMidity++ source renders single notes only
    sources = [s for s in default_sources() if s.name in PHRASE_SOURCES] if soundfonts is None else [
        s if isinstance(s, Source) else sources_from_paths([os.fspath(s)])[0] for s in soundfonts]
    if not sources:
        raise ParameterError("no SoundFont to render the phrases from")
    classes = list(DEFAULT_CLASSES)
    out = []
    for case in cases:
        c = list(CASES).index(case)
        for i in range(int(n_per_case)):
            rng = np.random.default_rng([int(seed), c, i])
            kind = KINDS[case][i % len(KINDS[case])]
            # the piano-decay variant plays the piano; the other phrases take the classes in turn, so every class
            # comes back in every ten of them
            turn = i - sum(KINDS[case][j % len(KINDS[case])] == "piano_decay" for j in range(i))
            instrument = "piano" if kind == "piano_decay" else classes[(3 * c + turn) % len(classes)]
            program = int(rng.choice(DEFAULT_CLASSES[instrument]))
            fonts = [s for s in sources if s.programs is None or program in s.programs]
            if not fonts:
                raise ParameterError(f"no SoundFont among {[s.name for s in sources]} plays program {program}")
            chosen = int(rng.integers(len(fonts)))
            lo, hi = PROGRAM_RANGES[program]
            lo, hi = max(lo, PITCH_LIMITS[0]), min(hi, PITCH_LIMITS[1])
            plan = _plan(case, kind, rng, lo, hi, decaying=instrument in _DECAYING)
            # a SoundFont without a sample for a key renders it silent: the next one that plays the program takes
            # the phrase, with the same random choices
            state = rng.bit_generator.state
            for source in fonts[chosen:] + fonts[:chosen]:
                rng.bit_generator.state = state
                rendered = _render(plan, case, rng, program=program, soundfont=source.path, sr=int(sr))
                if rendered is not None:
                    break
            else:
                raise ParameterError(f"{case} phrase {i}: no SoundFont among {[f.name for f in fonts]} sounds "
                                     f"program {program} at keys {sorted({n[0] for n in plan.notes})}")
            y, notes = rendered
            out.append(LabelledPhrase(case, kind, f"{case}-{i:02d}-{instrument}-{kind}", y, int(sr), notes,
                                      instrument, program, source.name))
    return out


# ----------------------------------------------------------------------------------------------- plans
@dataclass
class _Plan:
    """What to render: notes (midi, start_s, dur_s, velocity) on one program, and how."""

    notes: list
    truth: list | None = None  # (onset_s, offset_s, midi); default: one per note
    bends: list = field(default_factory=list)  # (time_s, semitones)
    vibrato: tuple | None = None
    trim_start: bool = False  # the file starts at the first audible sample of the first note
    tail_s: float = 0.6  # rendered after the last key-up; 0: the file ends at the key-up


def _walk(rng, lo: int, hi: int, n: int, *, steps=(1, 12)) -> list:
    """``n`` pitches in [lo, hi], each a step of ``steps`` semitones (either way) from the last."""
    pitches = [int(rng.integers(lo, hi + 1))]
    while len(pitches) < n:
        step = int(rng.integers(steps[0], steps[1] + 1)) * (1 if rng.random() < 0.5 else -1)
        nxt = pitches[-1] + step
        pitches.append(nxt if lo <= nxt <= hi else pitches[-1] - step if lo <= pitches[-1] - step <= hi
                       else int(np.clip(nxt, lo, hi)))
    return pitches


def _sequence(rng, pitches, durations, gaps, start_s: float) -> list:
    """Notes (midi, start_s, dur_s, velocity) played one after the other, ``gaps[i]`` seconds of silence apart."""
    notes, t = [], start_s
    for midi, dur, gap in zip(pitches, durations, gaps, strict=True):
        notes.append((midi, t, float(dur), int(rng.integers(50, 121))))
        t += float(dur) + float(gap)
    return notes


def _plan(case: str, kind: str, rng, lo: int, hi: int, *, decaying: bool) -> _Plan:
    """The notes of one phrase of ``case``/``kind`` in the pitch range [lo, hi] (``decaying``: piano, guitar)."""
    def logu(a, b, n=None):
        return np.exp(rng.uniform(np.log(a), np.log(b), n))

    if case == "single" or kind == "long":
        midi = int(rng.integers(lo, (min(hi, 84) if kind == "piano_decay" else hi) + 1))  # a piano rings below C6
        if kind == "filled":  # a decaying note is cut before it fades
            dur = logu(0.5, 3.0 if decaying else 20.0)
        elif kind == "piano_decay":
            dur = rng.uniform(15.0, 25.0)
        elif kind == "long":
            dur = rng.uniform(8.0, 20.0) if case == "single" else rng.uniform(2.0, 8.0)
        else:
            dur = logu(0.1, 4.0)
        at_zero = kind in ("at_zero", "filled") or (kind == "piano_decay" and rng.random() < 0.5)
        start = 0.0 if at_zero else rng.uniform(0.05, 1.0)
        return _Plan([(midi, start, float(dur), int(rng.integers(30, 128)))], trim_start=at_zero,
                     tail_s=0.0 if kind == "filled" else 0.6)
    n = int(rng.integers(3, 7))
    if case == "legato" or kind == "legato":
        n = int(rng.integers(4, 9))
        durations = logu(0.2, 1.0, n)
        if kind == "slurs":  # one attack; the pitch wheel (range 12) steps 1-12 semitones away from the written key
            written = (lo + hi) // 2
            offsets = _walk(rng, max(lo, written - 12), min(hi, written + 12), n)
            times = np.concatenate([[0.0], np.cumsum(durations)])
            truth = [(times[k], times[k + 1], offsets[k]) for k in range(n)]
            bends = [(times[k], offsets[k] - written) for k in range(n)]
            return _Plan([(written, 0.0, float(times[-1]), int(rng.integers(50, 121)))], truth, bends,
                         trim_start=True, tail_s=0.0)
        notes = _sequence(rng, _walk(rng, lo, hi, n), durations, np.zeros(n), 0.0)
        return _Plan(notes, trim_start=True, tail_s=0.0 if case == "legato" else 0.6)
    if case == "repeated":
        gaps = rng.uniform(0.05, 0.4, n) if kind == "gaps" else np.zeros(n)
        return _Plan(_sequence(rng, [int(rng.integers(lo, hi + 1))] * n, logu(0.15, 0.8, n), gaps,
                               rng.uniform(0.1, 0.4)))
    if case == "staccato":
        n = int(rng.integers(4, 9))
        return _Plan(_sequence(rng, _walk(rng, lo, hi, n, steps=(0, 5)), rng.uniform(0.1, 0.2, n),
                               rng.uniform(0.1, 0.4, n), rng.uniform(0.1, 0.4)))
    if case == "vibrato":
        n = int(rng.integers(2, 5))
        notes = _sequence(rng, _walk(rng, lo, hi, n), rng.uniform(0.8, 3.0, n), rng.uniform(0.1, 0.4, n),
                          rng.uniform(0.1, 0.4))
        plan = _Plan(notes)
        if kind != "bends":
            plan.vibrato = (rng.uniform(4.5, 7.0), rng.uniform(0.1, 0.5))
        if kind != "vibrato":  # per note: a scoop from up to a semitone flat, or a bend away and back
            for _, start, dur, _ in notes:
                if rng.random() < 0.5:
                    depth, length, t0, shape = -rng.uniform(0.3, 1.0), rng.uniform(0.1, 0.25), start, "scoop"
                else:
                    depth, shape = rng.choice([-1, 1]) * rng.uniform(0.3, 0.8), "arc"
                    length = min(rng.uniform(0.3, 0.8), dur - 0.3)
                    t0 = start + rng.uniform(0.1, dur - length - 0.1)
                for t in np.arange(0.0, length + 1e-9, 0.01):
                    x = t / length
                    plan.bends.append((t0 + t, depth * (1 - x if shape == "scoop" else np.sin(np.pi * x))))
                plan.bends.append((t0 + length, 0.0))
        return plan
    # gaps, and the gaps variant of reverb and noise: silence between notes, after silence or from sample 0
    at_zero = kind == "at_zero"
    return _Plan(_sequence(rng, _walk(rng, lo, hi, n), logu(0.2, 1.5, n), rng.uniform(0.3, 1.0, n),
                           0.0 if at_zero else rng.uniform(0.1, 0.5)), trim_start=at_zero)


# ----------------------------------------------------------------------------------------------- render and truth
def _render(plan: _Plan, case: str, rng, *, program: int, soundfont, sr: int) -> tuple | None:
    """Render ``plan``, then its room, level and noise: ``(y float32 (n,), notes)`` with the truth.

    None when the SoundFont renders it silent (no sample for its keys).
    """
    y = render_phrase([(program, m, s, d, v) for m, s, d, v in plan.notes], soundfont=soundfont, sr=sr,
                      vibrato=plan.vibrato, bends=[(program, t, b) for t, b in plan.bends], bend_range=12.0,
                      tail_s=plan.tail_s).astype(np.float64)
    if not np.abs(y).max() > 0.0:
        return None
    truth = [(round(a * sr) / sr, round(b * sr) / sr, m)  # on the samples the events were rendered at
             for a, b, m in plan.truth or [(s, s + d, m) for m, s, d, _ in plan.notes]]
    if plan.trim_start:
        cut = int(np.flatnonzero(np.abs(y) >= 1e-3 * np.abs(y).max())[0])
        y = y[cut:]
        truth = [(max(0.0, a - cut / sr), b - cut / sr, m) for a, b, m in truth]
    level_db = rng.uniform(-40.0, 0.0) if case == "single" else rng.uniform(-20.0, -6.0 if case == "noise" else -1.0)
    y *= 10.0 ** (level_db / 20.0) / np.abs(y).max()
    first, last = round(truth[0][0] * sr), round(truth[-1][1] * sr)
    noise_power = 0.0
    if case == "noise":
        noise_power = np.mean(y[first:last] ** 2) * 10.0 ** (-rng.uniform(20.0, 40.0) / 10.0)
    truth = _audible(y, truth, sr=sr, floor_db=10.0 * np.log10(noise_power + 1e-20))
    if case == "reverb":
        y = _room(y, rng, sr=sr)
    if case == "noise":
        noise = rng.standard_normal(y.size)
        if rng.random() < 0.5:  # pink-ish: white noise through a one-pole low-pass
            from scipy.signal import lfilter

            noise = lfilter([1.0], [1.0, -0.95], noise)
        y = y + noise * np.sqrt(noise_power / np.mean(noise**2))
    duration_s = y.size / sr
    notes = tuple((float(a), float(min(b, duration_s)), float(440.0 * 2.0 ** ((m - 69) / 12))) for a, b, m in truth)
    return np.clip(y, -1.0, 1.0).astype(np.float32), notes


def _audible(y: np.ndarray, truth: list, *, sr: int, floor_db: float) -> list:
    """End each note where it was last heard: within :data:`AUDIBLE_DB` of its loudest frame and over ``floor_db``."""
    power = np.concatenate([[0.0], np.cumsum(y**2)])
    centres = np.arange(0, y.size, _HOP)
    lo, hi = np.clip(centres - _FRAME // 2, 0, y.size), np.clip(centres + _FRAME // 2, 0, y.size)
    level_db = 10.0 * np.log10((power[hi] - power[lo]) / _FRAME + 1e-20)
    out = []
    for onset, offset, midi in truth:
        a, b = int(onset * sr) // _HOP, min(level_db.size, int(np.ceil(offset * sr / _HOP)) + 1)
        seg = level_db[a:b]
        heard = np.flatnonzero(seg >= max(seg.max() - AUDIBLE_DB, floor_db))
        end = (a + heard[-1] + 0.5) * _HOP / sr if heard.size and a + heard[-1] < b - 1 else offset
        out.append((onset, max(min(offset, end), onset + _HOP / sr), midi))
    return out


def _room(y: np.ndarray, rng, *, sr: int) -> np.ndarray:
    """``y`` in a synthetic room (decaying noise, RT60 0.3-1.5 s, direct-to-reverb 0-10 dB), with its tail."""
    from scipy.signal import fftconvolve

    rt60 = rng.uniform(0.3, 1.5)
    t = np.arange(int(rt60 * sr)) / sr
    tail = rng.standard_normal(t.size) * np.exp(-6.9 * t / rt60)
    tail *= 10.0 ** (-rng.uniform(0.0, 10.0) / 20.0) / np.sqrt(np.sum(tail**2))
    ir = np.concatenate([[1.0], np.zeros(int(rng.uniform(0.005, 0.02) * sr)), tail])
    return fftconvolve(y, ir)


# ----------------------------------------------------------------------------------------------- scoring
def score(phrases, detections) -> dict:
    """Score detected notes against the phrases' truth with ``mir_eval.transcription``, per case and overall.

    A detected note matches a true one when its onset is within 50 ms and its pitch within 50 cents (the onset
    figures), and for the onset+offset figures also its offset within 20 % of the true note's length or 50 ms,
    whichever is larger (``mir_eval.transcription.match_notes``; each note matches at most once). Figures are
    aggregated by summing matches and notes over the phrases (micro-average), not by averaging per phrase; for a
    single phrase they equal ``mir_eval.transcription.precision_recall_f1_overlap``'s. ``mir_eval`` is imported
    here: it is a dependency of the tests and benchmarks (extras ``test`` and ``bench``), not of instrumentid.

    Parameters
    ----------
    phrases : sequence of LabelledPhrase
    detections : sequence of sequences of notes
        The notes found in each phrase, in the same order: ``(onset_s, offset_s, f0_hz)`` tuples, or records with
        ``start_s``, ``end_s`` and ``f0_hz`` (such as :class:`~instrumentid.analysis.Note`).

    Returns
    -------
    dict
        Case name (in :data:`CASES` order), then ``"overall"`` -> dict of: ``phrases``, ``true_notes``,
        ``found_notes``; ``onset_precision``, ``onset_recall``, ``onset_f`` and the same for ``onset_offset``
        (floats in [0, 1]); ``pitch_share``: of the true notes whose onset was found (50 ms, any pitch), the share
        found at the right pitch (None if none); ``single_files``: phrases with one true note, and
        ``exactly_one``: the share of them given exactly one note (None if none); ``no_notes``: phrases with a
        true note given no note at all.

    Raises
    ------
    ParameterError
        ``detections`` not one per phrase, or notes that are not (onset < offset, f0 > 0).
    """
    from mir_eval.transcription import match_note_onsets, match_notes

    phrases, detections = list(phrases), list(detections)
    if len(phrases) != len(detections):
        raise ParameterError(f"need one list of notes per phrase: {len(phrases)} phrases, {len(detections)} lists")
    keys = ("phrases", "true_notes", "found_notes", "onset", "onset_offset", "timed", "pitched", "single_files",
            "exactly_one", "no_notes")
    counts: dict = {}
    for phrase, found in zip(phrases, detections, strict=True):
        c = counts.setdefault(phrase.case, dict.fromkeys(keys, 0))
        ref_iv, ref_hz = _arrays(phrase.notes, phrase.name)
        est_iv, est_hz = _arrays(found, phrase.name)
        n_ref, n_est = len(ref_hz), len(est_hz)
        c["phrases"] += 1
        c["true_notes"] += n_ref
        c["found_notes"] += n_est
        c["single_files"] += n_ref == 1
        c["exactly_one"] += n_ref == 1 and n_est == 1
        c["no_notes"] += n_est == 0 and n_ref > 0
        if n_ref and n_est:
            for key, ratio in (("onset", None), ("onset_offset", 0.2)):
                c[key] += len(match_notes(ref_iv, ref_hz, est_iv, est_hz, onset_tolerance=0.05, pitch_tolerance=50.0,
                                          offset_ratio=ratio, offset_min_tolerance=0.05))
            timed = match_note_onsets(ref_iv, est_iv, onset_tolerance=0.05)
            c["timed"] += len(timed)
            c["pitched"] += int(sum(abs(1200.0 * np.log2(est_hz[j] / ref_hz[i])) <= 50.0 for i, j in timed))
    order = [c for c in CASES if c in counts] + sorted(set(counts) - set(CASES))
    counts["overall"] = {k: sum(counts[case][k] for case in order) for k in keys}
    return {case: _figures(counts[case]) for case in [*order, "overall"]}


def _figures(c: dict) -> dict:
    """Precision, recall, F-measure and shares from summed counts."""
    out: dict = {k: int(c[k]) for k in ("phrases", "true_notes", "found_notes", "single_files", "no_notes")}
    for key in ("onset", "onset_offset"):
        p = c[key] / c["found_notes"] if c["found_notes"] else 0.0
        r = c[key] / c["true_notes"] if c["true_notes"] else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        out.update({f"{key}_precision": float(p), f"{key}_recall": float(r), f"{key}_f": float(f)})
    out["pitch_share"] = c["pitched"] / c["timed"] if c["timed"] else None
    out["exactly_one"] = c["exactly_one"] / c["single_files"] if c["single_files"] else None
    return out


def _arrays(notes, name: str) -> tuple:
    """``(intervals (n, 2) s, f0 (n,) Hz)`` of tuples or Note-like records, checked."""
    rows = [(n.start_s, n.end_s, n.f0_hz) if hasattr(n, "start_s") else tuple(n) for n in notes]
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr[:, 0] >= arr[:, 1]) or np.any(arr[:, 2] <= 0)):
        raise ParameterError(f"{name}: notes must be (onset_s < offset_s, f0_hz > 0), got {rows!r}")
    return arr[:, :2], arr[:, 2]

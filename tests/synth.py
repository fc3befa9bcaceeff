"""Render test recordings from General-MIDI SoundFonts (a test helper, not part of the package).

A phrase is a list of notes ``(program, midi, start_s, dur_s, velocity)``. Every program plays on its own MIDI channel,
so two instruments can follow each other or overlap. Optional expression, both through the pitch wheel (tinysoundfont
has no modulation-wheel LFO):

* ``vibrato=(rate_hz, depth_semitones)``: a sinusoidal pitch wobble on every channel for the whole phrase;
* ``bends=[(program, time_s, semitones), ...]``: the pitch of a program's channel jumps by ``semitones`` (relative to the
  written note) at ``time_s``. A bend changes the pitch without a new attack, which is how a slur or legato
  interval sounds.

Synthesizers are cached per (SoundFont, sample rate) because FluidR3 takes about a second to load.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

FLUID = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
#: Pitch-wheel range (semitones up and down) used for vibrato and bends.
BEND_RANGE = 12.0
#: Samples between two pitch-wheel updates while vibrato is on (about 3 ms at 22.05 kHz).
VIBRATO_STEP = 64


def timgm6mb() -> Path:
    """Path of the TimGM6mb SoundFont shipped inside the pretty_midi package."""
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def default_soundfont() -> Path:
    """FluidR3 GM if installed, else TimGM6mb."""
    return FLUID if FLUID.exists() else timgm6mb()


@functools.lru_cache(maxsize=4)
def _synth(soundfont: str, sr: int):
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sr)
    sfid = synth.sfload(soundfont)
    return synth, sfid


def _bend_value(semitones: float) -> int:
    return int(np.clip(round(8192 + semitones / BEND_RANGE * 8192), 0, 16383))


def render_phrase(
    notes,
    *,
    sr: int = 22050,
    soundfont=None,
    vibrato: tuple[float, float] | None = None,
    bends=(),
    tail_s: float = 0.5,
    stereo: bool = False,
) -> np.ndarray:
    """Render a phrase to audio.

    Parameters
    ----------
    notes : list of (program, midi, start_s, dur_s, velocity)
        General-MIDI program (0-based), MIDI key, start and length in seconds, MIDI velocity.
    sr : int
        Sample rate in Hz.
    soundfont : str or Path, optional
        SF2 file (default :func:`default_soundfont`).
    vibrato : (rate_hz, depth_semitones), optional
        Pitch vibrato on every channel.
    bends : list of (program, time_s, semitones)
        Pitch changes without a new attack.
    tail_s : float
        Silence rendered after the last note-off (the release rings into it).
    stereo : bool
        Return both channels (shape ``(2, n)``) instead of their mean.

    Returns
    -------
    y : np.ndarray [shape=(n,) or (2, n), dtype=float32]
    """
    synth, sfid = _synth(str(soundfont or default_soundfont()), int(sr))
    synth.sounds_off()
    programs = sorted({int(n[0]) for n in notes})
    channel = {program: i for i, program in enumerate(programs)}
    for program, ch in channel.items():
        synth.program_select(ch, sfid, 0, program)
        synth.pitchbend_range(ch, BEND_RANGE)
        synth.pitchbend(ch, 8192)

    # (sample, order, action): note-offs sort before note-ons at the same sample, bends last.
    events = []
    for program, midi, start_s, dur_s, velocity in notes:
        ch = channel[int(program)]
        events.append((round(start_s * sr), 1, ("on", ch, int(midi), int(velocity))))
        events.append((round((start_s + dur_s) * sr), 0, ("off", ch, int(midi))))
    offsets = {ch: 0.0 for ch in channel.values()}
    for program, time_s, semitones in bends:
        events.append((round(time_s * sr), 2, ("bend", channel[int(program)], float(semitones))))
    n_total = max(e[0] for e in events) + round(tail_s * sr)
    if vibrato is not None:
        events.extend((s, 3, ("vibrato",)) for s in range(0, n_total, VIBRATO_STEP))
    events.sort(key=lambda e: (e[0], e[1]))

    out = np.zeros((n_total, 2), dtype=np.float32)
    pos = 0
    for sample, _, action in events:
        if sample > pos:
            out[pos:sample] = np.frombuffer(synth.generate(sample - pos), dtype=np.float32).reshape(-1, 2)
            pos = sample
        kind = action[0]
        if kind == "on":
            synth.noteon(*action[1:])
        elif kind == "off":
            synth.noteoff(*action[1:])
        else:
            if kind == "bend":
                offsets[action[1]] = action[2]
            wobble = 0.0
            if vibrato is not None:
                rate_hz, depth = vibrato
                wobble = depth * np.sin(2 * np.pi * rate_hz * pos / sr)
            channels = [action[1]] if kind == "bend" and vibrato is None else list(offsets)
            for ch in channels:
                synth.pitchbend(ch, _bend_value(offsets[ch] + wobble))
    if pos < n_total:
        out[pos:] = np.frombuffer(synth.generate(n_total - pos), dtype=np.float32).reshape(-1, 2)
    synth.sounds_off()
    return out.T.copy() if stereo else out.mean(axis=1)


def lab_sax_notes(*, program: int = 64) -> list:
    """The lab's example: a soprano saxophone playing C6, C#6, D6, Eb6 over 16 s (3.5 s notes, 0.5 s apart)."""
    return [(program, 84 + i, 0.25 + 4.0 * i, 3.5, 90) for i in range(4)]


def write(path, y: np.ndarray, *, sr: int, subtype: str | None = None) -> Path:
    """Write ``y`` (shape (n,) or (n_channels, n)) to an audio file whose format follows the extension.

    ``subtype`` is soundfile's sample format (default: the format's usual one, e.g. 16-bit PCM for WAV).
    """
    import soundfile as sf

    sf.write(str(path), np.asarray(y).T, sr, subtype=subtype)
    return Path(path)


# ----------------------------------------------------------------------------------------------- shared recordings
#: Phrases used by several test files: (notes, render options). Times in seconds.
PHRASES = {
    # five trumpet notes with 150 ms gaps
    "gaps": ([(56, m, 0.2 + 0.6 * i, 0.45, 90) for i, m in enumerate([67, 69, 71, 72, 74])], {}),
    # a clarinet scale, each note starting 50 ms before the previous one ends (new attacks, no gaps)
    "legato": ([(71, m, 0.3 + 0.4 * i, 0.45, 80) for i, m in enumerate([60, 62, 64, 65, 67])], {}),
    # one violin note whose pitch moves up three times by pitch bend: no new attack at all
    "glide": ([(40, 64, 0.3, 2.0, 90)], {"bends": [(40, 0.8, 2), (40, 1.3, 3), (40, 1.8, 5)]}),
    # a flute plays two notes, then a cello two
    "two_instruments": (
        [(73, 76, 0.2, 0.8, 80), (73, 79, 1.1, 0.8, 80), (42, 48, 2.1, 0.8, 90), (42, 43, 3.0, 0.8, 90)], {}
    ),
    # the lab's example: soprano sax with vibrato, C6 C#6 D6 Eb6 over 16 s
    "lab_sax": (lab_sax_notes(), {"vibrato": (5.5, 0.3)}),
}


def expected_notes(phrase: str):
    """The (midi, start_s, end_s) a note detector should find in :data:`PHRASES` ``[phrase]``.

    For bends each bend starts a note; ``end_s`` is the written note-off (the release rings a little longer).
    """
    notes, options = PHRASES[phrase]
    out = []
    for program, midi, start_s, dur_s, _ in notes:
        bends = [(t, semis) for p, t, semis in options.get("bends", ()) if p == program and start_s < t < start_s + dur_s]
        times = [start_s, *(t for t, _ in bends), start_s + dur_s]
        pitches = [midi, *(midi + semis for _, semis in bends)]
        out.extend((m, a, b) for m, a, b in zip(pitches, times[:-1], times[1:]))
    return out


@functools.lru_cache(maxsize=None)
def phrase_audio(phrase: str, *, sr: int = 22050) -> np.ndarray:
    """Render (once per session) one of :data:`PHRASES`, mono; the array is read-only."""
    notes, options = PHRASES[phrase]
    y = render_phrase(notes, sr=sr, **options)
    y.flags.writeable = False
    return y

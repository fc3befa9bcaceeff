"""Render test recordings from General-MIDI SoundFonts (a test helper, not part of the package).

A phrase is a list of notes ``(program, midi, start_s, dur_s, velocity)``. Every program plays on its own MIDI channel,
so two instruments can follow each other or overlap. Optional expression, both through the pitch wheel (tinysoundfont
has no modulation-wheel LFO):

* ``vibrato=(rate_hz, depth_semitones)``: a sinusoidal pitch wobble on every channel for the whole phrase;
* ``bends=[(program, time_s, semitones), ...]``: the pitch of a program's channel jumps by ``semitones`` (relative to
  the written note) at ``time_s``. A bend changes the pitch without a new attack, which is how a slur or legato
  interval sounds.

Synthesizers are cached per (SoundFont, sample rate) because FluidR3 takes about a second to load.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from instrumentid.datasets import render as _sf

FLUID = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


def timgm6mb() -> Path:
    """Path of the TimGM6mb SoundFont shipped inside the pretty_midi package."""
    return _sf.default_soundfonts()["TimGM6mb"]


def default_soundfont() -> Path:
    """FluidR3 GM if installed, else TimGM6mb."""
    return FLUID if FLUID.exists() else timgm6mb()


def render_phrase(notes, *, sr: int = 22050, soundfont=None, **options) -> np.ndarray:
    """:func:`instrumentid.datasets.render.render_phrase` with the tests' default SoundFont."""
    return _sf.render_phrase(notes, soundfont=soundfont or default_soundfont(), sr=sr, **options)


def lab_sax_notes(*, program: int = 64) -> list:
    """The lab's example: a soprano saxophone playing C6, C#6, D6, Eb6 over 16 s (3.5 s notes, 0.5 s apart)."""
    return [(program, *note[1:]) for note in _sf.LAB_EXAMPLE["notes"]]


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
    "lab_sax": (lab_sax_notes(), {"vibrato": _sf.LAB_EXAMPLE["vibrato"]}),
}


def expected_notes(phrase: str):
    """The (midi, start_s, end_s) a note detector should find in :data:`PHRASES` ``[phrase]``.

    For bends each bend starts a note; ``end_s`` is the written note-off (the release rings a little longer).
    """
    notes, options = PHRASES[phrase]
    out = []
    for program, midi, start_s, dur_s, _ in notes:
        bends = [(t, semis) for p, t, semis in options.get("bends", ())
                 if p == program and start_s < t < start_s + dur_s]
        times = [start_s, *(t for t, _ in bends), start_s + dur_s]
        pitches = [midi, *(midi + semis for _, semis in bends)]
        out.extend((m, a, b) for m, a, b in zip(pitches, times[:-1], times[1:], strict=True))
    return out


@functools.cache
def phrase_audio(phrase: str, *, sr: int = 22050) -> np.ndarray:
    """Render (once per session) one of :data:`PHRASES`, mono; the array is read-only."""
    notes, options = PHRASES[phrase]
    y = render_phrase(notes, sr=sr, **options)
    y.flags.writeable = False
    return y

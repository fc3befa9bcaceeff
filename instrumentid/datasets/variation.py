"""The variation real recordings have and rendered SoundFont notes lack, drawn from a seeded generator.

A SoundFont plays every note of a program from the same few samples, at a fixed level, dry, through no microphone.
:func:`vary_note` gives a rendered note what a recording adds: an expression swell, a room (synthetic reverb), a
microphone colour (random smooth EQ plus a spectral tilt), a level, a short noise-only lead-in and background noise.
The ranges of every random choice are :data:`VARIATION` (part of the default data set's cache key); vibrato, also
drawn from it, is played through the pitch wheel when the note is rendered
(:func:`instrumentid.datasets.soundfont.render_varied`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from instrumentid.settings import SR

__all__ = ["VARIATION", "vary_note"]

#: How the variation of :func:`vary_note` is drawn (part of the cache key). Measured
#: (scripts/measure_generalization.py): dry notes give 97.6 % on the pitch split but 40 % leave-one-SoundFont-out;
#: twice these ranges 88 % / 50 %; these 95.6 % / 48 %.
VARIATION: dict[str, Any] = {
    "vibrato_probability": 0.6,  # sustained programs only
    "vibrato_rate_hz": (4.5, 6.5),
    "vibrato_depth_semitones": (0.05, 0.4),  # players vibrato up to about +-0.4 semitone (sax, strings)
    "swell_db": 6.0,  # expression: level ramps linearly (in dB) by up to +-swell_db over the note
    "level_db": (-30.0, 0.0),
    "reverb_probability": 0.5,
    "rt60_s": (0.15, 0.6),
    "direct_to_reverb_db": (6.0, 20.0),
    "eq_points": 10,  # random gains at log-spaced frequencies, interpolated: the microphone/room colour
    "eq_db": 2.5,  # standard deviation of each gain
    "tilt_db_per_octave": 1.0,  # +- range of an overall spectral slope
    "snr_db": (40.0, 70.0),
    "lead_in_s": (0.0, 0.03),  # noise-only time before the attack, as a note cut from a recording has
}


def vary_note(y, *, rng, sr: int = SR, variation=None) -> np.ndarray:
    """Give a dry rendered note the variation of a real recording: swell, room, microphone colour, level, noise.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Dry note.
    rng : np.random.Generator
        Source of every random choice (seed it for reproducible builds).
    sr : int
        Sample rate in Hz.
    variation : dict, optional
        Ranges as in :data:`VARIATION` (the default).

    Returns
    -------
    np.ndarray [shape=(n + n_lead_in,), dtype=float32]
        The varied note, preceded by ``n_lead_in`` samples of noise (:data:`VARIATION` ``["lead_in_s"]``).
    """
    from scipy.fft import irfft, next_fast_len, rfft
    from scipy.signal import fftconvolve, lfilter

    v = VARIATION if variation is None else variation
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    # expression: a linear ramp in dB across the note
    ramp_db = rng.uniform(-v["swell_db"], v["swell_db"]) * np.linspace(0.0, 1.0, n)
    y = y * 10.0 ** (ramp_db / 20.0)
    # room: exponentially decaying noise tail after the direct sound
    if rng.random() < v["reverb_probability"]:
        rt60 = rng.uniform(*v["rt60_s"])
        t = np.arange(int(min(rt60, 1.0) * sr)) / sr
        tail = rng.standard_normal(t.shape[0]) * np.exp(-6.9 * t / rt60)
        tail *= 10.0 ** (-rng.uniform(*v["direct_to_reverb_db"]) / 20.0) / np.sqrt(np.sum(tail**2) + 1e-12)
        ir = np.concatenate([[1.0], np.zeros(int(rng.uniform(0.002, 0.02) * sr)), tail])
        y = fftconvolve(y, ir)[:n]
    # microphone colour: a smooth random EQ curve plus a tilt, applied in the frequency domain
    n_fft = next_fast_len(n, real=True)
    spec = rfft(y, n_fft)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    octaves = np.log2(np.maximum(freqs, 20.0) / 1000.0)
    knots = np.linspace(np.log2(20.0 / 1000.0), np.log2(sr / 2 / 1000.0), v["eq_points"])
    gains_db = rng.normal(0.0, v["eq_db"], v["eq_points"])
    gains_db += rng.uniform(-v["tilt_db_per_octave"], v["tilt_db_per_octave"]) * knots
    spec *= 10.0 ** (np.interp(octaves, knots, gains_db) / 20.0)
    y = irfft(spec, n_fft)[:n]
    # level, lead-in and background noise (pinkish: white noise through a one-pole low-pass)
    y *= 10.0 ** (rng.uniform(*v["level_db"]) / 20.0) / (np.max(np.abs(y)) + 1e-12)
    y = np.concatenate([np.zeros(int(rng.uniform(*v["lead_in_s"]) * sr)), y])
    rms = np.sqrt(np.mean(y**2)) + 1e-12
    noise = rng.standard_normal(y.shape[0])
    if rng.random() < 0.5:
        noise = lfilter([1.0], [1.0, -0.95], noise)
    noise *= rms * 10.0 ** (-rng.uniform(*v["snr_db"]) / 20.0) / (np.sqrt(np.mean(noise**2)) + 1e-12)
    return (y + noise).astype(np.float32)

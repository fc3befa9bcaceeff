"""The variation real recordings have and rendered SoundFont notes lack, drawn from a seeded generator.

A SoundFont plays every note of a program from the same few samples, at a fixed level, dry, through no microphone, and
a network trained on it learns that one recording. :func:`vary_note` gives a rendered note what a recording adds: an
expression swell, a room (impulse responses of simulated rooms, :func:`room_bank`: ``pyroomacoustics`` image-source
shoe-box rooms of random size, absorption and source/microphone positions), body and microphone colour (a smooth random
EQ curve, a spectral tilt and a few resonances), a level, a short noise-only lead-in and background noise. The ranges of
every random choice are :data:`VARIATION` (part of the default data set's cache key); vibrato and the sample-zone shift
(the note is rendered a few semitones away from its pitch and resampled back, so its spectral envelope moves against
its pitch as another instrument's would) are drawn from it too and applied when the note is rendered
(:func:`instrumentid.datasets.soundfont.render_varied`).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from instrumentid.settings import SR

__all__ = ["ROOM_BANK_VERSION", "VARIATION", "room_bank", "vary_note"]

#: How the variation of :func:`vary_note` is drawn (part of the cache key). The zone shift and the resonances are off:
#: measured on held-out sources (README, "The default data set") they did not help.
VARIATION: dict[str, Any] = {
    "vibrato_probability": 0.6,  # sustained programs only
    "vibrato_rate_hz": (4.5, 6.5),
    "vibrato_depth_semitones": (0.05, 0.4),  # players vibrato up to about +-0.4 semitone (sax, strings)
    "zone_shift_probability": 0.0,  # render k semitones away (1 <= |k| <= zone_shift_semitones), resample back
    "zone_shift_semitones": 3,
    "swell_db": 6.0,  # expression: level ramps linearly (in dB) by up to +-swell_db over the note
    "level_db": (-30.0, 0.0),
    "room_probability": 0.5,  # convolve with one of the room bank's impulse responses
    "rooms": 48,  # impulse responses in the bank (room_bank)
    "room_seed": 0,  # seed of the bank's rooms
    "room_rt60_s": (0.2, 1.0),
    "room_size_m": ((3.0, 3.0, 2.4), (12.0, 10.0, 5.0)),
    "room_max_order": 25,  # image-source reflection order (0.1-0.3 s per response)
    "eq_points": 10,  # random gains at log-spaced frequencies, interpolated: the microphone/room colour
    "eq_db": 2.5,  # standard deviation of each gain
    "tilt_db_per_octave": 1.0,  # +- range of an overall spectral slope
    "resonances": 0,  # up to this many resonances (body, microphone) added to the EQ curve
    "resonance_db": (-8.0, 8.0),
    "resonance_octaves": (0.1, 0.5),  # width (standard deviation in octaves) of a resonance
    "snr_db": (40.0, 70.0),
    "lead_in_s": (0.0, 0.03),  # noise-only time before the attack, as a note cut from a recording has
}
#: Bump when the room simulation changes: cached room banks are then rebuilt.
ROOM_BANK_VERSION = 1


def room_bank(*, variation=None, sr: int = SR) -> np.ndarray:
    """Impulse responses of simulated rooms, computed once and cached on disk.

    Each room is a ``pyroomacoustics`` shoe box of random size (``room_size_m``) whose wall absorption gives a random
    reverberation time (``room_rt60_s``, Sabine's formula), with the source and the microphone at random places at
    least 0.5 m from the walls; image sources up to ``room_max_order``, air absorption on.

    Parameters
    ----------
    variation : dict, optional
        Ranges as in :data:`VARIATION` (the default).
    sr : int
        Sample rate in Hz.

    Returns
    -------
    np.ndarray [shape=(rooms, n), dtype=float32]
        One impulse response per row, its direct sound at sample 0 with amplitude 1, zero-padded to the longest.
    """
    return _load_or_simulate(*_bank_file(VARIATION if variation is None else variation, sr))


def _bank_file(v: dict, sr: int) -> tuple:
    """(path, spec as JSON) of the cached room bank of the variation ``v`` at ``sr``."""
    import hashlib
    import json

    from instrumentid.util import cache_dir

    spec = {k: v[k] for k in ("rooms", "room_seed", "room_rt60_s", "room_size_m", "room_max_order")}
    spec.update(sr=sr, version=ROOM_BANK_VERSION)
    text = json.dumps(spec, sort_keys=True)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    return str(cache_dir() / "rooms" / f"rooms-{key}.npy"), text


@functools.lru_cache(maxsize=4)
def _room_irs(path: str, spec_json: str) -> tuple:
    """The bank's impulse responses (:func:`_load_or_simulate`), each cut after its last non-zero sample (read-only)."""
    irs = []
    for ir in _load_or_simulate(path, spec_json):
        ir = ir[: int(np.max(np.nonzero(ir)[0])) + 1]
        ir.flags.writeable = False
        irs.append(ir)
    return tuple(irs)


#: Room spectra kept per process (:func:`_room_spectrum`): the default bank's 48 rooms times the 4 lengths of a
#: rendered note (its DURATIONS_S plus the release), about 30 MB, so a build worker computes each only once.
ROOM_SPECTRA = 256


@functools.lru_cache(maxsize=ROOM_SPECTRA)
def _room_spectrum(path: str, spec_json: str, room: int, n_fft: int) -> np.ndarray:
    """The real FFT of room ``room``'s impulse response (:func:`_room_irs`) at ``n_fft`` points (read-only).

    Computed from the float32 response, complex64 [shape=(1 + n_fft // 2,)]: what ``scipy.signal.fftconvolve``
    computes for it at that length, which every note of that length and room reuses.
    """
    from scipy.fft import rfft

    spectrum = rfft(_room_irs(path, spec_json)[room], n_fft)
    spectrum.flags.writeable = False
    return spectrum


def _convolve_room(y: np.ndarray, bank: tuple, room: int) -> np.ndarray:
    """``scipy.signal.fftconvolve(y, ir)[:len(y)]`` of the float64 ``y`` and room ``room``'s response, to the bit.

    fftconvolve's steps (the FFTs at its fast length, the product in complex128, the inverse FFT), with the
    response's spectrum computed once per process (:func:`_room_spectrum`) instead of once per note; the float32
    FFT of each response at each length also took a plan of its own in the FFT library's 16-plan cache.
    ``tests/test_variation.py`` compares the two.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float64]
    bank : tuple
        :func:`_bank_file`'s (path, spec) of the room bank.
    room : int
        Row of the bank.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
    """
    from scipy.fft import irfft, next_fast_len, rfft

    n = y.shape[0]
    ir = _room_irs(*bank)[room]
    if n == 1:  # fftconvolve multiplies along an axis of length 1 instead of transforming it
        return y * ir[:1]
    n_fft = next_fast_len(n + ir.shape[0] - 1, real=True)
    spectrum = rfft(y, n_fft)
    spectrum *= _room_spectrum(*bank, room, n_fft)
    return irfft(spectrum, n_fft)[:n]


@functools.lru_cache(maxsize=8)
def _eq_octaves(n_fft: int, sr: int) -> np.ndarray:
    """Octaves from 1 kHz of the bins of an ``n_fft``-point real FFT (floored at 20 Hz), float64 (read-only)."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    octaves = np.log2(np.maximum(freqs, 20.0) / 1000.0)
    octaves.flags.writeable = False
    return octaves


@functools.lru_cache(maxsize=16)
def _unit_ramp(n: int) -> np.ndarray:
    """``np.linspace(0.0, 1.0, n)`` (read-only): rendered notes have few distinct lengths."""
    ramp = np.linspace(0.0, 1.0, n)
    ramp.flags.writeable = False
    return ramp


@functools.lru_cache(maxsize=4)
def _load_or_simulate(path: str, spec_json: str) -> np.ndarray:
    """The bank of ``spec_json`` (:func:`room_bank`'s spec), read from ``path`` once per process.

    Simulated and saved there when missing or damaged. Read-only, since every note of the process shares it.
    """
    import json

    from instrumentid.util import atomic_file

    spec = json.loads(spec_json)
    try:
        bank = np.load(path, allow_pickle=False)
        ok = bank.ndim == 2 and bank.shape[0] == spec["rooms"] and np.isfinite(bank).all()
    except (OSError, ValueError):
        ok = False
    if not ok:
        bank = _simulate_rooms(spec, sr=spec["sr"], seed=spec["room_seed"])
        with atomic_file(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, bank, allow_pickle=False)
    bank.flags.writeable = False
    return bank


def _simulate_rooms(v: dict, *, sr: int, seed: int) -> np.ndarray:
    import pyroomacoustics as pra

    rng = np.random.default_rng(seed)
    lo, hi = (np.asarray(b, dtype=float) for b in v["room_size_m"])
    irs = []
    for _ in range(v["rooms"]):
        dims = rng.uniform(lo, hi)
        rt60 = rng.uniform(*v["room_rt60_s"])
        absorption, max_order = pra.inverse_sabine(rt60, dims)
        room = pra.ShoeBox(dims, fs=sr, materials=pra.Material(absorption),
                           max_order=int(min(max_order, v["room_max_order"])), air_absorption=True)
        room.add_source(rng.uniform(0.5, dims - 0.5))
        room.add_microphone(rng.uniform(0.5, dims - 0.5))
        room.compute_rir()
        ir = np.asarray(room.rir[0][0], dtype=np.float64)
        start = int(np.argmax(np.abs(ir)))
        irs.append(ir[start:] / ir[start])
    n = max(len(ir) for ir in irs)
    return np.stack([np.pad(ir, (0, n - len(ir))) for ir in irs]).astype(np.float32)


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
    from scipy.signal import lfilter

    v = VARIATION if variation is None else variation
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    # expression: a linear ramp in dB across the note
    ramp_db = rng.uniform(-v["swell_db"], v["swell_db"]) * _unit_ramp(n)
    y = y * 10.0 ** (ramp_db / 20.0)
    # room: one of the bank's simulated rooms
    if rng.random() < v["room_probability"]:
        bank = _bank_file(v, sr)
        y = _convolve_room(y, bank, int(rng.integers(len(_room_irs(*bank)))))
    # body and microphone colour: a smooth random EQ curve, a tilt and resonances, applied in the frequency domain
    n_fft = next_fast_len(n, real=True)
    spec = rfft(y, n_fft)
    octaves = _eq_octaves(n_fft, sr)
    knots = np.linspace(np.log2(20.0 / 1000.0), np.log2(sr / 2 / 1000.0), v["eq_points"])
    gains_db = rng.normal(0.0, v["eq_db"], v["eq_points"])
    gains_db += rng.uniform(-v["tilt_db_per_octave"], v["tilt_db_per_octave"]) * knots
    curve_db = np.interp(octaves, knots, gains_db)
    for _ in range(rng.integers(v["resonances"] + 1)):
        centre = rng.uniform(np.log2(100.0 / 1000.0), np.log2(8000.0 / 1000.0))
        width = rng.uniform(*v["resonance_octaves"])
        curve_db += rng.uniform(*v["resonance_db"]) * np.exp(-0.5 * ((octaves - centre) / width) ** 2)
    spec *= 10.0 ** (curve_db / 20.0)
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

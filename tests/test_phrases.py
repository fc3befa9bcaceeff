"""Tests of instrumentid.datasets.phrases: the labelled phrases (truth is where the audio is) and their scoring.

The detector's figures on these phrases are asserted elsewhere (tests of note detection); here only the generator
and score() are tested, on few short phrases rendered from TimGM6mb (the small SoundFont inside pretty_midi).
"""

from types import SimpleNamespace

import numpy as np
import pytest

from instrumentid.datasets.phrases import CASES, KINDS, LabelledPhrase, make_phrases, score
from instrumentid.datasets.programs import DEFAULT_CLASSES
from instrumentid.datasets.render import timgm6mb
from instrumentid.errors import ParameterError
from instrumentid.settings import SR

TIM = [timgm6mb()]


@pytest.fixture(scope="module")
def phrases():
    """Two phrases of every case (all ten classes over the set)."""
    return make_phrases(n_per_case=2, soundfonts=TIM)


@pytest.fixture(scope="module")
def singles():
    """One single-note file of each variant: from sample 0, after silence, filling the file, long, piano decay."""
    return make_phrases(["single"], n_per_case=len(KINDS["single"]), soundfonts=TIM)


def _rms_db(y):
    return 10 * np.log10(np.mean(np.asarray(y, np.float64) ** 2) + 1e-20)


def _peak_db(y):
    return 20 * np.log10(np.max(np.abs(y)))


# ----------------------------------------------------------------------------------------------- the phrases
def test_every_case_and_class_is_present(phrases):
    assert [p.case for p in phrases] == [c for c in CASES for _ in range(2)]
    assert {p.instrument for p in phrases} == set(DEFAULT_CLASSES)
    assert len({p.name for p in phrases}) == len(phrases)
    for p in phrases:
        assert p.y.dtype == np.float32 and p.y.ndim == 1 and p.sr == SR
        assert np.max(np.abs(p.y)) <= 1.0
        assert p.program in DEFAULT_CLASSES[p.instrument] and p.soundfont == "TimGM6mb"
        assert p.kind == KINDS[p.case][int(p.name.split("-")[1]) % len(KINDS[p.case])]
        onsets = [n[0] for n in p.notes]
        assert onsets == sorted(onsets) and all(a < b <= p.y.size / SR for a, b, _ in p.notes)


def test_phrases_are_deterministic_and_independent_of_the_other_cases(phrases):
    again = make_phrases(["staccato", "repeated"], n_per_case=2, seed=0, soundfonts=TIM)
    chosen = [p for p in phrases if p.case in ("repeated", "staccato")]
    assert sorted(p.name for p in again) == sorted(p.name for p in chosen)
    by_name = {p.name: p for p in chosen}
    for p in again:
        np.testing.assert_array_equal(p.y, by_name[p.name].y)
        assert p.notes == by_name[p.name].notes
    other = make_phrases(["staccato"], n_per_case=1, seed=1, soundfonts=TIM)[0]
    assert other.notes != by_name[other.name].notes


def test_silent_before_the_first_onset_when_there_is_leading_silence(phrases, singles):
    led = [p for p in [*phrases, *singles] if p.kind == "lead" or p.case in ("repeated", "staccato", "vibrato")]
    assert len(led) >= 8
    for p in led:
        start = int(p.notes[0][0] * SR)
        assert start > 0.05 * SR
        assert np.max(np.abs(p.y[:start])) < 1e-6, p.name  # digital silence up to the note-on ...
        assert _rms_db(p.y[start : start + int(0.05 * SR)]) > _peak_db(p.y) - 40, p.name  # ... then the attack


def test_trimmed_phrases_sound_from_the_first_to_the_last_sample(phrases, singles):
    n = int(0.05 * SR)
    starts = [p for p in [*phrases, *singles] if p.kind in ("at_zero", "filled") or p.case == "legato"]
    ends = [p for p in [*phrases, *singles] if p.kind == "filled" or p.case == "legato"]
    assert len(starts) >= 5 and len(ends) >= 3
    for p in starts:
        assert p.notes[0][0] == 0.0
        assert abs(p.y[0]) >= 1e-3 * np.max(np.abs(p.y)), p.name  # the first sample is part of the attack
        assert _rms_db(p.y[:n]) > _peak_db(p.y) - 40, p.name
    for p in ends:  # the file stops at the last key-up: no release, no silence
        assert p.notes[-1][1] == pytest.approx(p.y.size / SR, abs=1e-6)
        assert _rms_db(p.y[-n:]) > _peak_db(p.y) - 40, p.name


def test_legato_notes_follow_each_other_and_slurs_step_1_to_12_semitones(phrases):
    for p in (q for q in phrases if q.case == "legato"):
        for (_, off, f0), (on, _, f1) in zip(p.notes, p.notes[1:], strict=False):
            assert on == pytest.approx(off)
            if p.kind == "slurs":
                assert 1 <= abs(round(12 * np.log2(f1 / f0))) <= 12


def test_single_notes_cover_every_class():
    """Every ten single notes that are not piano decays play the ten classes (the piano decays take no turn)."""
    singles = make_phrases(["single"], n_per_case=12, soundfonts=TIM)
    others = [p.instrument for p in singles if p.kind != "piano_decay"]
    assert len(others) == 10 and set(others) == set(DEFAULT_CLASSES)
    assert [p.instrument for p in singles if p.kind == "piano_decay"] == ["piano"] * 2


def test_single_note_files(singles):
    assert [p.kind for p in singles] == list(KINDS["single"])
    for p in singles:
        assert len(p.notes) == 1
        assert -40.5 <= _peak_db(p.y) <= 0.0
    long, decay = singles[3], singles[4]
    assert long.notes[0][1] - long.notes[0][0] >= 8.0
    assert decay.instrument == "piano" and decay.y.size / SR >= 15.0
    # a held piano note ends where it fades out of hearing: after its offset it stays 55 dB under its peak
    end = int((decay.notes[0][1] + 0.1) * SR)
    assert end < decay.y.size
    assert 20 * np.log10(np.max(np.abs(decay.y[end:])) / np.max(np.abs(decay.y))) < -55


def test_noise_phrase_snr(phrases):
    p = next(q for q in phrases if q.case == "noise" and q.notes[0][0] > 0.1)
    noise_db = _rms_db(p.y[: int(p.notes[0][0] * SR)])
    signal_db = _rms_db(p.y[int(p.notes[0][0] * SR) : int(p.notes[-1][1] * SR)])
    assert 17.0 <= signal_db - noise_db <= 43.0


def test_reverb_rings_after_the_last_key_up(phrases):
    for p in (q for q in phrases if q.case == "reverb"):
        assert p.y.size / SR > p.notes[-1][1] + 0.6
        assert _rms_db(p.y[int((p.notes[-1][1] + 0.1) * SR):]) > _peak_db(p.y) - 60


def test_bad_arguments_are_refused():
    with pytest.raises(ParameterError, match="cases must be among"):
        make_phrases(["choir"])
    with pytest.raises(ParameterError, match="n_per_case"):
        make_phrases(n_per_case=0)
    with pytest.raises(ParameterError, match="in time order"):
        _phrase([(0.0, 1.0, 440.0), (0.5, 1.5, 440.0)])
    with pytest.raises(ParameterError, match="float32"):
        LabelledPhrase("gaps", "lead", "x", np.zeros(10), SR, ())


# ----------------------------------------------------------------------------------------------- score
def _phrase(notes, case="gaps", duration_s=10.0, name="p"):
    return LabelledPhrase(case, KINDS[case][0], name, np.zeros(int(duration_s * SR), np.float32), SR, tuple(notes))


TRUTH = [(0.5, 1.0, 440.0), (1.0, 1.8, 523.25), (2.5, 3.0, 220.0)]


def test_the_truth_scores_one(phrases):
    figures = score(phrases, [p.notes for p in phrases])
    assert list(figures) == [*CASES, "overall"]
    for f in figures.values():
        assert f["onset_f"] == f["onset_offset_f"] == f["pitch_share"] == 1.0
        assert f["no_notes"] == 0 and f["true_notes"] == f["found_notes"]
    assert figures["single"]["exactly_one"] == 1.0 and figures["single"]["single_files"] == 2
    assert figures["gaps"]["exactly_one"] is None


def test_shifted_notes_score_zero():
    shifted = [(a + 0.2, b + 0.2, f) for a, b, f in TRUTH]
    f = score([_phrase(TRUTH)], [shifted])["overall"]
    assert f["onset_f"] == f["onset_offset_f"] == 0.0 and f["pitch_share"] is None


def test_offsets_pitches_and_the_onset_tolerance():
    found = [(0.53, 1.3, 440.0), (0.98, 1.8, 554.37), (2.45, 3.05, 225.0)]  # late end; a semitone off; 25 cents off
    f = score([_phrase(TRUTH)], [found])["overall"]
    assert f["onset_precision"] == f["onset_recall"] == pytest.approx(2 / 3)
    assert f["onset_offset_f"] == pytest.approx(1 / 3)  # 1.3 s is 0.3 s late for a 0.5 s note (tolerance 0.1 s)
    assert f["pitch_share"] == pytest.approx(2 / 3)


def test_a_phrase_scores_as_mir_eval_does(rng):
    from mir_eval.transcription import precision_recall_f1_overlap

    truth = [(t, t + 0.4, 440.0 * 2 ** (k / 12)) for k, t in enumerate(np.arange(0.2, 8.0, 0.5))]
    found = [(a + rng.normal(0, 0.04), b + rng.normal(0, 0.15), f * 2 ** (rng.normal(0, 0.4) / 12))
             for a, b, f in truth if rng.random() < 0.8]
    found = [n for n in found if n[0] < n[1]] + [(9.0, 9.5, 300.0)]
    f = score([_phrase(truth)], [found])["overall"]
    ref, est = np.array(truth), np.array(found)
    for key, ratio in (("onset", None), ("onset_offset", 0.2)):
        p, r, f1, _ = precision_recall_f1_overlap(ref[:, :2], ref[:, 2], est[:, :2], est[:, 2], offset_ratio=ratio)
        assert (f[f"{key}_precision"], f[f"{key}_recall"], f[f"{key}_f"]) == pytest.approx((p, r, f1))
        assert 0 < f1 < 1


def test_matches_are_summed_over_phrases():
    a, b = _phrase(TRUTH[:1], name="a"), _phrase(TRUTH, name="b")
    f = score([a, b], [TRUTH[:1], []])["overall"]
    assert (f["true_notes"], f["found_notes"], f["no_notes"]) == (4, 1, 1)
    assert f["onset_precision"] == 1.0 and f["onset_recall"] == 0.25 and f["onset_f"] == pytest.approx(0.4)


def test_single_files_count_exactly_one_note_and_no_notes():
    note = [(0.0, 5.0, 261.63)]
    ones = [_phrase(note, "single", name=str(i)) for i in range(4)]
    found = [note, [(0.0, 2.0, 261.63), (2.0, 5.0, 261.63)], [], [SimpleNamespace(start_s=0.01, end_s=4.9,
                                                                                   f0_hz=262.0)]]
    f = score(ones, found)["single"]
    assert f["single_files"] == 4 and f["exactly_one"] == 0.5 and f["no_notes"] == 1
    assert f["onset_recall"] == 0.75 and f["onset_precision"] == 0.75


def test_score_refuses_bad_input():
    with pytest.raises(ParameterError, match="one list of notes per phrase"):
        score([_phrase(TRUTH)], [])
    with pytest.raises(ParameterError, match="onset_s < offset_s"):
        score([_phrase(TRUTH)], [[(1.0, 0.5, 440.0)]])


def test_default_phrases_come_from_the_fixed_sources_only():
    from instrumentid.datasets.phrases import PHRASE_SOURCES
    from instrumentid.datasets.render import default_sources

    phrases = make_phrases(["legato"], n_per_case=12)
    used = {p.soundfont for p in phrases}
    assert used <= set(PHRASE_SOURCES) and len(used) >= 2  # whatever else is installed (GeneralUser GS) stays out
    assert {"GeneralUser", "freepats"} & {s.name for s in default_sources()} - used


def test_a_soundfont_that_renders_a_phrase_silent_hands_it_to_the_next(monkeypatch):
    """A SoundFont without a sample for a key renders it silent (FluidR3's violin at A#6, seed 3): the next SoundFont
    that plays the program renders the phrase, with the same random choices; none: a clear error."""
    from instrumentid.datasets import phrases as module
    from instrumentid.datasets.render import default_sources

    two = [s for s in default_sources() if s.name in ("TimGM6mb", "FluidR3")]
    (first,) = make_phrases(["staccato"], n_per_case=1, seed=5, soundfonts=two)
    render = module.render_phrase
    mute = {first.soundfont}

    def muted(notes, *, soundfont, **kwargs):
        y = render(notes, soundfont=soundfont, **kwargs)
        return np.zeros_like(y) if any(s.path == soundfont for s in two if s.name in mute) else y

    monkeypatch.setattr(module, "render_phrase", muted)
    (other,) = make_phrases(["staccato"], n_per_case=1, seed=5, soundfonts=two)
    assert other.soundfont != first.soundfont and np.abs(other.y).max() > 0
    assert [n[2] for n in other.notes] == [n[2] for n in first.notes]  # the same pitches: the same plan
    mute.add(other.soundfont)
    with pytest.raises(ParameterError, match=f"no SoundFont .* sounds program {first.program}"):
        make_phrases(["staccato"], n_per_case=1, seed=5, soundfonts=two)

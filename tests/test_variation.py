"""Tests of instrumentid.datasets.variation: the seeded variation of rendered notes."""

import numpy as np

from instrumentid.datasets.render import render_note, timgm6mb
from instrumentid.datasets.variation import VARIATION, room_bank, vary_note
from instrumentid.settings import SR


def test_vary_note_is_seeded():
    y = render_note(timgm6mb(), 0, 60, duration_s=0.5)
    a = vary_note(y, rng=np.random.default_rng(1))
    b = vary_note(y, rng=np.random.default_rng(1))
    c = vary_note(y, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[: len(c)], c[: len(a)])
    assert np.all(np.isfinite(a)) and np.max(np.abs(a)) <= 1.0


def test_lead_in_and_level_within_their_ranges():
    y = np.sin(2 * np.pi * 440 * np.arange(SR // 2) / SR).astype(np.float32)
    for seed in range(5):
        out = vary_note(y, rng=np.random.default_rng(seed))
        lead_in = len(out) - len(y)
        assert 0 <= lead_in <= VARIATION["lead_in_s"][1] * SR
        peak_db = 20 * np.log10(np.max(np.abs(out)))
        assert VARIATION["level_db"][0] - 1 <= peak_db <= VARIATION["level_db"][1] + 1


def test_no_variation_keeps_the_note():
    none = {**VARIATION, "swell_db": 0.0, "room_probability": 0.0, "eq_db": 0.0, "tilt_db_per_octave": 0.0,
            "resonances": 0, "level_db": (0.0, 0.0), "snr_db": (200.0, 200.0), "lead_in_s": (0.0, 0.0)}
    y = np.sin(2 * np.pi * 440 * np.arange(SR // 2) / SR)
    out = vary_note(y, rng=np.random.default_rng(0), variation=none)
    np.testing.assert_allclose(out, y / np.max(np.abs(y)), atol=1e-4)


SMALL_BANK = {**VARIATION, "rooms": 3, "room_rt60_s": (0.3, 0.6), "room_max_order": 10}


def test_room_bank_is_simulated_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTRUMENTID_CACHE", str(tmp_path))
    bank = room_bank(variation=SMALL_BANK)
    assert bank.shape[0] == 3 and bank.dtype == np.float32 and np.isfinite(bank).all()
    np.testing.assert_array_equal(bank[:, 0], 1.0)  # the direct sound first, at unit gain
    # a reverberant tail: energy after 50 ms, decaying
    tail = bank[:, int(0.05 * SR):]
    assert np.all(np.sum(tail**2, axis=1) > 1e-4)
    assert list((tmp_path / "rooms").glob("rooms-*.npy"))
    np.testing.assert_array_equal(room_bank(variation=SMALL_BANK), bank)  # read back, not simulated again
    other = room_bank(variation={**SMALL_BANK, "room_seed": 1})
    assert not np.array_equal(other[:, :100], bank[:, :100])


def test_rooms_and_resonances_colour_the_note(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTRUMENTID_CACHE", str(tmp_path))
    y = np.sin(2 * np.pi * 440 * np.arange(SR // 2) / SR).astype(np.float32)
    plain = {**SMALL_BANK, "swell_db": 0.0, "room_probability": 0.0, "eq_db": 0.0, "tilt_db_per_octave": 0.0,
             "resonances": 0, "level_db": (0.0, 0.0), "snr_db": (200.0, 200.0), "lead_in_s": (0.0, 0.0)}
    dry = vary_note(y, rng=np.random.default_rng(0), variation=plain)
    roomy = vary_note(y, rng=np.random.default_rng(0), variation={**plain, "room_probability": 1.0})
    assert roomy.shape == dry.shape and np.max(np.abs(roomy - dry)) > 0.05
    coloured = vary_note(y, rng=np.random.default_rng(3), variation={**plain, "resonances": 3,
                                                                      "resonance_db": (6.0, 8.0)})
    assert not np.allclose(coloured, dry, atol=1e-3)


def test_what_vary_note_keeps_between_notes_is_what_it_computed_per_note(tmp_path, monkeypatch):
    from instrumentid.datasets import variation

    monkeypatch.setenv("INSTRUMENTID_CACHE", str(tmp_path))
    bank = room_bank(variation=SMALL_BANK)
    irs = variation._room_irs(*variation._bank_file(SMALL_BANK, SR))
    assert len(irs) == bank.shape[0]
    for ir, row in zip(irs, bank, strict=True):  # each response cut after its last non-zero sample
        assert ir.tobytes() == row[: int(np.max(np.nonzero(row)[0])) + 1].tobytes() and not ir.flags.writeable
    for n_fft in (2048, 26460):
        expected = np.log2(np.maximum(np.fft.rfftfreq(n_fft, 1.0 / SR), 20.0) / 1000.0)
        assert variation._eq_octaves(n_fft, SR).tobytes() == expected.tobytes()
    assert variation._unit_ramp(1234).tobytes() == np.linspace(0.0, 1.0, 1234).tobytes()


def test_room_convolution_is_fftconvolve_to_the_bit(tmp_path, monkeypatch, rng):
    from scipy.signal import fftconvolve

    from instrumentid.datasets import variation

    monkeypatch.setenv("INSTRUMENTID_CACHE", str(tmp_path))
    room_bank(variation=SMALL_BANK)
    bank = variation._bank_file(SMALL_BANK, SR)
    irs = variation._room_irs(*bank)
    for n in (1, 2048, 12127, 12127, 27562):  # a length again: the kept spectrum
        for room in range(len(irs)):
            y = rng.standard_normal(n)
            expected = fftconvolve(y, irs[room])[:n]
            assert variation._convolve_room(y, bank, room).tobytes() == expected.tobytes()
    spectrum = variation._room_spectrum(*bank, 0, 20000)
    assert spectrum.dtype == np.complex64 and spectrum.shape == (10001,) and not spectrum.flags.writeable

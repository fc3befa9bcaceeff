"""Settings as values: validation, the JSON round trip, cache keys and the comparison of saved settings."""

import dataclasses

import pytest

from instrumentid.errors import ParameterError
from instrumentid.settings import (
    DEFAULT_FEATURES,
    DEFAULT_NOTES,
    DEFAULT_TRAINING,
    FeatureSettings,
    NoteSettings,
    TrainingSettings,
    check_same,
    settings_key,
)


@pytest.mark.parametrize("cls", [NoteSettings, FeatureSettings, TrainingSettings])
def test_round_trip_and_frozen(cls):
    settings = cls()
    assert cls.from_dict(settings.to_dict()) == settings
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.version = 3  # type: ignore[misc]


def test_defaults_are_the_labs():
    assert (DEFAULT_TRAINING.epochs, DEFAULT_TRAINING.batch_size, DEFAULT_TRAINING.hidden_units) == (10, 128, 256)
    assert DEFAULT_TRAINING.lr == 1e-3 and DEFAULT_TRAINING.rates == (0.1, 0.01, 0.001, 0.0001)
    assert DEFAULT_TRAINING.sweep_epochs == 20 and DEFAULT_TRAINING.activation == "sigmoid"
    assert DEFAULT_FEATURES.n_features == len(DEFAULT_FEATURES.feature_names) == 120


def test_layout_follows_the_settings():
    settings = FeatureSettings(n_mfcc=13, n_bands=4, n_envelope=6, n_harmonics=8)
    assert settings.blocks["mfcc_mean"] == 13 and settings.blocks["contrast_std"] == 5
    assert settings.n_features == 4 * 13 + 2 * 5 + 8 + 8 + 6 == len(settings.feature_names)
    slices = settings.block_slices()
    assert slices["pitchnorm"].stop == settings.n_features


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (NoteSettings, {"top_db": 0}, "top_db must be a finite number > 0"),
        (NoteSettings, {"fmin": 500.0, "fmax": 100.0}, "fmin < fmax"),
        (NoteSettings, {"fmin": 5.0}, "pitch range"),
        (NoteSettings, {"hop_length": 2.5}, "hop_length must be an integer"),
        (NoteSettings, {"release_db": float("nan")}, "release_db"),
        (NoteSettings, {"onset_rise": 1.0}, "onset_rise must be a fraction under 1"),
        (NoteSettings, {"weak_fundamental_fmin": 0.0}, "weak_fundamental_fmin must be a finite number > 0"),
        (FeatureSettings, {"sr": 44100}, "analysis rate"),
        (FeatureSettings, {"n_mfcc": 200}, "n_mfcc must be <= n_mels"),
        (FeatureSettings, {"f0_range_hz": (400.0, 100.0)}, "f0_range_hz"),
        (FeatureSettings, {"normalize": "rms"}, "normalize"),
        (TrainingSettings, {"epochs": 0}, "epochs"),
        (TrainingSettings, {"lr": -1.0}, "lr"),
        (TrainingSettings, {"rates": (0.1, 0.1)}, "distinct"),
        (TrainingSettings, {"activation": "gelu"}, "activation"),
        (TrainingSettings, {"batch_size": True}, "batch_size must be an integer"),
    ],
)
def test_bad_values_are_named(cls, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        cls(**kwargs)


def test_from_dict_refuses_other_layouts():
    data = DEFAULT_NOTES.to_dict()
    with pytest.raises(ParameterError, match="unknown \\['colour'\\]"):
        NoteSettings.from_dict({**data, "colour": 1})
    data.pop("top_db")
    with pytest.raises(ParameterError, match="missing \\['top_db'\\]"):
        NoteSettings.from_dict(data)
    with pytest.raises(ParameterError, match="JSON object"):
        NoteSettings.from_dict([1, 2])


def test_older_note_settings_load_with_the_defaults_of_newer_fields():
    """Settings saved by NoteSettings version 4 (a shipped model, a data set) have no snap_before_s/snap_after_s."""
    old = {k: v for k, v in DEFAULT_NOTES.to_dict().items() if k not in ("snap_before_s", "snap_after_s")}
    loaded = NoteSettings.from_dict({**old, "version": 4, "held_attack_db": 20.0})
    assert loaded.version == 4 and loaded.held_attack_db == 20.0
    assert (loaded.snap_before_s, loaded.snap_after_s) == (DEFAULT_NOTES.snap_before_s, DEFAULT_NOTES.snap_after_s)
    with pytest.raises(ParameterError, match="missing \\['snap_after_s', 'snap_before_s'\\]"):
        NoteSettings.from_dict({**old, "version": 5})  # a version that has them must carry them
    with pytest.raises(ParameterError, match="missing \\['snap_after_s'"):
        NoteSettings.from_dict({**old, "version": "4"})  # not a version: nothing is filled in



def test_version_5_note_settings_load_with_the_defaults_of_version_6():
    """The shipped model's NoteSettings version 5 have no held_noise_db, drift_semitones, octave_partial_db."""
    added = ("held_noise_db", "drift_semitones", "octave_partial_db")
    old = {k: v for k, v in DEFAULT_NOTES.to_dict().items() if k not in added}
    loaded = NoteSettings.from_dict({**old, "version": 5})
    assert loaded.version == 5 and [getattr(loaded, k) for k in added] == [7.0, 0.25, 19.0]
    with pytest.raises(ParameterError, match="missing \\['drift_semitones', 'held_noise_db', 'octave_partial_db'\\]"):
        NoteSettings.from_dict({**old, "version": 6})
    with pytest.raises(ParameterError, match="held_noise_db"):
        NoteSettings(held_noise_db=-1.0)


def test_version_6_note_settings_load_with_the_defaults_of_version_7():
    """Settings saved with NoteSettings version 6 (a model, a data set) lack the nine fields version 7 added."""
    added = [name for name, version in NoteSettings._ADDED.items() if version == 7]
    assert len(added) == 9
    old = {k: v for k, v in DEFAULT_NOTES.to_dict().items() if k not in added}
    loaded = NoteSettings.from_dict({**old, "version": 6})
    assert loaded.version == 6 and all(getattr(loaded, k) == getattr(DEFAULT_NOTES, k) for k in added)
    with pytest.raises(ParameterError, match="missing \\['onset_rise', 'ringing_s', 'shared_subharmonic_db'"):
        NoteSettings.from_dict({**old, "version": 7})


def test_version_7_note_settings_load_with_the_defaults_of_version_8():
    """Settings saved with NoteSettings version 7 lack the four fields version 8 added."""
    added = [name for name, version in NoteSettings._ADDED.items() if version == 8]
    assert added == ["faint_flux", "regain_db", "ringing_release_s", "ringing_decay_db"]
    old = {k: v for k, v in DEFAULT_NOTES.to_dict().items() if k not in added}
    loaded = NoteSettings.from_dict({**old, "version": 7})
    assert loaded.version == 7 and [getattr(loaded, k) for k in added] == [10.0, 12.0, 1.0, 0.5]
    with pytest.raises(ParameterError, match="missing \\['faint_flux', 'regain_db', 'ringing_decay_db'"):
        NoteSettings.from_dict({**old, "version": 8})
    with pytest.raises(ParameterError, match="regain_db"):
        NoteSettings(regain_db=-1.0)


def test_every_setting_changes_the_key():
    keys = {DEFAULT_NOTES.key()}
    for f in dataclasses.fields(NoteSettings):
        value = getattr(DEFAULT_NOTES, f.name)
        changed = dataclasses.replace(DEFAULT_NOTES, **{f.name: value * 2 if f.name != "fmax" else value / 2})
        keys.add(changed.key())
    assert len(keys) == 1 + len(dataclasses.fields(NoteSettings))
    assert settings_key({"a": 1}) != settings_key({"a": 2}) and len(settings_key({})) == 16


def test_check_same_names_each_difference():
    check_same(DEFAULT_NOTES.to_dict(), DEFAULT_NOTES, name="model 'm'", what="note detection")
    saved = {**DEFAULT_NOTES.to_dict(), "top_db": 40.0, "rise_db": 3.0}
    with pytest.raises(ParameterError, match=r"model 'm' was made with other note detection settings "
                                             r"\(rise_db: 3.0 in the model, 6.0 now; top_db: 40.0 in the model"):
        check_same(saved, DEFAULT_NOTES, name="model 'm'", what="note detection")
    with pytest.raises(ParameterError, match="carries no feature settings"):
        check_same(None, DEFAULT_FEATURES, name="model 'm'", what="feature")


def test_an_embedding_follows_the_descriptors():
    from instrumentid.settings import EMBEDDINGS, SHIPPED_FEATURES

    assert DEFAULT_FEATURES.embedding is None and DEFAULT_FEATURES.branches == (120,)
    assert SHIPPED_FEATURES.embedding == "MSD_musicnn" and SHIPPED_FEATURES.embedding_frames == 63
    assert SHIPPED_FEATURES.n_descriptors == 120 and SHIPPED_FEATURES.n_embedding == EMBEDDINGS["MSD_musicnn"] == 1506
    assert SHIPPED_FEATURES.n_features == 1626 and SHIPPED_FEATURES.branches == (120, 1506)
    names = SHIPPED_FEATURES.feature_names
    assert len(names) == 1626 and names[:120] == DEFAULT_FEATURES.feature_names
    assert names[120] == "MSD_musicnn_mean0" and names[-1] == "MSD_musicnn_max752"
    assert FeatureSettings.from_dict(SHIPPED_FEATURES.to_dict()) == SHIPPED_FEATURES
    assert SHIPPED_FEATURES.key() != DEFAULT_FEATURES.key()
    assert dataclasses.replace(SHIPPED_FEATURES, embedding_frames=32).key() != SHIPPED_FEATURES.key()


def test_optional_fields_left_out_at_their_defaults():
    """Adding the embedding changed no saved feature settings and no cache key: its fields are left out unset."""
    saved = DEFAULT_FEATURES.to_dict()
    assert "embedding" not in saved and "embedding_frames" not in saved
    assert DEFAULT_FEATURES.key() == settings_key(saved)
    assert FeatureSettings.from_dict(saved) == DEFAULT_FEATURES  # settings saved before the fields existed
    with pytest.raises(ParameterError, match="unknown \\['embeding'\\]"):
        FeatureSettings.from_dict({**saved, "embeding": "MSD_musicnn"})


@pytest.mark.parametrize("kwargs, match", [
    ({"embedding": "VGGish"}, "embedding must be None or one of \\['MSD_musicnn'\\], got 'VGGish'"),
    ({"embedding": "MSD_musicnn", "embedding_frames": 188}, "embedding_frames must be at most 187, got 188"),
    ({"embedding": "MSD_musicnn", "embedding_frames": 0}, "embedding_frames must be a finite number >= 1"),
    # unhashable names raised TypeError from the lookup
    ({"embedding": ["MSD_musicnn"]}, "embedding must be None or one of \\['MSD_musicnn'\\], got \\['MSD_musicnn'\\]"),
    ({"embedding": {"name": "MSD_musicnn"}}, "embedding must be None or one of"),
])
def test_bad_embeddings_are_named(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        FeatureSettings(**kwargs)

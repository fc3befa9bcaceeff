"""The command line: dispatch by table, option defaults from the settings, one decode per recording."""

import argparse

import numpy as np
import pytest
import synth

from instrumentid import cli
from instrumentid.settings import DEFAULT_FEATURES, DEFAULT_NOTES, DEFAULT_TRAINING

SR = 22050


def _commands(parser, prefix=()):
    """``(words, sub-parser)`` of every leaf command of ``parser``."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _commands(sub, (*prefix, name))


def test_every_command_has_a_handler_in_the_table():
    handlers = {words: sub.get_default("handler") for words, sub in _commands(cli.build_parser())}
    assert len(handlers) == 14 and ("dataset", "build") in handlers and ("model", "info") in handlers
    assert ("app",) in handlers
    assert set(handlers.values()) == set(cli.HANDLERS)
    assert all(callable(h) for h in cli.HANDLERS.values())


def test_training_option_defaults_are_the_settings():
    parser, t = cli.build_parser(), DEFAULT_TRAINING
    lab = parser.parse_args(["lab"])
    assert (lab.epochs, lab.batch_size, lab.hidden_units, lab.lr, lab.seed, lab.sweep_epochs) == (
        t.epochs, t.batch_size, t.hidden_units, t.lr, t.seed, t.sweep_epochs)
    assert tuple(lab.rates) == t.rates
    sweep = parser.parse_args(["sweep"])
    assert sweep.epochs == t.sweep_epochs and tuple(sweep.rates) == t.rates
    train = parser.parse_args(["train"])
    assert (train.epochs, train.lr) == (t.epochs, t.lr)


def test_dispatch_goes_through_the_table(monkeypatch):
    seen = []
    monkeypatch.setitem(cli.HANDLERS, "report", lambda args: seen.append(args.run) or 7)
    assert cli.main(["report", "."]) == 7 and len(seen) == 1


@pytest.fixture(scope="module")
def model_and_recording(tmp_path_factory):
    from instrumentid.classifier import InstrumentClassifier

    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, DEFAULT_FEATURES.n_features))
    clf = InstrumentClassifier(hidden_units=8, epochs=1, feature_settings=DEFAULT_FEATURES,
                               note_settings=DEFAULT_NOTES).fit(X, np.repeat(["flute", "oboe"], 30))
    y = synth.render_phrase([(73, 72, 0.1, 0.6, 90), (73, 76, 0.9, 0.6, 90)], sr=SR)
    return clf.save(folder / "model"), synth.write(folder / "two.wav", y, sr=SR)


def test_predict_plot_decodes_each_file_once(model_and_recording, tmp_path, monkeypatch, capsys):
    from instrumentid import analysis

    model, wav = model_and_recording
    calls = []
    load_audio = analysis.load_audio
    monkeypatch.setattr(analysis, "load_audio", lambda *a, **k: calls.append(a[0]) or load_audio(*a, **k))
    assert cli.main(["predict", str(wav), "--model", str(model), "--plot", str(tmp_path), "--quiet"]) == 0
    assert calls == [wav]
    assert (tmp_path / "two.notes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "two.wav" in capsys.readouterr().out


def test_spectrogram_command(model_and_recording, tmp_path, capsys):
    _, wav = model_and_recording
    out = tmp_path / "s.png"
    assert cli.main(["spectrogram", str(wav), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(out) in capsys.readouterr().out

"""The ``instrumentid`` command: a thin layer over the Python API.

:func:`build_parser` describes the commands, :data:`HANDLERS` maps each to the function that runs it, and
:func:`main` dispatches. Nothing heavy (numpy, torch, librosa, matplotlib) is imported before the arguments are
parsed, so ``--help`` is fast. Every :class:`~instrumentid.errors.InstrumentIdError` becomes one line on stderr and
exit code 2. Option defaults come from :data:`~instrumentid.settings.DEFAULT_TRAINING`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from instrumentid import __version__
from instrumentid.calibration import DEFAULT_MIN_CONFIDENCE, UNKNOWN
from instrumentid.errors import InstrumentIdError
from instrumentid.settings import DEFAULT_TRAINING, EMBEDDINGS, FeatureSettings, TrainingSettings

__all__ = ["HANDLERS", "build_parser", "main"]


# ----------------------------------------------------------------------------------------------- argparse types
def _number(text: str, kind, ok, expected: str):
    """Parse ``text`` with ``kind`` and check it with ``ok``; argparse reports ``expected`` otherwise."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v > 0, "a positive integer")


def seed(text: str) -> int:
    """A random seed: an integer in [0, 2**32) (what numpy and torch accept)."""
    return _number(text, int, lambda v: 0 <= v < 2**32, "an integer seed from 0 to 4294967295")


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: 0 < v < float("inf"), "a positive number")


def non_negative_float(text: str) -> float:
    return _number(text, float, lambda v: 0 <= v < float("inf"), "a number >= 0")


def fraction(text: str) -> float:
    return _number(text, float, lambda v: 0 < v < 1, "a number in (0, 1)")


def probability(text: str) -> float:
    return _number(text, float, lambda v: 0 <= v <= 1, "a probability from 0 to 1")


def port(text: str) -> int:
    return _number(text, int, lambda v: 1 <= v <= 65535, "a port number from 1 to 65535")


def existing_path(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file or folder: {text!r}")
    return path


def existing_dir(text: str) -> Path:
    path = existing_path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"not a folder: {text!r}")
    return path


def existing_file(text: str) -> Path:
    path = existing_path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"not a file: {text!r}")
    return path


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and one line of error (argparse's own convention), kept for every sub-parser."""

    def error(self, message):  # pragma: no cover - exercised through main()
        self.exit(2, f"{self.prog}: error: {message}\n")


# ----------------------------------------------------------------------------------------------- the parser
def _add_training_options(p, *, epochs: int) -> None:
    t = DEFAULT_TRAINING
    p.add_argument("--epochs", type=positive_int, default=epochs, help=f"training epochs (default {epochs})")
    p.add_argument("--batch-size", type=positive_int, default=t.batch_size,
                   help=f"mini-batch size (default {t.batch_size})")
    p.add_argument("--hidden-units", type=positive_int, default=t.hidden_units,
                   help=f"hidden layer width (default {t.hidden_units})")
    p.add_argument("--seed", type=seed, default=t.seed, help=f"random seed, 0 to 2**32 - 1 (default {t.seed})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_lr_option(p) -> None:
    lr = DEFAULT_TRAINING.lr
    p.add_argument("--lr", type=positive_float, default=lr, help=f"Adam learning rate (default {lr:g})")


def _add_rates_option(p, *, text: str) -> None:
    p.add_argument("--rates", type=positive_float, nargs="+", default=list(DEFAULT_TRAINING.rates), help=text)


def _add_file_options(p, *, plot_help: str) -> None:
    """The options of the commands that go through recordings one by one (predict, notes)."""
    p.add_argument("inputs", nargs="+", type=existing_path, metavar="FILE_OR_DIR", help="audio files or folders")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    p.add_argument("--out", type=Path, help="write the output to this file instead of stdout")
    p.add_argument("--plot", type=Path, metavar="DIR", help=plot_help)
    p.add_argument("--max-minutes", type=positive_float, default=20.0,
                   help="longest recording accepted, in minutes (default 20; memory grows with the length)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_backend_options(parser: argparse.ArgumentParser, backend_help: str) -> None:
    """``--backend local|ray`` and ``--ray-address`` of the two corpus commands (predict, dataset build)."""
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help=backend_help + ' (ray: pip install "instrumentid[ray]")')
    parser.add_argument("--ray-address", metavar="ADDR",
                        help="with --backend ray: the Ray cluster to join (default RAY_ADDRESS, else a local Ray)")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``instrumentid`` argument parser (tests call it with a list of arguments)."""
    parser = _Parser(
        prog="instrumentid",
        description="Tell which musical instrument is playing: from a note, a recording, or a data set of features.",
    )
    parser.add_argument("--version", action="version", version=f"instrumentid {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("lab", help="run the whole lab: spectrogram, features, data, model, training, sweep, plots")
    p.add_argument("--data", type=existing_dir, help="folder of the four UIowa .npy files (default: built-in data)")
    p.add_argument("--out", type=Path, help="run folder to write (default runs/lab-TIMESTAMP)")
    p.add_argument("--audio", type=existing_file, help="recording for steps 1-2 (default: a rendered example)")
    _add_training_options(p, epochs=DEFAULT_TRAINING.epochs)
    _add_lr_option(p)
    _add_rates_option(p, text="sweep rates")
    p.add_argument("--sweep-epochs", type=positive_int, default=DEFAULT_TRAINING.sweep_epochs,
                   help=f"epochs per sweep rate (default {DEFAULT_TRAINING.sweep_epochs})")
    p.add_argument("--no-sweep", action="store_true", help="skip the learning-rate sweep (steps 8-9)")
    p.set_defaults(handler="lab")

    p = sub.add_parser("train", help="train the lab's network on a data set and save a run folder")
    p.add_argument("--data", type=existing_dir, help="data set folder (default: built-in data)")
    p.add_argument("--out", type=Path, help="run folder to write (default runs/train-TIMESTAMP)")
    _add_training_options(p, epochs=DEFAULT_TRAINING.epochs)
    _add_lr_option(p)
    p.add_argument("--activation", choices=TrainingSettings.ACTIVATIONS, default=DEFAULT_TRAINING.activation,
                   help=f"hidden-layer activation (default {DEFAULT_TRAINING.activation})")
    p.add_argument("--input-noise", type=non_negative_float, default=DEFAULT_TRAINING.input_noise, metavar="STD",
                   help="Gaussian noise added to the standardized training features of every batch; helps on "
                        f"recordings the model never heard (default {DEFAULT_TRAINING.input_noise:g}: none)")
    p.add_argument("--members", type=positive_int, default=DEFAULT_TRAINING.members, metavar="K",
                   help="train K networks with consecutive seeds and save them merged into one whose scores are "
                        f"their mean: an ensemble that varies less from seed to seed (default "
                        f"{DEFAULT_TRAINING.members}: one network)")
    p.set_defaults(handler="train")

    p = sub.add_parser("sweep", help="learning-rate sweep: a fresh model per rate")
    p.add_argument("--data", type=existing_dir, help="data set folder (default: built-in data)")
    p.add_argument("--out", type=Path, help="run folder to write (default runs/sweep-TIMESTAMP)")
    _add_training_options(p, epochs=DEFAULT_TRAINING.sweep_epochs)
    _add_rates_option(p, text="learning rates")
    p.set_defaults(handler="sweep")

    p = sub.add_parser("plot", help="redraw the figures of a run folder from its saved histories")
    p.add_argument("run", type=existing_dir, help="run folder from lab, train or sweep")
    p.set_defaults(handler="plot")

    p = sub.add_parser("model", help="describe a saved model")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", parser_class=_Parser)
    msub.required = True
    m = msub.add_parser("info", help="what a model predicts, how and on what it was trained, versions and hashes")
    m.add_argument("model", nargs="?", type=existing_path,
                   help="model or run folder, model.json or exported .onnx (default: the built-in model)")
    m.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    m.set_defaults(handler="model_info")

    p = sub.add_parser("dataset", help="build or describe a feature data set")
    dsub = p.add_subparsers(dest="dataset_command", metavar="ACTION", parser_class=_Parser)
    dsub.required = True
    d = dsub.add_parser("info", help="counts per class (and per source) of a data set folder")
    d.add_argument("path", type=existing_dir, help="data set folder (UIowa layout)")
    d.set_defaults(handler="dataset_info")
    d = dsub.add_parser("build", help="build the default SoundFont data set, or one from a folder of audio")
    d.add_argument("--soundfont", type=existing_file, action="append", help="SF2/SF3 file (repeatable)")
    d.add_argument("--programs", type=existing_file, help="JSON/TOML map of class name -> General-MIDI programs")
    d.add_argument("--split", choices=("pitch", "source"), default="pitch", help="grouped split (default pitch)")
    d.add_argument("--test-source", help="with --split source: the SoundFont held out for testing")
    d.add_argument("--from-folder", type=existing_dir, help="folder with one sub-folder of audio per class")
    d.add_argument("--test-size", type=fraction, default=0.2, help="test fraction for --from-folder (default 0.2)")
    d.add_argument("--split-csv", type=existing_file, help="explicit split for --from-folder: CSV path,split")
    d.add_argument("--jobs", type=positive_int, help="worker processes (default: all cores)")
    d.add_argument("--seed", type=seed, default=0, help="random seed, 0 to 2**32 - 1 (default 0)")
    d.add_argument("--out", type=Path, help="folder to write (default: the cache)")
    d.add_argument("--force", action="store_true", help="rebuild even if a cached copy exists")
    d.add_argument("--embedding", choices=tuple(EMBEDDINGS),
                   help="also compute this pretrained network's pooled embedding of every note after the 120 "
                        "features (the shipped model's features); train then fits one network on each part")
    d.add_argument("--embedding-frames", type=positive_int, metavar="N",
                   help="with --embedding: the frames of 16 ms of each note it sees (default "
                        f"{FeatureSettings().embedding_frames}: the first second)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_backend_options(d, "with --from-folder: local worker processes (default) or a Ray Data pipeline, which "
                            "also writes the notes as Parquet in OUT/notes and resumes")
    d.set_defaults(handler="dataset_build")

    p = sub.add_parser("predict", help="name the instrument of every note in recordings")
    _add_file_options(p, plot_help="save a labelled spectrogram per file in DIR")
    p.add_argument("--model", type=existing_path, help="model or run folder (default: the built-in model)")
    p.add_argument("--min-confidence", type=probability, default=DEFAULT_MIN_CONFIDENCE, metavar="P",
                   help=f"a note whose most probable instrument has a (calibrated) probability below P is shown as "
                        f"instrument {UNKNOWN!r}, with its guesses still listed; so is a recording whose mean "
                        f"probability is below P. 0 never says {UNKNOWN!r} (default {DEFAULT_MIN_CONFIDENCE:g})")
    _add_backend_options(p, "local: this process (default); ray: a Ray Data pipeline writing Parquet, one row per "
                            "note, into the folder --out, skipping files already there")
    p.set_defaults(handler="predict")

    p = sub.add_parser("app", help="a local web page: drop or record a recording, see its notes and instruments")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to serve on (default 127.0.0.1: this machine only; 0.0.0.0: the network)")
    p.add_argument("--port", type=port, default=7860, help="TCP port (default 7860)")
    p.add_argument("--model", type=existing_path, help="model or run folder to start with (default: the built-in "
                                                       "model; the page can pick another)")
    p.set_defaults(handler="app")

    p = sub.add_parser("notes", help="the notes found in recordings (onset, offset, pitch), without a model")
    _add_file_options(p, plot_help="save a spectrogram per file with its notes boxed in DIR")
    p.set_defaults(handler="notes")

    p = sub.add_parser("spectrogram", help="draw the mel spectrogram of a recording (the lab's step 1)")
    p.add_argument("file", type=existing_file, help="audio file")
    p.add_argument("--out", type=Path, help="PNG to write (default FILE.mel.png beside the input)")
    p.set_defaults(handler="spectrogram")

    p = sub.add_parser("evaluate", help="accuracy, per-class precision/recall/F1 and a confusion matrix")
    p.add_argument("--model", type=existing_path, required=True, help="model or run folder")
    p.add_argument("--data", type=existing_dir, help="data set folder (default: built-in data)")
    p.add_argument("--out", type=Path, help="folder for evaluation.json and confusion_matrix.png")
    p.add_argument("--by-source", action="store_true",
                   help="also the accuracy, per-class figures, confusion matrix and calibration error of each source "
                        "(the 'source' column of the data set's metadata.csv)")
    p.set_defaults(handler="evaluate")

    p = sub.add_parser("export", help="export a model to ONNX (standardization inside, class names in metadata)")
    p.add_argument("model", type=existing_path, help="model or run folder")
    p.add_argument("--onnx", type=Path, required=True, metavar="OUT.onnx", help="ONNX file to write")
    p.set_defaults(handler="export")

    p = sub.add_parser("report", help="write the HTML report of a run folder")
    p.add_argument("run", type=existing_dir, help="run folder")
    p.add_argument("--out", type=Path, help="HTML file (default RUN/report.html)")
    p.set_defaults(handler="report")
    return parser


# ----------------------------------------------------------------------------------------------- handlers
# Each handler takes the parsed arguments and returns an exit code; the work is done by the Python API.


def _cmd_lab(args) -> int:
    from instrumentid import lab

    lab.run_lab(
        data=args.data, out=args.out, audio=args.audio, epochs=args.epochs, batch_size=args.batch_size,
        hidden_units=args.hidden_units, lr=args.lr, rates=args.rates, sweep_epochs=args.sweep_epochs,
        sweep=not args.no_sweep, seed=args.seed, progress=not args.quiet,
    )
    return 0


def _cmd_train(args) -> int:
    from instrumentid import lab

    lab.run_train(
        data=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
        hidden_units=args.hidden_units, lr=args.lr, seed=args.seed, activation=args.activation,
        input_noise=args.input_noise, members=args.members, progress=not args.quiet,
    )
    return 0


def _cmd_sweep(args) -> int:
    from instrumentid import lab

    lab.run_sweep(
        data=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
        hidden_units=args.hidden_units, rates=args.rates, seed=args.seed, progress=not args.quiet,
    )
    return 0


def _cmd_plot(args) -> int:
    from instrumentid import lab

    for path in lab.plot_run(args.run):
        print(f"wrote {path}")
    return 0


def _cmd_dataset_info(args) -> int:
    from instrumentid.datasets.uiowa import describe, load_uiowa

    print(describe(load_uiowa(args.path)))
    return 0


def _cmd_model_info(args) -> int:
    import json

    from instrumentid.modelcard import NOT_RECORDED, card_facts
    from instrumentid.prediction import DEFAULT_MODEL

    facts = card_facts(DEFAULT_MODEL if args.model is None else args.model)
    if args.format == "json":
        print(json.dumps(facts, indent=2))
        return 0

    def text(value, nested: bool = False) -> str:
        if value is None:
            return NOT_RECORDED
        if isinstance(value, dict):
            inner = ", ".join(f"{k} {text(v, True)}" for k, v in value.items())
            return f"({inner})" if nested else inner
        if isinstance(value, list) and not nested:
            return ", ".join(map(str, value))
        return str(value)

    for key, value in facts.items():
        print(f"{key + ':':<18}{text(value)}")
    return 0


def _cmd_dataset_build(args) -> int:
    if args.backend != "ray" and args.ray_address is not None:
        raise InstrumentIdError("--ray-address needs --backend ray")
    if args.embedding_frames is not None and args.embedding is None:
        raise InstrumentIdError("--embedding-frames needs --embedding")
    features = None if args.embedding is None else FeatureSettings(
        embedding=args.embedding, embedding_frames=args.embedding_frames or FeatureSettings().embedding_frames)
    if args.from_folder is not None and args.backend == "ray":
        if (args.soundfont or args.programs or args.test_source or args.split != "pitch" or args.jobs is not None
                or args.embedding):
            raise InstrumentIdError("--from-folder --backend ray excludes --soundfont, --programs, --split, "
                                    "--test-source, --jobs and --embedding")
        from instrumentid.distributed import build_dataset

        ds = build_dataset(args.from_folder, out=args.out, test_size=args.test_size, split_csv=args.split_csv,
                           seed=args.seed, force=args.force, progress=not args.quiet, address=args.ray_address)
    elif args.from_folder is not None:
        if args.soundfont or args.programs or args.test_source or args.split != "pitch":
            raise InstrumentIdError("--from-folder excludes --soundfont, --programs, --split and --test-source")
        from instrumentid.datasets.folder import build_folder_dataset

        ds = build_folder_dataset(
            args.from_folder, out=args.out, test_size=args.test_size, split_csv=args.split_csv, jobs=args.jobs,
            seed=args.seed, force=args.force, progress=not args.quiet, feature_settings=features,
        )
    else:
        if args.backend == "ray":
            raise InstrumentIdError("--backend ray needs --from-folder (the SoundFont data set is built locally)")
        if args.test_source is not None and args.split != "source":
            raise InstrumentIdError(f"--test-source {args.test_source!r} needs --split source")
        from instrumentid.datasets.soundfont import build_soundfont_dataset

        ds = build_soundfont_dataset(
            args.soundfont, programs=args.programs, split=args.split, test_source=args.test_source, out=args.out,
            seed=args.seed, jobs=args.jobs, force=args.force, progress=not args.quiet, feature_settings=features,
        )
    print(f"{ds.path}: {len(ds.y_train)} train / {len(ds.y_test)} test notes, {ds.n_classes} classes "
          f"({', '.join(ds.class_names)})")
    return 0


def _for_each_file(args, *, desc: str, analyse, draw, render) -> int:
    """Run ``analyse(path)`` on every input file; report per-file errors; plot; print or write the rendered output.

    ``analyse`` returns a result with ``.notes`` (a file without notes is an error); ``draw(result, path)`` returns
    a figure for ``--plot`` (saved as ``DIR/<stem>.notes.png``); ``render(results, fmt=...)`` the text of
    ``--format``. Returns the exit code: 0, 1 when
    some inputs failed, 2 when the only input did.
    """
    from tqdm import tqdm

    from instrumentid import plots
    from instrumentid.analysis import no_notes_message
    from instrumentid.errors import ParameterError
    from instrumentid.prediction import find_audio_files
    from instrumentid.util import atomic_write_text

    files = find_audio_files(args.inputs)
    if args.out is not None and args.out.is_dir():
        raise ParameterError(f"--out must be a file, got a folder: {str(args.out)!r}")
    results, failed, plot_names = [], 0, set()
    for path in tqdm(files, unit="file", desc=desc, disable=True if args.quiet or len(files) < 2 else None):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = analyse(path)
            messages = [m.removeprefix(f"{path.name}: ") for m in dict.fromkeys(str(w.message) for w in caught)]
            if not result.notes:
                raise ParameterError(no_notes_message(str(path), messages))
            for message in messages:
                tqdm.write(f"instrumentid: warning: {path}: {message}", file=sys.stderr)
            if args.plot is not None:
                stem = path.stem
                for i in range(2, len(files) + 2):
                    if stem not in plot_names:
                        break
                    stem = f"{path.stem}-{i}"
                plot_names.add(stem)
                plots.save_figure(draw(result, path), args.plot / f"{stem}.notes.png")
            results.append(result)
        except InstrumentIdError as err:
            failed += 1
            tqdm.write(f"instrumentid: error: {err}", file=sys.stderr)
    if results:
        text = render(results, fmt=args.format)
        if args.out is not None:
            atomic_write_text(args.out, text)
        else:
            sys.stdout.write(text)
    if failed:
        return 2 if len(files) == 1 else 1
    return 0


def _cmd_predict_ray(args) -> int:
    from instrumentid.distributed import predict_corpus

    if args.out is None or args.format != "table" or args.plot is not None:
        raise InstrumentIdError("--backend ray writes Parquet into the folder --out DIR: give --out, and no --format "
                                "or --plot")
    summary = predict_corpus(args.inputs, out=args.out, model=args.model, min_confidence=args.min_confidence,
                             max_duration_s=args.max_minutes * 60.0, address=args.ray_address,
                             progress=not args.quiet)
    print(summary.to_table())
    if summary.failed:
        return 2 if not summary.done else 1
    return 0


def _cmd_predict(args) -> int:
    if args.backend == "ray":
        return _cmd_predict_ray(args)
    if args.ray_address is not None:
        raise InstrumentIdError("--ray-address needs --backend ray")
    from instrumentid import plots
    from instrumentid.prediction import format_predictions, load_model, predict

    clf = load_model(args.model)

    def draw(result, path):
        assert result.analysis is not None  # predict() keeps the analysis of the file: no second decode
        return plots.plot_notes(result.analysis.mel_spectrogram(), predictions=result,
                                title=f"Notes and instruments: {path.name}")[0]

    limit_s = args.max_minutes * 60.0

    def analyse(path):
        return predict(path, model=clf, max_duration_s=limit_s, min_confidence=args.min_confidence)

    return _for_each_file(args, desc="predict", analyse=analyse, draw=draw, render=format_predictions)


def _cmd_app(args) -> int:
    from instrumentid.app import launch

    launch(args.model, host=args.host, port=args.port)
    return 0


def _cmd_notes(args) -> int:
    from instrumentid import plots
    from instrumentid.analysis import find_notes, format_notes

    def draw(result, path):
        return plots.plot_notes(result.mel_spectrogram(), predictions=result.notes, title=f"Notes: {path.name}")[0]

    limit_s = args.max_minutes * 60.0
    return _for_each_file(args, desc="notes", analyse=lambda path: find_notes(path, max_duration_s=limit_s), draw=draw,
                          render=format_notes)


def _cmd_spectrogram(args) -> int:
    from instrumentid import plots
    from instrumentid.analysis import mel_spectrogram

    spec = mel_spectrogram(args.file)
    out = args.out if args.out is not None else args.file.with_suffix(".mel.png")
    fig, _ = plots.plot_mel_spectrogram(spec, title=f"Mel spectrogram: {args.file.name}")
    print(f"wrote {plots.save_figure(fig, out)}")
    return 0


def _cmd_evaluate(args) -> int:
    from instrumentid import runfolder
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.evaluation import (
        default_data_settings,
        evaluate_by_source,
        evaluate_dataset,
        format_by_source,
        format_evaluation,
        write_evaluation,
    )
    from instrumentid.lab import load_data
    from instrumentid.persistence import resolve_model_path

    model_json = resolve_model_path(args.model)
    clf = InstrumentClassifier.load(model_json)
    # without --data: the default data set's notes, with the model's features (the shipped model's musicnn pools)
    dataset = load_data(args.data, progress=True, feature_settings=default_data_settings(clf) if args.data is None
                        else None)
    by_source = None
    if args.by_source:
        by_source = evaluate_by_source(clf, dataset)
        result = by_source.pop("overall")
    else:
        result = evaluate_dataset(clf, dataset)
    print(format_evaluation(result))
    if by_source is not None:
        print()
        print(format_by_source({**by_source, "overall": result}))
    out = args.out
    if out is None:  # beside the model: its run folder when it sits in RUN/model/, else the model folder
        out = model_json.parent
        if out.name == runfolder.MODEL_DIR and runfolder.is_run_folder(out.parent):
            out = out.parent
    extra: dict = {"model": str(model_json.parent), "data": str(dataset.path) if dataset.path else "default"}
    if by_source is not None:
        extra["by_source"] = by_source
    for path in write_evaluation(result, out, extra=extra):
        print(f"wrote {path}")
    return 0


def _cmd_export(args) -> int:
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.export import export_onnx
    from instrumentid.modelcard import card_metadata

    clf = InstrumentClassifier.load(args.model)
    print(f"wrote {export_onnx(clf, args.onnx, metadata=card_metadata(args.model))}")
    return 0


def _cmd_report(args) -> int:
    from instrumentid.report import write_report

    print(f"wrote {write_report(args.run, out=args.out)}")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"instrumentid: warning: {message}", file=sys.stderr)


#: The handler of every command (the ``handler`` default of its sub-parser): parsed arguments -> exit code.
HANDLERS = {
    "lab": _cmd_lab,
    "train": _cmd_train,
    "sweep": _cmd_sweep,
    "plot": _cmd_plot,
    "dataset_info": _cmd_dataset_info,
    "model_info": _cmd_model_info,
    "dataset_build": _cmd_dataset_build,
    "predict": _cmd_predict,
    "app": _cmd_app,
    "notes": _cmd_notes,
    "spectrogram": _cmd_spectrogram,
    "evaluate": _cmd_evaluate,
    "export": _cmd_export,
    "report": _cmd_report,
}


def main(argv=None) -> int:
    """Run the command line; return the exit code.

    0: done; 1: some inputs failed (the others were processed); 2: bad input (one line on stderr naming it, including
    any file that cannot be read or written); 3: an internal error (one line naming the exception; ``--debug`` shows
    the traceback); 130: interrupted. A closed output pipe (``| head``) ends quietly.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = HANDLERS[args.handler]
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return handler(args)
    except InstrumentIdError as err:
        print(f"instrumentid: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("instrumentid: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()  # the reader went away (``| head``): nothing more to say, and no error at exit
        return 0
    except OSError as err:
        where = f" {err.filename!r}" if err.filename is not None else ""
        print(f"instrumentid: error: cannot use{where}: {err.strerror or err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the user sees one line, never a raw traceback (unless --debug)
        if args.debug:
            raise
        print(f"instrumentid: internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 3
    finally:
        warnings.showwarning = previous


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so Python's final flush of a closed pipe raises nothing."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout without a file descriptor
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

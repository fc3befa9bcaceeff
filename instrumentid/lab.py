"""The lab, step by step, as one reproducible run: ``instrumentid lab`` (and ``train``, ``sweep``, ``plot``).

The lab's steps and where they live:

1.   load a recording (the lab's soprano-saxophone example by default) and draw its mel spectrogram
     (:func:`instrumentid.analysis.analyze`, :func:`instrumentid.plots.plot_mel_spectrogram`);
2.   cut it into notes and turn each note into 120 features (the same :class:`~instrumentid.analysis.Analysis`);
3.   load the feature set and print its counts (:mod:`instrumentid.datasets`);
4.   standardize with the training set's statistics (inside :class:`~instrumentid.classifier.InstrumentClassifier`);
5.   the network and its summary (:mod:`instrumentid.model`);
6.   train 10 epochs, scoring the test set every epoch (:func:`instrumentid.training.fit` via the classifier);
7.   plot accuracy and loss per epoch (:func:`instrumentid.plots.plot_history`);
8.   learning-rate sweep (:func:`instrumentid.training.sweep`), with the classifier's class order
     (:func:`instrumentid.classifier.encode_labels`), so that its run at the lab's rate is the lab's fit;
9.   plot the sweep's training losses (:func:`instrumentid.plots.plot_sweep`).

The training settings default to :data:`~instrumentid.settings.DEFAULT_TRAINING`. Everything a run produces lands in
one run folder (default ``runs/lab-YYYYmmdd-HHMMSS``; its files are listed in :mod:`instrumentid.runfolder`), written
under a temporary name and renamed when the run is complete, so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from instrumentid import runfolder as rf
from instrumentid.errors import ParameterError
from instrumentid.settings import DEFAULT_NOTES, DEFAULT_TRAINING, TrainingSettings
from instrumentid.util import atomic_folder, package_versions

__all__ = ["load_data", "model_settings", "plot_run", "run_lab", "run_sweep", "run_train"]

_T = DEFAULT_TRAINING


# ----------------------------------------------------------------------------------------------- helpers
def load_data(data=None, *, progress: bool = True, feature_settings=None):
    """The lab's step 3: a data set folder in the UIowa layout, or the default data set when ``data`` is None.

    ``feature_settings`` (with ``data`` None): the default data set's notes with these features (e.g. a model's,
    :data:`~instrumentid.settings.SHIPPED_FEATURES`); default the lab's 120.

    Returns
    -------
    FeatureDataset
    """
    if data is None:
        from instrumentid.datasets.soundfont import load_default_dataset

        return load_default_dataset(progress=progress, feature_settings=feature_settings)
    from instrumentid.datasets.uiowa import load_uiowa

    return load_uiowa(data)


def model_settings(dataset) -> tuple:
    """The note and feature settings a model trained on ``dataset`` carries.

    Parameters
    ----------
    dataset : FeatureDataset

    Returns
    -------
    note_settings : NoteSettings or None
        The data set's; :data:`~instrumentid.settings.DEFAULT_NOTES` when it has audio features but cut no notes (a
        SoundFont set renders one note per clip); None without feature settings.
    feature_settings : FeatureSettings or None
        The data set's; None when it does not say (e.g. the UIowa files).
    """
    features = dataset.feature_settings
    if features is None:
        return None, None
    notes = dataset.note_settings
    return (DEFAULT_NOTES if notes is None else notes), features


class _Run:
    """One run folder being written (``tmp``, renamed to ``final`` at the end), its timings and ``run.json``."""

    def __init__(self, command: str, out, settings: dict):
        self.final = Path(out) if out is not None else Path("runs") / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"
        if self.final.exists() and not self.final.is_dir():
            raise ParameterError(f"run folder {str(self.final)!r} exists and is not a folder")
        if self.final.is_dir() and any(self.final.iterdir()) and not rf.is_run_folder(self.final):
            raise ParameterError(f"run folder {str(self.final)!r} exists and is not a run folder (no {rf.RUN_JSON}); "
                                 "choose a new or empty --out")
        self.record: dict = {"command": command, "settings": settings, "timings_s": {}}
        self.start = time.perf_counter()
        self.tmp = Path()

    def finish(self) -> None:
        """Write ``run.json`` and, when there is something to show, ``report.html``."""
        self.record["timings_s"]["total"] = round(time.perf_counter() - self.start, 3)
        self.record["versions"] = package_versions({"python": "python", "numpy": "numpy", "torch": "torch",
                                                    "sklearn": "scikit-learn", "instrumentid": "instrumentid"})
        (self.tmp / rf.RUN_JSON).write_text(json.dumps(self.record, indent=1, default=str) + "\n")
        if (self.tmp / rf.HISTORY_JSON).is_file() or (self.tmp / rf.SWEEP_JSON).is_file():
            from instrumentid.report import write_report

            write_report(self.tmp, out=self.tmp / rf.REPORT_HTML)

    def timed(self, step: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.record["timings_s"][step] = round(time.perf_counter() - t0, 3)
        return out

    def load_data(self, data, *, progress: bool):
        """Step 3: load the data set (timed), print its counts, record what it is."""
        from instrumentid.datasets.uiowa import describe

        _heading("Data")
        dataset = self.timed("load_data", load_data, data, progress=progress)
        print(describe(dataset))
        self.record["data"] = {
            "path": None if dataset.path is None else str(Path(dataset.path).resolve()),
            "kind": (dataset.info or {}).get("kind", "uiowa"),
            "n_train": len(dataset.y_train), "n_test": len(dataset.y_test),
            "n_features": dataset.n_features, "class_names": list(dataset.class_names),
        }
        return dataset


@contextmanager
def _run_folder(command: str, out, settings: dict):
    """A :class:`_Run` whose folder becomes ``out`` when the block succeeds (and is deleted when it fails)."""
    run = _Run(command, out, settings)
    with atomic_folder(run.final) as tmp:
        run.tmp = tmp
        yield run
        run.finish()
    print(f"\nRun folder: {run.final}")


def _heading(text: str) -> None:
    print(f"\n== {text}")


def _audio_steps(run: _Run, audio) -> None:
    """Steps 1-2: analyze a recording (one decode), draw its mel spectrogram, save its notes and feature rows."""
    import csv

    from instrumentid import plots
    from instrumentid.analysis import analyze

    _heading("Audio")
    if audio is None:
        import soundfile as sf

        from instrumentid.datasets.render import lab_example
        from instrumentid.settings import SR

        audio = run.tmp / rf.EXAMPLE_AUDIO
        sf.write(str(audio), run.timed("render_example", lab_example, sr=SR), SR, format="AIFF", subtype="PCM_16")
        shown = run.final / rf.EXAMPLE_AUDIO
        print("No --audio given: rendered the lab's example, a soprano saxophone with vibrato playing C6, C#6, D6 "
              f"and Eb6 (FluidR3 GM), to {shown}")
    else:
        shown = audio
    analysis = run.timed("analyze", analyze, audio)
    print(f"Loaded {shown}: {analysis.duration_s:.2f} s at {analysis.sr} Hz, mono")
    spec = run.timed("mel_spectrogram", analysis.mel_spectrogram)
    fig, _ = plots.plot_mel_spectrogram(spec, title=f"Mel spectrogram: {Path(shown).name}")
    path = run.timed("plot_spectrogram", plots.save_figure, fig, run.tmp / rf.SPECTROGRAM_PNG)
    print(f"Mel spectrogram ({spec.S_db.shape[0]} mels, up to {spec.fmax / 1000:g} kHz, dB): {run.final / path.name}")

    _heading("Notes and features")
    notes, X = analysis.notes, analysis.X
    with open(run.tmp / rf.NOTES_CSV, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["start_s", "end_s", "f0_hz", "midi", "name"])
        writer.writerows([f"{n.start_s:.3f}", f"{n.end_s:.3f}", f"{n.f0_hz:.1f}", n.midi, n.name] for n in notes)
    np.save(run.tmp / rf.NOTE_FEATURES_NPY, X)
    print(f"{len(notes)} notes: " + ", ".join(f"{n.name} ({n.start_s:.2f}-{n.end_s:.2f} s)" for n in notes))
    print(f"Features per note: {X.shape[1]} (matrix {X.shape[0]} x {X.shape[1]}, saved to "
          f"{run.final / rf.NOTE_FEATURES_NPY})")
    run.record["audio"] = {"path": str(shown), "duration_s": round(analysis.duration_s, 3), "sr": analysis.sr,
                           "notes": [n.name for n in notes]}


def _train_steps(run: _Run, dataset, training: TrainingSettings, *, progress: bool):
    """Steps 4-7: standardize, summarize, train with the test set scored per epoch, save history, model, figure."""
    from instrumentid import plots
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.history import format_epoch
    from instrumentid.model import BranchNet, LabNet, model_summary
    from instrumentid.modelcard import write_model_card

    t = training
    note_settings, feature_settings = model_settings(dataset)
    # features with an embedding get one network on the descriptors and one on the embedding (probabilities averaged)
    branches = feature_settings.branches if feature_settings is not None and feature_settings.embedding else None
    _heading("Standardization")
    print("Features standardized with the training set's mean and variance only (StandardScaler, kept with the "
          "model).")
    _heading("Model")
    hidden = t.hidden_units * t.members
    print(model_summary(LabNet(dataset.n_features, dataset.n_classes, hidden_units=hidden, activation=t.activation)
                        if branches is None else
                        BranchNet.empty(branches, dataset.n_classes, hidden_units=hidden, activation=t.activation)))
    if t.members > 1:
        print(f"{t.members} networks of {t.hidden_units} hidden units, trained with seeds {t.seed}-"
              f"{t.seed + t.members - 1} and merged: the logits are their mean")
    print(f"Loss: cross-entropy; optimizer: Adam (lr={t.lr:g}); batch size {t.batch_size}; {t.epochs} epochs")

    _heading(f"Training ({t.epochs} epochs, test set scored after each)")
    names = np.asarray(dataset.class_names)
    clf = InstrumentClassifier(hidden_units=t.hidden_units, activation=t.activation, lr=t.lr, epochs=t.epochs,
                               batch_size=t.batch_size, random_state=t.seed, verbose=progress,
                               feature_settings=feature_settings, note_settings=note_settings,
                               input_noise=t.input_noise, members=t.members, branches=branches)
    run.timed("train", clf.fit, dataset.X_train, names[dataset.y_train],
              eval_set=(dataset.X_test, names[dataset.y_test]), trained_on={"data": dataset.key, "rows": ["train"]})
    history = clf.history_
    for i in range(history.epochs):
        print(format_epoch(history, i))
    print(f"Test accuracy: {history.test_accuracy[-1]:.4f} (test loss {history.test_loss[-1]:.4f})")
    if branches is not None:
        print(f"(per epoch, the mean of the {len(branches)} networks' figures; their averaged probabilities: test "
              f"accuracy {clf.score(dataset.X_test, names[dataset.y_test]):.4f})")
    history.to_json(run.tmp / rf.HISTORY_JSON)
    history.to_csv(run.tmp / rf.HISTORY_CSV)
    write_model_card(clf.save(run.tmp / rf.MODEL_DIR))
    run.record["final"] = {
        "train_loss": history.train_loss[-1], "train_accuracy": history.train_accuracy[-1],
        "test_loss": history.test_loss[-1], "test_accuracy": history.test_accuracy[-1],
    }
    fig, _ = plots.plot_history(history)
    path = run.timed("plot_history", plots.save_figure, fig, run.tmp / rf.ACCURACY_LOSS_PNG)
    print(f"Accuracy and loss per epoch: {run.final / path.name}")
    _evaluation_steps(run, clf, dataset)
    return clf


def _evaluation_steps(run: _Run, clf, dataset) -> None:
    """Per-class precision/recall/F1 and the confusion matrix of the trained model on the test set."""
    from instrumentid.evaluation import evaluate_dataset, format_evaluation, write_evaluation

    _heading("Evaluation on the test set")
    result = run.timed("evaluate", evaluate_dataset, clf, dataset)
    print(format_evaluation(result))
    write_evaluation(result, run.tmp)
    run.record["evaluation"] = {"accuracy": result["accuracy"], "macro_f1": result["macro avg"]["f1-score"]}


def _sweep_steps(run: _Run, dataset, training: TrainingSettings, *, clf, progress: bool):
    """Steps 8-9: a fresh network per learning rate (trained together), histories and figure saved.

    The labels are encoded as the classifier ``clf`` of step 6 encodes them (its ``classes_``; the same order
    when there is no classifier), so that the sweep's network at the lab's rate is the lab's network.
    """
    from instrumentid import plots
    from instrumentid import training as train
    from instrumentid.classifier import encode_labels
    from instrumentid.history import save_sweep, sweep_to_csv

    t = training
    _heading(f"Learning-rate sweep ({', '.join(f'{r:g}' for r in t.rates)}; {t.sweep_epochs} epochs each, fresh "
             "model each)")
    if clf is None:
        from sklearn.preprocessing import StandardScaler

        scaler, classes = StandardScaler().fit(dataset.X_train), None
    else:
        scaler, classes = clf.scaler_, clf.classes_
    names = np.asarray(dataset.class_names)
    classes, y_train = encode_labels(names[dataset.y_train], classes)
    y_test = encode_labels(names[dataset.y_test], classes)[1]
    histories = run.timed(
        "sweep", train.sweep, scaler.transform(dataset.X_train), y_train, X_test=scaler.transform(dataset.X_test),
        y_test=y_test, rates=list(t.rates), n_classes=len(classes), epochs=t.sweep_epochs, batch_size=t.batch_size,
        hidden_units=t.hidden_units, activation=t.activation, random_state=t.seed, progress=progress,
    )
    for rate, h in histories.items():
        print(f"lr {rate:<8g} final training loss {h.train_loss[-1]:.4f}, training accuracy "
              f"{h.train_accuracy[-1]:.4f}, test accuracy {h.test_accuracy[-1]:.4f}")
    save_sweep(histories, run.tmp / rf.SWEEP_JSON)
    sweep_to_csv(histories, run.tmp / rf.SWEEP_CSV)
    run.record["sweep_final"] = {repr(r): {"train_loss": h.train_loss[-1], "test_accuracy": h.test_accuracy[-1]}
                                 for r, h in histories.items()}
    fig, _ = plots.plot_sweep(histories)
    path = run.timed("plot_sweep", plots.save_figure, fig, run.tmp / rf.SWEEP_LOSS_PNG)
    print(f"Training loss per learning rate: {run.final / path.name}")
    return histories


def _data_path(data) -> str | None:
    return None if data is None else str(data)


# ----------------------------------------------------------------------------------------------- public API
def run_lab(data=None, *, out=None, audio=None, epochs=_T.epochs, batch_size=_T.batch_size,
            hidden_units=_T.hidden_units, lr=_T.lr, rates=_T.rates, sweep_epochs=_T.sweep_epochs, sweep=True,
            seed=_T.seed, progress=True) -> Path:
    """Run the lab's steps in order, print what the lab prints, and save everything in one run folder.

    Parameters
    ----------
    data : str or Path, optional
        Folder of the four UIowa ``.npy`` files; default: the built-in data set (notes of General-MIDI SoundFonts).
    out : str or Path, optional
        Run folder to write (default ``runs/lab-YYYYmmdd-HHMMSS``). An existing run folder is replaced when the new
        run is complete; any other non-empty folder is refused.
    audio : str or Path, optional
        Recording for steps 1-2 (mel spectrogram, notes and per-note features); default: the lab's example, a
        soprano saxophone rendered from a SoundFont and saved as ``example.aiff`` in the run folder.
    epochs, batch_size, hidden_units, lr, seed
        Training settings of step 6 (default :data:`~instrumentid.settings.DEFAULT_TRAINING`'s, the lab's: 10,
        128, 256, 0.001, 0).
    rates, sweep_epochs, sweep
        The learning-rate sweep of step 8 (the lab's: 0.1, 0.01, 0.001, 0.0001 for 20 epochs); ``sweep=False``
        skips steps 8-9.
    progress : bool
        Show progress bars (stderr).

    Returns
    -------
    Path
        The run folder.

    Raises
    ------
    ParameterError
        A bad setting (checked before any work), unreadable audio or data, or an ``out`` that is not a run folder.
    """
    t = TrainingSettings(epochs=epochs, batch_size=batch_size, hidden_units=hidden_units, lr=lr, rates=tuple(rates),
                         sweep_epochs=sweep_epochs, seed=seed)
    settings = {"data": _data_path(data), "audio": None if audio is None else str(audio),
                "epochs": t.epochs, "batch_size": t.batch_size, "hidden_units": t.hidden_units, "lr": t.lr,
                "rates": list(t.rates) if sweep else [], "sweep_epochs": t.sweep_epochs if sweep else 0,
                "seed": t.seed, "activation": t.activation, "optimizer": "adam", "loss": "cross-entropy"}
    with _run_folder("lab", out, settings) as run:
        _audio_steps(run, audio)
        dataset = run.load_data(data, progress=progress)
        clf = _train_steps(run, dataset, t, progress=progress)
        if sweep:
            _sweep_steps(run, dataset, t, clf=clf, progress=progress)
    return run.final


def run_train(data=None, *, out=None, epochs=_T.epochs, batch_size=_T.batch_size, hidden_units=_T.hidden_units,
              lr=_T.lr, seed=_T.seed, activation=_T.activation, input_noise=_T.input_noise, members=_T.members,
              progress=True) -> Path:
    """Run steps 3-7 alone: load, standardize, train, save history, model and figure to a run folder.

    The run folder defaults to ``runs/train-YYYYmmdd-HHMMSS``. ``activation``, ``input_noise`` and ``members`` are
    those of :class:`~instrumentid.settings.TrainingSettings`; the other parameters are those of :func:`run_lab`;
    returns the run folder.
    """
    t = TrainingSettings(epochs=epochs, batch_size=batch_size, hidden_units=hidden_units, lr=lr, seed=seed,
                         activation=activation, input_noise=input_noise, members=members)
    settings = {"data": _data_path(data), "epochs": t.epochs, "batch_size": t.batch_size,
                "hidden_units": t.hidden_units, "lr": t.lr, "seed": t.seed, "activation": t.activation,
                "input_noise": t.input_noise, "members": t.members}
    with _run_folder("train", out, settings) as run:
        dataset = run.load_data(data, progress=progress)
        _train_steps(run, dataset, t, progress=progress)
    return run.final


def run_sweep(data=None, *, out=None, rates=_T.rates, epochs=_T.sweep_epochs, batch_size=_T.batch_size,
              hidden_units=_T.hidden_units, seed=_T.seed, progress=True) -> Path:
    """Run steps 3, 8 and 9 alone: the learning-rate sweep on standardized data, histories and figure.

    The run folder defaults to ``runs/sweep-YYYYmmdd-HHMMSS``. ``epochs`` are the epochs per rate; the other
    parameters are those of :func:`run_lab`; returns the run folder.
    """
    t = TrainingSettings(rates=tuple(rates), sweep_epochs=epochs, batch_size=batch_size, hidden_units=hidden_units,
                         seed=seed)
    settings = {"data": _data_path(data), "rates": list(t.rates), "sweep_epochs": t.sweep_epochs,
                "batch_size": t.batch_size, "hidden_units": t.hidden_units, "seed": t.seed,
                "activation": t.activation}
    with _run_folder("sweep", out, settings) as run:
        dataset = run.load_data(data, progress=progress)
        _sweep_steps(run, dataset, t, clf=None, progress=progress)
    return run.final


def plot_run(run_dir) -> list:
    """Redraw a run folder's figures from its saved histories (``accuracy_loss.png``, ``sweep_loss.png``).

    Returns
    -------
    list of Path
        The figures written.
    """
    from instrumentid import plots
    from instrumentid.history import History, load_sweep

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ParameterError(f"run folder {str(run_dir)!r} does not exist or is not a folder")
    written = []
    if (run_dir / rf.HISTORY_JSON).is_file():
        fig, _ = plots.plot_history(History.from_json(run_dir / rf.HISTORY_JSON))
        written.append(plots.save_figure(fig, run_dir / rf.ACCURACY_LOSS_PNG))
    if (run_dir / rf.SWEEP_JSON).is_file():
        fig, _ = plots.plot_sweep(load_sweep(run_dir / rf.SWEEP_JSON))
        written.append(plots.save_figure(fig, run_dir / rf.SWEEP_LOSS_PNG))
    if not written:
        raise ParameterError(f"{str(run_dir)!r} has no {rf.HISTORY_JSON} or {rf.SWEEP_JSON} to plot")
    return written

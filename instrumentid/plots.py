"""Every figure instrumentid draws; the only module that imports matplotlib.

matplotlib is imported inside the functions, so importing this module is cheap. New figures are made with
:class:`matplotlib.figure.Figure` (no pyplot state, no window, rendered with Agg), and every plot function takes
``ax=None``: give it axes of your own figure to draw there, or let it make a figure. Each returns what it drew.
:func:`save_figure` writes a PNG atomically.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "new_figure",
    "plot_confusion_matrix",
    "plot_history",
    "plot_mel_spectrogram",
    "plot_notes",
    "plot_sweep",
    "save_figure",
]


def new_figure(*, nrows: int = 1, ncols: int = 1, figsize=(6.4, 4.2)):
    """A matplotlib Figure with a ``nrows x ncols`` grid of axes, outside pyplot: returns ``(fig, axes)``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=True)


def save_figure(fig, path, *, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG to ``path``: rendered to a temporary file beside it, then renamed.

    Returns
    -------
    Path
        The PNG written.
    """
    from instrumentid.util import atomic_file

    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def plot_history(history, *, ax=None):
    """The lab's step 7: accuracy and loss per epoch, for training and test data.

    Parameters
    ----------
    history : instrumentid.history.History
        Per-epoch metrics (test curves drawn when present).
    ax : sequence of two matplotlib Axes, optional
        Where to draw accuracy and loss; a new 1 x 2 figure by default.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : (Axes, Axes)
        Left: train and test accuracy vs epoch. Right: train and test loss vs epoch, log y axis.
    """
    if ax is None:
        fig, axes = new_figure(ncols=2, figsize=(10.0, 4.0))
    else:
        axes = tuple(ax)
        if len(axes) != 2:
            from instrumentid.errors import ParameterError

            raise ParameterError(f"plot_history draws on two axes (accuracy, loss), got {len(axes)}")
        fig = axes[0].figure
    epochs = range(1, history.epochs + 1)
    for a, metric, title in ((axes[0], "accuracy", "Accuracy"), (axes[1], "loss", "Loss (cross-entropy)")):
        a.plot(epochs, getattr(history, f"train_{metric}"), "o-", label="train")
        if history.has_test:
            a.plot(epochs, getattr(history, f"test_{metric}"), "s-", label="test")
        _epoch_axis(a)
        a.set_ylabel(metric)
        a.set_title(title)
        a.legend()
    axes[1].set_yscale("log")
    return fig, tuple(axes)


def plot_sweep(histories: dict, *, ax=None):
    """The lab's step 9: training loss vs epoch for every learning rate of a sweep, log y axis.

    Parameters
    ----------
    histories : dict of float -> instrumentid.history.History
        One history per learning rate (as returned by :func:`instrumentid.training.sweep`).
    ax : matplotlib Axes, optional
        Where to draw; a new figure by default.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib Axes
        One line per rate, the legend naming each rate.
    """
    if ax is None:
        fig, ax = new_figure(figsize=(7.6, 4.2))
    else:
        fig = ax.figure
    for rate, history in histories.items():
        ax.plot(range(1, history.epochs + 1), history.train_loss, "o-", markersize=3, label=f"lr = {rate:g}")
    ax.set_yscale("log")
    _epoch_axis(ax)
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_title("Learning-rate sweep")
    ax.legend(title="Adam learning rate", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig, ax


def _epoch_axis(ax) -> None:
    """Epochs on the x axis, whole numbers only; a light grid."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)


def plot_confusion_matrix(cm, *, class_names, ax=None):
    """A confusion matrix as a heat map with the count in every cell (scikit-learn's ``ConfusionMatrixDisplay``).

    Parameters
    ----------
    cm : np.ndarray [shape=(n_classes, n_classes)]
        Counts; row ``i`` is the true class ``class_names[i]``, column ``j`` the predicted class.
    class_names : sequence of str [length n_classes]
        Tick labels, in the order of ``cm``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure (sized for the number of classes) by default.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib Axes
        True class on the y axis, predicted class on the x axis.
    """
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = np.asarray(cm)
    names = [str(n) for n in class_names]
    if cm.ndim != 2 or cm.shape != (len(names), len(names)):
        from instrumentid.errors import ParameterError

        raise ParameterError(f"confusion matrix must have shape ({len(names)}, {len(names)}) for {len(names)} "
                             f"class names, got {cm.shape}")
    if ax is None:
        side = min(4.0 + 0.55 * len(names), 14.0)
        fig, ax = new_figure(figsize=(side + 1.0, side))
    else:
        fig = ax.figure
    ConfusionMatrixDisplay(cm, display_labels=names).plot(ax=ax, cmap="Blues", colorbar=True,
                                                          xticks_rotation=45 if len(names) > 4 else "horizontal")
    ax.set_title("Confusion matrix")
    return fig, ax


def plot_mel_spectrogram(spec, *, ax=None, title: str = "Mel spectrogram"):
    """The lab's step 1: a mel spectrogram in dB, time and mel axes, a colorbar in dB.

    Parameters
    ----------
    spec : instrumentid.features.MelSpectrogram
        ``S_db`` [shape=(n_mels, n_frames)] with its ``sr``, ``hop_length`` and ``fmax``, e.g. from
        :meth:`instrumentid.analysis.Analysis.mel_spectrogram` or :func:`instrumentid.analysis.mel_spectrogram`.
    ax : matplotlib Axes, optional
        Where to draw; a new figure by default.
    title : str
        Axes title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib Axes
        Holding the spectrogram image (``ax.collections[0]``), time in seconds on x, mel-spaced Hz on y.
    """
    import librosa.display

    if ax is None:
        fig, ax = new_figure(figsize=(10.0, 4.2))
    else:
        fig = ax.figure
    mesh = librosa.display.specshow(spec.S_db, sr=spec.sr, hop_length=spec.hop_length, x_axis="time", y_axis="mel",
                                    fmax=spec.fmax, ax=ax)
    fig.colorbar(mesh, ax=ax, format="%+2.0f dB", label="dB")
    ax.set_title(title)
    return fig, ax


def plot_notes(spec, *, predictions, ax=None, title: str = "Notes"):
    """The mel spectrogram with every note drawn as a box around its fundamental, labelled with its name and instrument.

    ``spec``, ``ax`` and ``title`` are those of :func:`plot_mel_spectrogram`; ``predictions`` is a
    RecordingPrediction, or a sequence of NotePrediction or Note (labels show the instrument and its confidence when
    there is one).

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib Axes
        The spectrogram, one Rectangle per note in ``ax.patches`` (x: start_s to end_s; y: two semitones either
        side of f0) and one
        label per note in ``ax.texts``, in time order.
    """
    from matplotlib.patches import Rectangle

    fig, ax = plot_mel_spectrogram(spec, ax=ax, title=title)
    items = getattr(predictions, "notes", predictions)
    for item in items:
        note = getattr(item, "note", item)
        label = note.name
        if hasattr(item, "instrument"):
            label = f"{note.name} {item.instrument} {item.confidence:.0%}"
        low, high = note.f0_hz * 2 ** (-2 / 12), note.f0_hz * 2 ** (2 / 12)
        ax.add_patch(Rectangle((note.start_s, low), note.duration_s, high - low, fill=False, edgecolor="white",
                               linewidth=1.5))
        ax.text(note.start_s, high * 1.06, label, color="white", fontsize=8, va="bottom", ha="left", clip_on=True,
                bbox={"facecolor": "black", "alpha": 0.5, "pad": 1.5, "edgecolor": "none"})
    return fig, ax

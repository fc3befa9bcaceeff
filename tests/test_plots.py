"""Figures of training runs: accuracy/loss per epoch, the learning-rate sweep, atomic PNG writing."""

import matplotlib.pyplot as plt
import pytest

from instrumentid.errors import ParameterError
from instrumentid.history import History
from instrumentid.plots import plot_history, plot_sweep, save_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def history():
    return History([2.0, 1.0, 0.5], [0.3, 0.6, 0.9], [2.1, 1.2, 0.7], [0.25, 0.55, 0.85], lr=0.001)


def test_plot_history_two_panels(history):
    fig, (acc, loss) = plot_history(history)
    assert acc.figure is fig and loss.figure is fig
    assert [line.get_label() for line in acc.get_lines()] == ["train", "test"]
    assert list(acc.get_lines()[1].get_ydata()) == history.test_accuracy
    assert list(loss.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert list(loss.get_lines()[0].get_ydata()) == history.train_loss
    assert loss.get_yscale() == "log" and acc.get_yscale() == "linear"
    assert acc.get_xlabel() == "epoch" and loss.get_ylabel() == "loss"


def test_plot_history_on_given_axes_without_test():
    fig, axes = plt.subplots(2, 1)
    out_fig, out_axes = plot_history(History([1.0, 0.5], [0.5, 0.7]), ax=axes)
    assert out_fig is fig and tuple(out_axes) == tuple(axes)
    assert [line.get_label() for line in axes[1].get_lines()] == ["train"]
    plt.close(fig)
    with pytest.raises(ParameterError, match="two axes"):
        plot_history(History([1.0], [0.5]), ax=[axes[0]])


def test_plot_sweep_legend_names_rates():
    histories = {0.1: History([1.0, 0.1], [0.5, 0.9], lr=0.1), 0.0001: History([2.0, 1.9], [0.1, 0.2], lr=1e-4)}
    _fig, ax = plot_sweep(histories)
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lr = 0.1", "lr = 0.0001"]
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [[1.0, 0.1], [2.0, 1.9]]
    fig2, ax2 = plt.subplots()
    assert plot_sweep(histories, ax=ax2) == (fig2, ax2)
    plt.close(fig2)


def test_save_figure_writes_png_atomically(history, tmp_path):
    fig, _ = plot_history(history)
    path = save_figure(fig, tmp_path / "sub" / "acc.png")
    assert path == tmp_path / "sub" / "acc.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in path.parent.iterdir()] == ["acc.png"]


def test_failed_save_leaves_nothing(tmp_path):
    class Broken:
        def savefig(self, path, **kwargs):
            path.write_bytes(b"half a pic")
            raise RuntimeError("disk on fire")

    (tmp_path / "old.png").write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        save_figure(Broken(), tmp_path / "old.png")
    assert [p.name for p in tmp_path.iterdir()] == ["old.png"]
    assert (tmp_path / "old.png").read_bytes() == b"previous"

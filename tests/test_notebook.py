"""The notebooks of examples/, executed with nbclient, outputs checked: running them here keeps them from going stale.

``lab.ipynb`` walks through the lab's nine steps with the Python API on the default data set;
``predict_and_train.ipynb`` names the notes of a rendered recording, then builds a data set from a rendered folder,
trains on it and predicts with the new model. The committed files carry no outputs.
"""

import functools
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = ("lab.ipynb", "predict_and_train.ipynb")
KERNEL = "instrumentid-test"


@pytest.fixture(scope="module")
def run_notebook(tmp_path_factory):
    """``run_notebook(name)``: the notebook run once in a fresh kernel of this interpreter, in a temporary folder.

    Returns the executed notebook and that folder (the files it wrote).
    """
    jupyter = tmp_path_factory.mktemp("jupyter")
    spec = jupyter / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "instrumentid tests", "language": "python",
    }))

    @functools.cache
    def run(name: str):
        workdir = tmp_path_factory.mktemp(Path(name).stem)
        nb = nbformat.read(EXAMPLES / name, as_version=4)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("JUPYTER_PATH", str(jupyter))  # this interpreter's kernel, whatever kernels the machine has
            NotebookClient(nb, timeout=600, kernel_name=KERNEL,
                           resources={"metadata": {"path": str(workdir)}}).execute()
        return nb, workdir

    return run


@pytest.fixture(scope="module")
def executed(run_notebook):
    """The executed lab notebook."""
    return run_notebook("lab.ipynb")[0]


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _text(cell) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream" and out.name == "stdout")


def _images(cell) -> list:
    return [out for out in cell.outputs if "image/png" in out.get("data", {})]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_has_no_outputs(name):
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    nbformat.validate(nb)
    for cell in _code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_errors(run_notebook, name):
    for cell in _code_cells(run_notebook(name)[0]):
        assert not [out for out in cell.outputs if out.output_type == "error"], cell.source[:60]


def test_notebook_prints_the_lab(executed):
    out = "\n".join(_text(cell) for cell in _code_cells(executed))
    lines = out.splitlines()
    assert "Features per note: 120 (matrix 4 x 120)" in lines  # the saxophone example's four notes
    for expected in ("Number of features per sample: 120", "Number of classes: 10", "Total params: 33,546",
                     "Trainable params: 33,546"):
        assert expected in lines, expected
    assert any(line.startswith("hidden") and line.endswith("30,976") for line in lines)
    assert any(line.startswith("output") and line.endswith("2,570") for line in lines)
    assert int(re.search(r"^Number of training samples: ([\d,]+)", out, re.M).group(1).replace(",", "")) > 1000
    epochs = [line.split()[1] for line in lines if line.startswith("Epoch ")]
    assert epochs == [f"{i}/10" for i in range(1, 11)]
    accuracy = float(re.search(r"^Test accuracy: ([0-9.]+)", out, re.M).group(1))
    assert accuracy > 0.9  # chance is 0.1
    rates = re.findall(r"^lr (\S+) +final training loss", out, re.M)
    assert rates == ["0.1", "0.01", "0.001", "0.0001"]
    order = [out.index(s) for s in ("Mel spectrogram:", "Number of classes", "Total params", "Epoch 1/10",
                                    "Test accuracy", "lr 0.0001")]
    assert order == sorted(order)  # the lab's order


def test_every_figure_is_shown(executed):
    figure_cells = [cell for cell in _code_cells(executed) if "plots.plot_" in cell.source]
    drawn = {re.search(r"plots\.(plot_\w+)", cell.source).group(1) for cell in figure_cells}
    assert drawn == {"plot_mel_spectrogram", "plot_notes", "plot_history", "plot_confusion_matrix", "plot_sweep"}
    for cell in figure_cells:
        images = _images(cell)
        assert len(images) == 1, cell.source[:60]
        assert len(images[0]["data"]["image/png"]) > 1000


def test_predict_and_train(run_notebook):
    """The notebook's predictions are the Python API's on the recording it rendered; the folder's data set, the
    training run and the new model's predictions are there, each prediction shown as a labelled figure."""
    from instrumentid.prediction import predict

    nb, workdir = run_notebook("predict_and_train.ipynb")
    cells = _code_cells(nb)
    out = "\n".join(_text(cell) for cell in cells)
    for model in (None, workdir / "runs" / "mine"):
        expected = predict(workdir / "duet.wav", model=model, name="duet.wav").to_table()
        assert expected in out
    assert [p.instrument for p in predict(workdir / "duet.wav", model=workdir / "runs" / "mine").notes] == \
        ["flute", "flute", "cello", "cello"]
    assert "Number of classes: 3" in out and "files: 12 train / 3 test" in out
    for name in ("flute", "cello", "trumpet"):
        assert len(list((workdir / "my_instruments" / name).glob("*.wav"))) == 5
    accuracy = float(re.search(r"^Test accuracy: ([0-9.]+)", out, re.M).group(1))
    assert accuracy > 0.8  # chance is 1/3
    assert (workdir / "runs" / "mine" / "model" / "model.json").is_file()
    figure_cells = [cell for cell in cells if "plots.plot_notes" in cell.source]
    assert len(figure_cells) == 2
    assert all(len(_images(cell)) == 1 and len(_images(cell)[0]["data"]["image/png"]) > 1000 for cell in figure_cells)

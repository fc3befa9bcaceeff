"""The lab as a notebook (examples/lab.ipynb): executed with nbclient on the default data set, outputs checked.

The notebook walks through the lab's nine steps with the Python API; running it here keeps it from going stale. The
committed file carries no outputs.
"""

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "lab.ipynb"
KERNEL = "instrumentid-test"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook run once in a fresh kernel of this interpreter, in a temporary folder: the executed notebook."""
    jupyter = tmp_path_factory.mktemp("jupyter")
    spec = jupyter / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "instrumentid tests", "language": "python",
    }))
    workdir = tmp_path_factory.mktemp("notebook")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(jupyter))  # this interpreter's kernel, whatever kernels the machine has
        NotebookClient(nb, timeout=600, kernel_name=KERNEL, resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _text(cell) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream" and out.name == "stdout")


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in _code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_notebook_runs_without_errors(executed):
    for cell in _code_cells(executed):
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
        images = [out for out in cell.outputs if "image/png" in out.get("data", {})]
        assert len(images) == 1, cell.source[:60]
        assert len(images[0]["data"]["image/png"]) > 1000

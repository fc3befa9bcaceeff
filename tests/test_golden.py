"""Golden outputs: the lab on the default data, predict on the lab's example and a folder build, byte for byte.

The digest in ``tests/golden/outputs.json`` was made by ``tests/golden_outputs.py`` before the restructuring of
issue 11 (one analysis path, settings as values); a change that is meant to change the outputs regenerates it with
``python tests/golden_outputs.py --write`` and says why in its commit.
"""

import json

import golden_outputs
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def produced(tmp_path_factory):
    return golden_outputs.produce(tmp_path_factory.mktemp("golden"))


#: Relative tolerance per part: the lab and the folder build are exact; predict's probabilities come from the numpy
#: runtime (instrumentid.inference), equal to the torch model's to float32 rounding.
TOLERANCE = {"lab": 0.0, "predict": 1e-6, "folder_dataset": 0.0}


@pytest.mark.parametrize("part", sorted(TOLERANCE))
def test_outputs_identical_to_golden(produced, part):
    expected = json.loads(golden_outputs.GOLDEN.read_text())[part]
    diffs = golden_outputs.differences(expected, produced[part], rel=TOLERANCE[part])
    assert not diffs, "outputs differ from tests/golden/outputs.json:\n" + "\n".join(diffs[:20])


def test_shipped_model_is_not_scored_on_the_notes_it_was_refit_on(produced, capsys):
    """Issue 14: the shipped model was refit on every note of the default data set, so evaluating it there (the
    default of ``evaluate`` without ``--data``) is refused instead of printing an accuracy of 1.0."""
    from instrumentid import cli
    from instrumentid.prediction import DEFAULT_MODEL

    assert cli.main(["evaluate", "--model", str(DEFAULT_MODEL)]) == 2
    assert "was trained on the test rows of this data set" in capsys.readouterr().err

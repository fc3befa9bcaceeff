"""History: per-epoch metrics, their JSON and CSV files, and sweep files."""

import pytest

from instrumentid.errors import ParameterError
from instrumentid.history import History, format_epoch, load_sweep, save_sweep, sweep_to_csv


def test_format_epoch_like_keras():
    h = History([1.5, 0.5], [0.25, 0.75], [1.25, 0.625], [0.5, 0.875], lr=0.01)
    assert format_epoch(h, 1) == ("Epoch 2/2 - loss: 0.5000 - accuracy: 0.7500 - val_loss: 0.6250 - "
                                  "val_accuracy: 0.8750")
    assert format_epoch(History([1.0], [0.5]), 0) == "Epoch 1/1 - loss: 1.0000 - accuracy: 0.5000"


def test_history_files_round_trip(tmp_path):
    h = History([1.5, 0.5], [0.25, 0.75], [1.25, 0.625], [0.5, 0.875], lr=0.01)
    h.to_json(tmp_path / "h.json")
    assert History.from_json(tmp_path / "h.json") == h
    assert h.to_csv(tmp_path / "h.csv").splitlines() == [
        "epoch,train_loss,train_accuracy,test_loss,test_accuracy", "1,1.5,0.25,1.25,0.5", "2,0.5,0.75,0.625,0.875"]
    assert (tmp_path / "h.csv").read_text() == h.to_csv()
    no_test = History([1.0], [0.5], lr=0.1)
    assert no_test.to_csv().splitlines()[1] == "1,1.0,0.5,,"
    histories = {0.1: no_test, 0.001: h}
    save_sweep(histories, tmp_path / "s.json")
    assert load_sweep(tmp_path / "s.json") == histories
    assert sweep_to_csv(histories).splitlines()[1:] == ["0.1,1,1.0,0.5,,", "0.001,1,1.5,0.25,1.25,0.5",
                                                        "0.001,2,0.5,0.75,0.625,0.875"]


@pytest.mark.parametrize("data, message", [
    ({"train_loss": [1.0]}, "needs the lists train_loss, train_accuracy"),
    ({"train_loss": [1.0], "train_accuracy": [], "test_loss": [], "test_accuracy": []},
     "'train_accuracy' has 0 epochs, expected 1"),
    ([1, 2], "needs the lists"),
])
def test_bad_history(data, message):
    with pytest.raises(ParameterError, match=message):
        History.from_dict(data)


def test_bad_history_files(tmp_path):
    with pytest.raises(ParameterError, match="no such file"):
        History.from_json(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ParameterError, match="cannot read .*bad.json.* as a sweep file"):
        load_sweep(tmp_path / "bad.json")
    (tmp_path / "h.json").write_text(History([1.0], [0.5]).to_json())
    with pytest.raises(ParameterError, match="not a sweep file"):
        load_sweep(tmp_path / "h.json")

"""Training: the fast fit equals a straightforward PyTorch loop, the batched sweep equals separate fits."""

import numpy as np
import pytest
import torch

from instrumentid.errors import ParameterError
from instrumentid.history import METRICS, format_epoch
from instrumentid.model import LabNet
from instrumentid.settings import DEFAULT_TRAINING
from instrumentid.training import fit, sweep


def _data(n_train=517, n_test=203, n_features=20, n_classes=6, seed=0):
    """Overlapping Gaussian classes, standardized, train rows sorted by class (as the UIowa files are)."""
    gen = np.random.default_rng(seed)
    centers = gen.normal(size=(n_classes, n_features))
    y = np.sort(gen.integers(0, n_classes, n_train))
    yt = gen.integers(0, n_classes, n_test)
    X = (centers[y] + 1.5 * gen.normal(size=(n_train, n_features))).astype(np.float32)
    Xt = (centers[yt] + 1.5 * gen.normal(size=(n_test, n_features))).astype(np.float32)
    return X, y, Xt, yt


def reference_fit(X, y, Xt, yt, *, n_classes, epochs, batch_size, lr, seed, hidden_units, activation="sigmoid"):
    """The textbook loop: torch.nn model, autograd, torch.optim.Adam; same initial weights and shuffles as fit()."""
    X, y, Xt, yt = map(torch.as_tensor, (X, y, Xt, yt))
    gen = torch.Generator().manual_seed(seed)
    net = LabNet(X.shape[1], n_classes, hidden_units=hidden_units, activation=activation)
    net.reset_parameters(generator=gen)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    history = {k: [] for k in METRICS}
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=gen)
        loss_sum = correct = 0.0
        for start in range(0, len(X), batch_size):
            idx = perm[start:start + batch_size]
            logits = net(X[idx])
            loss = torch.nn.functional.cross_entropy(logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y[idx]).sum().item()
        history["train_loss"].append(loss_sum / len(X))
        history["train_accuracy"].append(correct / len(X))
        with torch.no_grad():
            logits = net(Xt)
            history["test_loss"].append(torch.nn.functional.cross_entropy(logits, yt).item())
            history["test_accuracy"].append((logits.argmax(1) == yt).double().mean().item())
    return net, history


def assert_same_history(a, b, n_train, n_test):
    for key, n in zip(METRICS, (None, n_train, None, n_test), strict=True):
        va, vb = np.asarray(getattr(a, key, None) or a[key]), np.asarray(getattr(b, key, None) or b[key])
        if n is None:
            np.testing.assert_allclose(va, vb, rtol=1e-4, atol=1e-6, err_msg=key)
        else:  # accuracies: at most one row may flip on a float tie
            np.testing.assert_allclose(va, vb, atol=1.01 / n, rtol=0, err_msg=key)


@pytest.mark.parametrize("activation, lr, batch_size", [("sigmoid", 1e-3, 64), ("relu", 1e-2, 50),
                                                        ("tanh", 3e-3, 128), ("sigmoid", 0.1, 600)])
def test_fit_matches_reference_loop(activation, lr, batch_size):
    X, y, Xt, yt = _data()
    ref_net, ref = reference_fit(X, y, Xt, yt, n_classes=6, epochs=4, batch_size=batch_size, lr=lr, seed=3,
                                 hidden_units=32, activation=activation)
    net, history = fit(X, y, X_test=Xt, y_test=yt, epochs=4, batch_size=batch_size, lr=lr, random_state=3,
                       hidden_units=32, activation=activation, progress=False)
    assert history.epochs == 4 and history.lr == lr
    assert_same_history(history, ref, len(X), len(Xt))
    for p, q in zip(net.parameters(), ref_net.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_returned_model_scores_like_last_epoch():
    X, y, Xt, yt = _data()
    net, history = fit(X, y, X_test=Xt, y_test=yt, epochs=3, hidden_units=16, progress=False)
    assert not net.training
    with torch.no_grad():
        logits = net(torch.as_tensor(Xt))
    assert (logits.argmax(1).numpy() == yt).mean() == pytest.approx(history.test_accuracy[-1])
    assert torch.nn.functional.cross_entropy(logits, torch.as_tensor(yt)).item() == pytest.approx(
        history.test_loss[-1], rel=1e-5)


def test_seeded_and_reproducible():
    X, y, Xt, yt = _data()
    kwargs = {"X_test": Xt, "y_test": yt, "epochs": 2, "hidden_units": 16, "progress": False}
    a = fit(X, y, random_state=5, **kwargs)[1]
    b = fit(X, y, random_state=5, **kwargs)[1]
    c = fit(X, y, random_state=6, **kwargs)[1]
    assert a == b
    assert a.train_loss != c.train_loss


def test_input_noise_is_seeded_and_regularizes():
    X, y, Xt, yt = _data()
    kwargs = {"X_test": Xt, "y_test": yt, "epochs": 3, "hidden_units": 16, "progress": False, "random_state": 1}
    clean = fit(X, y, **kwargs)[1]
    assert fit(X, y, input_noise=0.0, **kwargs)[1] == clean  # 0 is exactly the lab's training
    noisy = fit(X, y, input_noise=1.0, **kwargs)[1]
    assert fit(X, y, input_noise=1.0, **kwargs)[1] == noisy  # the noise is drawn from the seed
    # the network sees noisy batches: its training loss is higher than without noise
    assert noisy.train_loss[-1] > clean.train_loss[-1]


def test_cpu_settings_are_restored():
    X, y, _, _ = _data(n_train=100)
    threads = torch.get_num_threads()
    fit(X, y, epochs=1, hidden_units=4, progress=False)
    assert torch.get_num_threads() == threads
    assert torch.tensor([1e-39]).item() != 0.0  # denormals no longer flushed


def test_overlapping_fits_in_threads():
    from concurrent.futures import ThreadPoolExecutor

    X, y, Xt, yt = _data(n_train=300)
    threads = torch.get_num_threads()
    alone = fit(X, y, X_test=Xt, y_test=yt, epochs=2, hidden_units=8, progress=False)[1]
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda seed: fit(X, y, X_test=Xt, y_test=yt, epochs=2, hidden_units=8,
                                              random_state=seed, progress=False)[1], [0, 0, 1]))
    assert runs[0] == alone and runs[1] == alone and runs[2] != alone
    assert torch.get_num_threads() == threads


def test_errors_in_any_network_group_propagate(monkeypatch):
    import threading

    from instrumentid import training

    def broken(*args):
        raise RuntimeError("scoring failed")

    monkeypatch.setattr(training, "_epoch_scores", broken)
    monkeypatch.setattr(training, "cpu_count", lambda: 2)  # two groups, one in a worker thread
    X, y, _, _ = _data(n_train=100)
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="scoring failed"):
        sweep(X, y, rates=[0.1, 0.01], epochs=3, hidden_units=4, progress=False)
    assert threading.active_count() == before


def test_learns_class_sorted_data():
    X, y, Xt, yt = _data(n_train=2000, n_test=500, n_classes=4)
    history = fit(X, y, X_test=Xt, y_test=yt, epochs=5, progress=False)[1]
    assert history.test_accuracy[-1] > 0.8
    assert history.train_loss[-1] < history.train_loss[0]


def test_without_test_set_and_odd_batches():
    X, y, _, _ = _data(n_train=90)
    history = fit(X, y, epochs=3, batch_size=200, hidden_units=8, progress=False)[1]  # one partial batch
    assert history.epochs == 3 and not history.has_test and history.test_loss == []
    assert "val_loss" not in format_epoch(history, 0)


def test_callback_and_progress_bar(capsys):
    X, y, Xt, yt = _data(n_train=200)
    seen = []
    fit(X, y, X_test=Xt, y_test=yt, epochs=3, hidden_units=8, callback=lambda i, h: seen.append((i, h.epochs)))
    assert seen == [(0, 1), (1, 2), (2, 3)]
    assert "fit" in capsys.readouterr().err


@pytest.mark.parametrize("seeds", [0, [11, 12, 13]])
def test_batched_sweep_matches_separate_fits(seeds):
    X, y, Xt, yt = _data()
    rates = [0.1, 0.01, 0.001]
    histories = sweep(X, y, X_test=Xt, y_test=yt, rates=rates, epochs=3, batch_size=64, hidden_units=24,
                      random_state=seeds, progress=False)
    assert list(histories) == rates
    for i, rate in enumerate(rates):
        seed = seeds if isinstance(seeds, int) else seeds[i]
        separate = fit(X, y, X_test=Xt, y_test=yt, epochs=3, batch_size=64, hidden_units=24, lr=rate,
                       random_state=seed, progress=False)[1]
        assert histories[rate].lr == rate
        assert_same_history(histories[rate], separate, len(X), len(Xt))
    if not isinstance(seeds, int):  # distinct seeds: distinct shuffles, so distinct curves even at one rate
        same_rate = sweep(X, y, rates=[0.01, 0.010001], epochs=2, hidden_units=8, random_state=[1, 2],
                          progress=False)
        assert same_rate[0.01].train_loss[0] != pytest.approx(same_rate[0.010001].train_loss[0], rel=1e-3)


def test_sweep_rates_order_the_losses():
    X, y, _Xt, _yt = _data(n_train=1000)
    histories = sweep(X, y, rates=[0.01, 0.0001], epochs=3, progress=False)
    assert histories[0.01].train_loss[-1] < histories[0.0001].train_loss[-1]


def test_defaults_are_the_training_settings():
    import inspect

    t = DEFAULT_TRAINING
    fit_defaults = {k: p.default for k, p in inspect.signature(fit).parameters.items()}
    sweep_defaults = {k: p.default for k, p in inspect.signature(sweep).parameters.items()}
    assert (fit_defaults["epochs"], fit_defaults["batch_size"], fit_defaults["lr"], fit_defaults["hidden_units"],
            fit_defaults["activation"], fit_defaults["random_state"]) == (t.epochs, t.batch_size, t.lr,
                                                                           t.hidden_units, t.activation, t.seed)
    assert (sweep_defaults["epochs"], tuple(sweep_defaults["rates"])) == (t.sweep_epochs, t.rates)


def _bad(X, y, **kw):
    return {"X": X, "y": y, "kw": kw}


X0, Y0, XT0, YT0 = _data(n_train=40, n_test=10)
X_NAN = X0.copy()
X_NAN[3, 7] = np.nan
X_NAN[5, 1] = np.inf


@pytest.mark.parametrize("case, message", [
    (_bad(X_NAN, Y0), r"X_train has 2 NaN/Inf values \(first at row 3, column 7\)"),
    (_bad(X0[0], Y0), r"X_train must have shape \(n_samples, n_features\)"),
    (_bad(X0, Y0[:-1]), r"y_train must have shape \(40,\)"),
    (_bad(X0, Y0 + 0.5), "y_train must be integer class indices"),
    (_bad(X0, Y0 - 1), "y_train must be integers in"),
    (_bad(X0, Y0, n_classes=3), r"y_train must be integers in \[0, 3\), got 3"),
    (_bad(X0, np.zeros(40, dtype=int)), "at least 2 classes"),
    (_bad(X0, Y0, X_test=XT0), "give both X_test and y_test"),
    (_bad(X0, Y0, X_test=XT0[:, :5], y_test=YT0), "X_test has 5 features per row, expected 20"),
    (_bad(X0, Y0, lr=0), "lr must be a positive finite number, got 0"),
    (_bad(X0, Y0, lr="fast"), "lr must be a positive number, got 'fast'"),
    (_bad(X0, Y0, batch_size=0), "batch_size must be a positive integer, got 0"),
    (_bad(X0, Y0, epochs=2.5), "epochs must be a positive integer, got 2.5"),
    (_bad(X0, Y0, activation="softmax"), "activation must be one of"),
    (_bad(X0, Y0, random_state="a"), "random_state must be an integer seed"),
    (_bad(X0, Y0, input_noise=-0.1), "input_noise must be a finite number >= 0, got -0.1"),
    (_bad(X0, Y0, input_noise="loud"), "input_noise must be a number >= 0, got 'loud'"),
])
def test_fit_refuses_bad_input(case, message):
    with pytest.raises(ParameterError, match=message):
        fit(case["X"], case["y"], progress=False, **case["kw"])


@pytest.mark.parametrize("kwargs, message", [
    ({"rates": [0.1, 0.1]}, "rates must be distinct"),
    ({"rates": [0.1, -1]}, "rate must be a positive finite number, got -1"),
    ({"rates": []}, "rates must be distinct positive numbers"),
    ({"rates": [0.1, 0.01], "random_state": [1]}, "random_state has 1 seeds for 2 rates"),
])
def test_sweep_refuses_bad_input(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        sweep(X0, Y0, progress=False, **kwargs)


def test_members_are_the_seeds_networks_merged():
    X, y, Xt, yt = _data()
    kwargs = {"epochs": 3, "hidden_units": 16, "progress": False}
    merged, history = fit(X, y, X_test=Xt, y_test=yt, members=3, random_state=4, **kwargs)
    assert merged.hidden_units == 48 and history.epochs == 3 and len(history.test_accuracy) == 3
    alone = [fit(X, y, X_test=Xt, y_test=yt, random_state=seed, **kwargs) for seed in (4, 5, 6)]
    x = torch.from_numpy(Xt)
    with torch.no_grad():
        expected = torch.stack([net(x) for net, _ in alone]).mean(dim=0)
        assert torch.allclose(merged(x), expected, atol=1e-5)  # each member trains as it would alone
    # the history is the members' mean per epoch
    assert np.allclose(history.test_accuracy, np.mean([h.test_accuracy for _, h in alone], axis=0))
    with pytest.raises(ParameterError, match="members must be a positive integer, got 0"):
        fit(X, y, members=0, **kwargs)


def test_branches_train_one_network_per_block():
    from instrumentid.model import BranchNet

    X, y, Xt, yt = _data()
    kwargs = {"epochs": 3, "hidden_units": 8, "progress": False, "members": 2, "random_state": 1}
    widths = (3, X.shape[1] - 3)
    net, history = fit(X, y, X_test=Xt, y_test=yt, branches=widths, **kwargs)
    assert isinstance(net, BranchNet) and net.widths == widths and net.hidden_units == 16
    alone = [fit(X[:, a:b], y, X_test=Xt[:, a:b], y_test=yt, **kwargs) for a, b in ((0, 3), (3, X.shape[1]))]
    x = torch.from_numpy(Xt)
    with torch.no_grad():
        want = torch.stack([torch.softmax(n(x[:, a:b]), 1) for (n, _), (a, b) in
                            zip(alone, ((0, 3), (3, X.shape[1])), strict=True)]).mean(0)
        assert torch.allclose(torch.softmax(net(x), 1), want, atol=1e-5)  # each block trains as it would alone
    assert np.allclose(history.test_loss, np.mean([h.test_loss for _, h in alone], axis=0))


@pytest.mark.parametrize("branches", [(6,), (3, 4), (0, 6), "33", (2.5, 3.5), 6])
def test_bad_branches(branches):
    X, y, _, _ = _data()
    with pytest.raises(ParameterError, match="branch"):
        fit(X[:, :6], y, branches=branches, epochs=1, progress=False)


@pytest.mark.parametrize("kwargs", [{"members": 2}, {"branches": (5, 15)}])
def test_callback_sees_every_epoch_of_the_mean_history(kwargs):
    X, y, Xt, yt = _data()
    seen = []
    _, history = fit(X, y, X_test=Xt, y_test=yt, epochs=3, hidden_units=8, progress=False,
                     callback=lambda i, h: seen.append((i, h.epochs, h.test_accuracy[i])), **kwargs)
    assert seen == [(i, 3, history.test_accuracy[i]) for i in range(3)]

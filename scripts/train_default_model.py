"""Train the model that ships with instrumentid (instrumentid/data/default_model/).

The recipe is :data:`instrumentid.settings.SHIPPED_TRAINING` on the features :data:`instrumentid.settings.
SHIPPED_FEATURES`: the lab's network shape (features -> one hidden layer -> 10 softmax outputs, Adam, batch 128) with
the width, activation, epochs, input noise and members that named instruments best in recordings the network never
heard, twice: once on the 120 descriptors, once on musicnn's pools of each note's first second, the two networks'
probabilities averaged (:class:`instrumentid.model.BranchNet`; leave-one-source-out,
``scripts/measure_generalization.py`` prints the candidates). It is trained on the training split of the default
data set with those features (notes rendered from every default source, see instrumentid.datasets.soundfont) and
measured on its test split (the pitch split); then:

- leave-one-source-out: for every source, the recipe is trained on the other sources and scored on it; the held-out
  logits of every source fit the softmax temperature that ships (temperature scaling), and the accuracy per source
  and class, the confusion matrix and the calibration error before and after go to ``training.json``;
- the model that ships is trained the same way on every note of the set (train + test), so users get the most data
  (``--train-only`` ships the measured model), with that temperature.

The classes are instrument names, and the model carries the note and feature settings it was trained with (the data
set's, see ``instrumentid.lab.model_settings``), so `instrumentid predict` can refuse notes or features computed
differently.

Usage (from the repository root)::

    .venv/bin/python scripts/train_default_model.py [--out DIR] [--epochs N] [--lr LR] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from instrumentid.calibration import OBJECTIVES  # noqa: E402
from instrumentid.settings import SHIPPED_FEATURES, SHIPPED_TRAINING  # noqa: E402

#: What the shipped temperature minimizes on the held-out notes, chosen by the calibration error it leaves on held-out
#: sources (README, "Confidence"): for the averaged probabilities of the shipped model's two networks, the
#: log-likelihood's temperature (1.61) took the mean ECE from 0.076 to 0.108, the Brier score's (1.19) to 0.079.
CALIBRATION_OBJECTIVE = "brier"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "instrumentid" / "data" / "default_model",
                        help="model folder to write (default: the package's built-in model)")
    recipe = SHIPPED_TRAINING
    parser.add_argument("--epochs", type=int, default=recipe.epochs, help=f"training epochs (default {recipe.epochs})")
    parser.add_argument("--lr", type=float, default=recipe.lr, help=f"Adam learning rate (default {recipe.lr:g})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--train-only", action="store_true",
                        help="ship the model trained on the training split only (default: refit on every note)")
    parser.add_argument("--objective", choices=OBJECTIVES, default=CALIBRATION_OBJECTIVE,
                        help="what the temperature minimizes on the held-out notes (default "
                             f"{CALIBRATION_OBJECTIVE}; see instrumentid.calibration.fit_temperature)")
    parser.add_argument("--held-out-logits", type=Path, default=None, metavar="NPZ",
                        help="the recipe's leave-one-source-out logits as scripts/measure_generalization.py "
                             "--save-logits wrote them (its first seed), instead of training the six folds again")
    args = parser.parse_args(argv)

    import numpy as np

    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.datasets.soundfont import build_soundfont_dataset
    from instrumentid.lab import model_settings
    from instrumentid.util import atomic_write_text

    t0 = time.perf_counter()
    ds = build_soundfont_dataset(feature_settings=SHIPPED_FEATURES, progress=True)
    names = np.asarray(ds.class_names)
    y_train, y_test = names[ds.y_train], names[ds.y_test]
    print(f"data set: {ds.path}")
    print(f"  {len(y_train)} training notes, {len(y_test)} test notes, {ds.n_features} features, "
          f"{ds.n_classes} classes: {', '.join(names)}")

    t1 = time.perf_counter()
    note_settings, feature_settings = model_settings(ds)

    def classifier():
        return InstrumentClassifier(hidden_units=recipe.hidden_units, activation=recipe.activation, lr=args.lr,
                                    epochs=args.epochs, batch_size=recipe.batch_size, random_state=args.seed,
                                    input_noise=recipe.input_noise, members=recipe.members, verbose=False,
                                    feature_settings=feature_settings, note_settings=note_settings,
                                    branches=feature_settings.branches)

    clf = classifier().fit(ds.X_train, y_train, eval_set=(ds.X_test, y_test),
                           trained_on={"data": ds.key, "rows": ["train"]})
    fit_s = time.perf_counter() - t1
    train_acc, test_acc = clf.score(ds.X_train, y_train), clf.score(ds.X_test, y_test)
    print(f"pitch split: train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f} (fit {fit_s:.1f} s)")

    X_all, y_all = np.concatenate([ds.X_train, ds.X_test]), np.concatenate([y_train, y_test])
    source = np.asarray([m["source"] for m in ds.metadata if m["split"] == "train"]
                        + [m["source"] for m in ds.metadata if m["split"] == "test"])
    if args.held_out_logits is None:
        held_out = leave_one_source_out(classifier, X_all, y_all, source, objective=args.objective)
    else:
        held_out = saved_held_out(args.held_out_logits, [str(c) for c in clf.classes_], objective=args.objective)
        print(f"leave-one-source-out logits read from {args.held_out_logits}")
    print(f"leave-one-source-out: mean {held_out['mean_accuracy']:.4f} over {len(held_out['sources'])} sources; "
          f"ECE {held_out['ece_before']:.3f} -> {held_out['ece_after']:.3f} at temperature "
          f"{held_out['temperature']:.3f}")

    if not args.train_only:
        clf = classifier().fit(X_all, y_all, trained_on={"data": ds.key, "rows": ["train", "test"]})
        print(f"refit on all {len(y_all)} notes for the shipped model")
    clf.set_temperature(held_out["temperature"], method=OBJECTIVES[args.objective],
                        fitted_on=f"held-out notes of {len(held_out['sources'])} sources, each scored by a model "
                                  f"trained on the others ({len(y_all)} notes)")

    out = clf.save(args.out)
    provenance = {
        "script": "scripts/train_default_model.py",
        "dataset": {k: ds.info.get(k) for k in ("kind", "key", "split", "test_source", "n_train", "n_test")},
        "sources": [src.get("name") for src in ds.info.get("settings", {}).get("sources", [])],
        "recipe": {**recipe.to_dict(), "epochs": args.epochs, "lr": args.lr, "seed": args.seed,
                   "features": SHIPPED_FEATURES.to_dict(), "branches": list(SHIPPED_FEATURES.branches)},
        "train_accuracy": round(float(train_acc), 6),
        "test_accuracy": round(float(test_acc), 6),
        "leave_one_source_out": held_out,
        "shipped_model_trained_on": "train" if args.train_only else "train+test",
        "fit_seconds": round(fit_s, 2),
        "total_seconds": round(time.perf_counter() - t0, 2),
    }
    atomic_write_text(Path(out) / "training.json", json.dumps(provenance, indent=1, default=str) + "\n")
    print(f"wrote {out}")

    # the model card (note counts and rendering settings of the data set go to training.json first); the
    # repository's MODEL_CARD.md only when this is the shipped model
    from instrumentid.modelcard import write_model_card

    shipped = Path(args.out).resolve() == Path(parser.get_default("out")).resolve()
    card = write_model_card(out, out=ROOT / "MODEL_CARD.md" if shipped else None, dataset=ds)
    print(f"wrote {card}" + (" and MODEL_CARD.md" if shipped else ""))
    return 0


def saved_held_out(path: Path, classes: list, *, objective: str) -> dict:
    """:func:`held_out_summary` of held-out logits saved by ``measure_generalization.py --save-logits`` (seed 0).

    The file's columns follow its ``classes`` (the default classes' order); they are put in ``classes``' order (the
    classifier's). The file must hold the shipped recipe (this script's) and every class.
    """
    import numpy as np
    from measure_generalization import CANDIDATES, SHIPPED

    with np.load(path) as z:
        if json.loads(str(z["recipe"])) != json.loads(json.dumps(CANDIDATES[SHIPPED])):
            raise SystemExit(f"{path} holds the logits of another recipe: {z['recipe']}")
        order = [list(z["classes"]).index(c) for c in classes]
        names = [k.split("/")[0] for k in z.files if k.endswith("/labels")]
        remap = np.argsort(order)  # the file's class index -> this order's
        logits = {n: z[f"{n}/seed0"][:, order] for n in names}
        codes = {n: remap[z[f"{n}/labels"]] for n in names}
    return held_out_summary(logits, codes, classes, objective=objective)


def leave_one_source_out(make_classifier, X, y, source, *, objective: str) -> dict:
    """Train on every source but one, score the one left out, for every source; fit the temperature on the results.

    Returns
    -------
    dict
        ``sources`` (name -> notes, accuracy, ECE before/after with a temperature fitted on the other sources'
        held-out notes only), ``per_class`` (source -> class -> recall), ``confusion`` (rows true, columns
        predicted, in the classifier's ``classes_`` order, which the logits' columns follow), ``mean_accuracy``,
        ``ece_before``/``ece_after`` (means over sources) and ``temperature`` (fitted on every held-out note: the
        one that ships).
    """
    import numpy as np

    from instrumentid.calibration import label_indices

    names = list(dict.fromkeys(source.tolist()))
    logits, codes, fold_classes = {}, {}, []
    for name in names:
        test = source == name
        clf = make_classifier().fit(X[~test], y[~test])
        fold_classes.append([str(c) for c in clf.classes_])
        logits[name], codes[name] = clf.decision_function(X[test]), label_indices(clf.classes_, y[test])
        print(f"  held out {name}: {np.mean(logits[name].argmax(1) == codes[name]):.4f} ({test.sum()} notes)",
              flush=True)
    classes = fold_classes[0]
    if any(c != classes for c in fold_classes):
        raise SystemExit(f"leave-one-source-out: a fold trained on other classes than {classes}: {fold_classes}")
    return held_out_summary(logits, codes, classes, objective=objective)


def held_out_summary(logits: dict, codes: dict, classes: list, *, objective: str) -> dict:
    """The figures of held-out logits (source -> [n, n_classes] in ``classes``' order) and labels (indices)."""
    import numpy as np

    from instrumentid.evaluation import held_out_figures

    figures = held_out_figures(logits, codes, len(classes), objective=objective)
    out: dict = {"sources": {}, "per_class": {}}
    for name, f in figures["groups"].items():
        out["sources"][name] = {
            "notes": f["notes"], "accuracy": round(f["accuracy"], 4), "ece_before": round(f["ece_before"], 4),
            "ece_after": round(f["ece_after"], 4),
            "temperature_from_other_sources": round(f["temperature_from_others"], 4),
        }
        out["per_class"][name] = {classes[c]: round(r, 4) for c, r in f["recall"].items()}
    rounded = out["sources"].values()
    out["mean_accuracy"] = round(float(np.mean([f["accuracy"] for f in rounded])), 4)
    out["ece_before"] = round(float(np.mean([f["ece_before"] for f in rounded])), 4)
    out["ece_after"] = round(float(np.mean([f["ece_after"] for f in rounded])), 4)
    out["temperature"] = round(figures["temperature"], 4)
    out["temperature_objective"] = objective
    confusion = figures["confusion"]
    out["confusion"] = {"classes": classes, "matrix": confusion.tolist()}
    return out


if __name__ == "__main__":
    sys.exit(main())

"""Train the model that ships with instrumentid (instrumentid/data/default_model/).

The lab's network and settings (120 -> 256 sigmoid -> 10 softmax, Adam lr 0.001, batch 128, 10 epochs) trained on the
training split of the default data set (notes rendered from the General-MIDI SoundFonts, see
instrumentid.datasets.soundfont), evaluated on its test split every epoch. The classes are instrument names, and the
model records the feature settings it was trained with, so `instrumentid predict` can refuse features computed
differently.

Usage (from the repository root)::

    .venv/bin/python scripts/train_default_model.py [--out DIR] [--epochs N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "instrumentid" / "data" / "default_model",
                        help="model folder to write (default: the package's built-in model)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default 10, the lab's)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)

    import numpy as np

    from instrumentid import features
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.datasets.soundfont import load_default_dataset
    from instrumentid.util import atomic_write_text

    t0 = time.perf_counter()
    ds = load_default_dataset(progress=True)
    names = np.asarray(ds.class_names)
    y_train, y_test = names[ds.y_train], names[ds.y_test]
    print(f"data set: {ds.path}")
    print(f"  {len(y_train)} training notes, {len(y_test)} test notes, {ds.n_features} features, "
          f"{ds.n_classes} classes: {', '.join(names)}")

    t1 = time.perf_counter()
    clf = InstrumentClassifier(hidden_units=256, activation="sigmoid", lr=1e-3, epochs=args.epochs, batch_size=128,
                               random_state=args.seed, verbose=True)
    clf.fit(ds.X_train, y_train, eval_set=(ds.X_test, y_test))
    clf.feature_settings_ = dict(features.FEATURE_SETTINGS)
    fit_s = time.perf_counter() - t1
    train_acc, test_acc = clf.score(ds.X_train, y_train), clf.score(ds.X_test, y_test)
    print(f"train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f} (fit {fit_s:.1f} s)")

    out = clf.save(args.out)
    provenance = {
        "script": "scripts/train_default_model.py",
        "dataset": {k: ds.info.get(k) for k in ("kind", "key", "split", "test_source", "n_train", "n_test")},
        "sources": [src.get("name") for src in ds.info.get("settings", {}).get("sources", [])],
        "epochs": args.epochs,
        "seed": args.seed,
        "train_accuracy": round(float(train_acc), 6),
        "test_accuracy": round(float(test_acc), 6),
        "fit_seconds": round(fit_s, 2),
        "total_seconds": round(time.perf_counter() - t0, 2),
    }
    atomic_write_text(Path(out) / "training.json", json.dumps(provenance, indent=1, default=str) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Golden outputs of the three user-facing paths, as a digest that can be compared before and after a change.

The digest covers every output of

- ``instrumentid lab`` on the default data set (run folder: histories, sweep, evaluation, notes, features, model,
  figures),
- ``instrumentid predict`` on the lab's example recording (the JSON output), and
- ``instrumentid dataset build --from-folder`` on a small folder of rendered recordings (arrays, classes, metadata,
  counts),

with what legitimately changes from run to run (timings, versions, absolute paths, dates, cache keys) left out.
Binary outputs (``.npy``, ``.png``, ``.safetensors``, ``.aiff``) are compared by the sha256 of their bytes, numbers
exactly: the point is that a restructuring changes nothing a user sees.

Regenerate ``tests/golden/outputs.json`` (only after a change that is meant to change the outputs) with::

    python tests/golden_outputs.py --write
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parent / "golden" / "outputs.json"
#: Keys whose values change from run to run (or with the machine) and are left out of the digest.
VOLATILE = {"timings_s", "versions", "built", "extraction_s", "path", "folder", "cache_key", "key", "model", "data",
            "split_csv", "jobs", "settings", "feature_settings", "note_settings", "audio_s"}
#: Run-folder files whose content is not compared (the HTML report embeds timings and versions).
SKIPPED = {"report.html", "run.json"}
#: What of a model.json is compared: what the model computes, not how the file is laid out.
#: (The file hash is left out: safetensors writes its header's metadata in no fixed order, so the bytes of two
#: saves of the same tensors may differ; the tensors themselves are compared.)
MODEL_KEYS = ("classes", "architecture", "scaler", "history")

#: The small folder of the folder build: class -> phrases (program, midi, start_s, dur_s, velocity).
FOLDER = {
    "clarinet": [[(71, m, 0.1 + 0.5 * i, 0.4, 80) for i, m in enumerate((60, 64))], [(71, 67, 0.1, 0.7, 90)]],
    "trumpet": [[(56, m, 0.1 + 0.5 * i, 0.4, 90) for i, m in enumerate((62, 65))], [(56, 70, 0.1, 0.7, 70)]],
    "violin": [[(40, m, 0.1 + 0.5 * i, 0.4, 90) for i, m in enumerate((67, 71))], [(40, 74, 0.1, 0.7, 80)]],
}


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def digest_folder(folder: Path) -> dict:
    """Every file of ``folder`` (recursively): JSON parsed and cleaned, CSV as rows, the rest by sha256."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if path.name in SKIPPED:
            continue
        if path.name == "model.json":
            config = json.loads(path.read_text())
            out[rel] = _clean({k: config.get(k) for k in MODEL_KEYS})
        elif path.suffix == ".json":
            out[rel] = _clean(json.loads(path.read_text()))
        elif path.suffix == ".csv":
            with open(path, newline="") as fh:
                out[rel] = list(csv.reader(fh))
        elif path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            out[rel] = {name: hashlib.sha256(np.ascontiguousarray(t).tobytes()).hexdigest()
                        for name, t in sorted(load_file(str(path)).items())}
        elif path.suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            out[rel] = {"shape": list(array.shape), "dtype": str(array.dtype),
                        "sha256": hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()}
        else:
            out[rel] = _sha(path)
    return out


def _cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("instrumentid")
    proc = subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        raise RuntimeError(f"instrumentid {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def write_folder(root: Path) -> Path:
    """Render :data:`FOLDER` to WAV files under ``root`` (one sub-folder per class)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import synth

    for name, phrases in FOLDER.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, notes in enumerate(phrases):
            synth.write(root / name / f"take{i}.wav", synth.render_phrase(notes, tail_s=0.3), sr=22050)
    return root


def produce(workdir) -> dict:
    """Run the three commands in ``workdir`` and return the digest of their outputs."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _cli("lab", "--out", "lab", "--quiet", cwd=workdir)
    predicted = _cli("predict", "lab/example.aiff", "--format", "json", "--quiet", cwd=workdir)
    write_folder(workdir / "audio")
    _cli("dataset", "build", "--from-folder", "audio", "--out", "folder_ds", "--jobs", "1", "--quiet", cwd=workdir)
    return {
        "lab": digest_folder(workdir / "lab"),
        "predict": json.loads(predicted.stdout),
        "folder_dataset": digest_folder(workdir / "folder_ds"),
    }


def differences(expected, actual, where: str = "", *, rel: float = 0.0) -> list:
    """Paths at which two digests differ (at most a few per branch); floats within ``rel`` (relative) are equal."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{where}/{k}: only in {'golden' if k in expected else 'new'}"
               for k in sorted(set(expected) ^ set(actual))]
        for k in sorted(set(expected) & set(actual)):
            out += differences(expected[k], actual[k], f"{where}/{k}", rel=rel)
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        out = []
        for i, (a, b) in enumerate(zip(expected, actual, strict=True)):
            out += differences(a, b, f"{where}[{i}]", rel=rel)
            if len(out) > 5:
                break
        return out
    if rel and isinstance(expected, float) and isinstance(actual, float):
        import math

        return [] if math.isclose(expected, actual, rel_tol=rel, abs_tol=rel / 10) else [
            f"{where}: {expected} != {actual} (relative tolerance {rel})"]
    return [] if expected == actual else [f"{where}: {str(expected)[:120]} != {str(actual)[:120]}"]


def main(argv=None) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write the digest to {GOLDEN}")
    parser.add_argument("--out", type=Path, help="write the digest here instead")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        digest = produce(tmp)
    text = json.dumps(digest, indent=1, sort_keys=True) + "\n"
    target = GOLDEN if args.write else args.out
    if target is None:
        sys.stdout.write(text)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

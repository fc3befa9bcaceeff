"""The default data set: isolated notes of real sampled instruments rendered from General-MIDI SoundFonts.

The lab's UIowa recordings cannot be downloaded here, so instrumentid renders its own: every class of
:data:`~instrumentid.datasets.programs.DEFAULT_CLASSES` is played by its General-MIDI programs over the instrument's
real range (:data:`~instrumentid.datasets.programs.PROGRAM_RANGES`), at three dynamics (:data:`VELOCITIES`, pp / mf /
ff) and several note lengths, from every SoundFont of :func:`~instrumentid.datasets.render.default_sources`. This
module plans the notes (:func:`plan_notes`), renders each with the variation that real recordings have and SoundFonts
lack (:func:`render_varied`: vibrato through the pitch wheel, then :func:`~instrumentid.datasets.variation.vary_note`),
featurizes it through :func:`instrumentid.analysis.clip_features` (the path that also featurizes the notes cut from
users' recordings), splits the notes and saves the set.

The set is saved in the UIowa layout (:func:`instrumentid.datasets.base.save_dataset`) with ``classes.json``,
a per-note ``metadata.csv`` (source, program, pitch, velocity, length, split) and ``dataset.json``, and cached in the
user's cache folder under a hash of every setting, the feature settings included
(:func:`~instrumentid.datasets.base.cached`). The table of every rendered note is cached the same way, so the two
splits of one set render it once.

Splits are grouped so that no rendered note leaks from train to test:

- ``pitch`` (default): every :data:`PITCH_TEST_EVERY`-th MIDI pitch is held out, for every source at once;
- ``source``: one SoundFont is held out (``test_source``) and the model trains on the others.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from instrumentid.audio import SILENCE_PEAK, resample
from instrumentid.datasets.base import FeatureDataset, cached, map_in_workers, resolve_settings, save_dataset
from instrumentid.datasets.programs import DEFAULT_CLASSES, program_range, read_programs
from instrumentid.datasets.render import RELEASE_S, default_sources, render_notes, sources_from_paths
from instrumentid.datasets.variation import VARIATION, room_bank, vary_note
from instrumentid.errors import ParameterError
from instrumentid.settings import SR, FeatureSettings, NoteSettings, settings_key
from instrumentid.util import cache_dir

__all__ = [
    "DURATIONS_S",
    "PITCH_TEST_EVERY",
    "RENDERS_PER_NOTE",
    "VELOCITIES",
    "build_soundfont_dataset",
    "feature_table",
    "load_default_dataset",
    "plan_notes",
    "render_varied",
    "render_varied_many",
    "split_test_mask",
]

#: MIDI velocities standing for the UIowa dynamics pp, mf and ff.
VELOCITIES = (30, 70, 110)
#: Held-note lengths in seconds (key down to key up); each rendered note also keeps
#: :data:`~instrumentid.datasets.render.RELEASE_S` of release.
DURATIONS_S = (0.3, 0.6, 1.0, 1.6)
#: Programs whose players can hold a note with vibrato and shape it (bowed strings, winds, brass).
SUSTAINED = frozenset(range(40, 44)) | frozenset(range(56, 80))
#: With the pitch split, every ``PITCH_TEST_EVERY``-th MIDI pitch is a test pitch.
PITCH_TEST_EVERY = 5
#: Renders per (source, program, pitch, velocity); each gets its own length and variation.
RENDERS_PER_NOTE = 3
#: Bump when rendering or variation code changes: old caches are then not reused.
BUILD_VERSION = 2
#: Metadata columns of the table of rendered notes (:func:`feature_table`).
TABLE_COLUMNS = ("source", "class", "label", "program", "pitch", "velocity", "length_s")
#: Rendered notes per worker task (all of one source and program, so a worker loads few SoundFonts).
CHUNK_NOTES = 64


# ----------------------------------------------------------------------------------------------- the plan
def plan_notes(sources, classes, *, seed: int = 0, renders: int = RENDERS_PER_NOTE) -> list:
    """List every note to render: one dict per note with its source, class, program, pitch, velocity, length, seed.

    The per-note seed depends only on ``seed`` and the note's identity, so results do not depend on the order in
    which worker processes render them.

    Parameters
    ----------
    sources : list of Source
        SoundFonts, in order (see :func:`~instrumentid.datasets.render.default_sources`).
    classes : dict
        Class map as :func:`~instrumentid.datasets.programs.read_programs` returns it; class ``i`` gets label ``i``.
    seed : int
        Seed of every random choice.
    renders : int
        Renders per (source, program, pitch, velocity).

    Returns
    -------
    list of dict
        In order of source, class, program, pitch, velocity and render: ``source``, ``path``, ``class``, ``label``,
        ``program``, ``pitch``, ``velocity``, ``length_s`` and the note's ``seed``.
    """
    import zlib

    rows = []
    for src in sources:
        src_key = zlib.crc32(src.name.encode())
        for label, (name, entry) in enumerate(classes.items()):
            for program in entry["programs"]:
                if src.programs is not None and program not in src.programs:
                    continue
                lo, hi = program_range(program, entry["range"])
                for midi in range(lo, hi + 1):
                    for velocity in VELOCITIES:
                        for rep in range(renders):
                            ss = np.random.SeedSequence([seed, src_key, program, midi, velocity, rep])
                            note_seed = int(ss.generate_state(1)[0])
                            duration_s = DURATIONS_S[np.random.default_rng(note_seed).integers(len(DURATIONS_S))]
                            rows.append({
                                "source": src.name, "path": str(src.path), "class": name, "label": label,
                                "program": program, "pitch": midi, "velocity": velocity,
                                "length_s": float(duration_s), "seed": note_seed,
                            })
    return rows




def render_varied(row: dict, *, sr: int = SR, variation: dict | None = None):
    """Render one planned note with its variation (:func:`render_varied_many` of one row).

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32] or None
        The varied note (:func:`~instrumentid.datasets.variation.vary_note`), or None if the SoundFont renders
        silence (a pitch outside its samples).
    """
    return render_varied_many([row], sr=sr, variation=variation)[0]


def render_varied_many(rows: list, *, sr: int = SR, variation: dict | None = None) -> list:
    """Render planned notes with their variation: :func:`render_varied` for each row, with fewer synthesizer calls.

    The dry notes of each SoundFont are rendered together (:func:`~instrumentid.datasets.render.render_notes`: one
    TiMidity++ run for many notes); every note draws its choices from its own seeded generator in the same order as
    when it is rendered alone, so the notes are the same.

    Parameters
    ----------
    rows : list of dict
        Rows of :func:`plan_notes`.
    sr : int
        Sample rate in Hz.
    variation : dict, optional
        Ranges of the random choices (default :data:`~instrumentid.datasets.variation.VARIATION`).

    Returns
    -------
    list of (np.ndarray [shape=(n,), dtype=float32] or None)
        One per row, in order: the varied note (:func:`~instrumentid.datasets.variation.vary_note`), or None if the
        SoundFont renders silence (a pitch outside its samples).
    """
    v = VARIATION if variation is None else variation
    plans = [_dry_note(row, v) for row in rows]
    dry: list = [None] * len(rows)
    for path in dict.fromkeys(row["path"] for row in rows):
        which = [i for i, row in enumerate(rows) if row["path"] == path]
        for i, y in zip(which, render_notes(path, [plans[i][1] for i in which], sr=sr), strict=True):
            dry[i] = y
    out: list = []
    for (rng, _, shift), y in zip(plans, dry, strict=True):
        if np.max(np.abs(y)) < SILENCE_PEAK:
            out.append(None)
            continue
        if shift:
            y = resample(y, orig_sr=sr, target_sr=sr * 2.0 ** (shift / 12.0))
        out.append(vary_note(y, rng=rng, sr=sr, variation=v))
    return out


def _dry_note(row: dict, v: dict) -> tuple:
    """The note's generator (after its render choices), what to render dry (render_note's arguments), the shift."""
    rng = np.random.default_rng(row["seed"])
    rng.integers(len(DURATIONS_S))  # the draw that chose the length in plan_notes
    vibrato = None
    if row["program"] in SUSTAINED and rng.random() < v["vibrato_probability"]:
        vibrato = (rng.uniform(*v["vibrato_rate_hz"]), rng.uniform(*v["vibrato_depth_semitones"]))
    # sample-zone shift: play k semitones away and resample back to the note's pitch, so the SoundFont's spectral
    # envelope (formants, body resonances) sits k semitones off, as another instrument's would
    shift = 0
    if rng.random() < v["zone_shift_probability"]:
        k = int(rng.integers(1, v["zone_shift_semitones"] + 1)) * (1 if rng.random() < 0.5 else -1)
        if 0 <= row["pitch"] + k <= 127:
            shift = k
    ratio = 2.0 ** (shift / 12.0)
    note = {"program": row["program"], "midi": row["pitch"] + shift, "velocity": row["velocity"],
            "duration_s": row["length_s"] / ratio, "release_s": RELEASE_S / ratio, "vibrato": vibrato}
    return rng, note, shift


# ----------------------------------------------------------------------------------------------- rendering in workers
def _featurize_chunk(rows: list, *, feature_settings: FeatureSettings, variation: dict) -> tuple:
    """Worker task: render and featurize planned notes.

    Returns
    -------
    kept : list of int
        ``index`` of the notes that sounded.
    X : np.ndarray [shape=(len(kept), n_features), dtype=float32]
    silent : list of int
        ``index`` of the notes rendered silent (dropped).
    """
    from instrumentid.analysis import clip_features

    kept, clips, silent = [], [], []
    for row, y in zip(rows, render_varied_many(rows, variation=variation), strict=True):
        if y is None:
            silent.append(row["index"])
        else:
            kept.append(row["index"])
            clips.append(y)
    return kept, clip_features(clips, sr=SR, settings=feature_settings), silent


def _run_chunks(rows: list, *, jobs: int | None, progress: bool, desc: str, feature_settings: FeatureSettings,
                variation: dict):
    """Render and featurize ``rows`` in worker processes (:func:`~instrumentid.datasets.base.map_in_workers`).

    Returns
    -------
    X : np.ndarray [shape=(n_kept, n_features), dtype=float32]
        In plan order.
    kept : list of int
        Plan indices of the rows of ``X``.
    silent : list of int
        Plan indices of the notes rendered silent, sorted.
    """
    # chunks of one (source, program), interleaved so each worker touches every SoundFont early
    groups: dict = {}
    for i, row in enumerate(rows):
        groups.setdefault((row["source"], row["program"]), []).append({**row, "index": i})
    chunks = [g[k : k + CHUNK_NOTES] for g in groups.values() for k in range(0, len(g), CHUNK_NOTES)]
    task = functools.partial(_featurize_chunk, feature_settings=feature_settings, variation=variation)
    results = map_in_workers(task, chunks,
                             jobs=jobs, progress=progress, desc=desc, unit="note", sizes=[len(c) for c in chunks])
    kept = [i for k, _, _ in results for i in k]
    X = np.concatenate([x for _, x, _ in results] or [np.zeros((0, feature_settings.n_features), np.float32)])
    order = np.argsort(kept, kind="stable")
    return X[order], [kept[i] for i in order], sorted(i for _, _, s in results for i in s)


# ----------------------------------------------------------------------------------------------- the table of notes
def _settings(sources, classes, *, seed: int, renders: int, variation: dict) -> dict:
    """Every setting of the rendering a feature table depends on (hashed into the cache keys with the features')."""
    return {
        "build_version": BUILD_VERSION,
        "sources": [
            {"name": s.name, "file": s.path.name, "bytes": s.path.stat().st_size,
             "programs": None if s.programs is None else list(s.programs)}
            for s in sources
        ],
        "classes": {k: {"programs": v["programs"], "range": v["range"]} for k, v in classes.items()},
        "velocities": list(VELOCITIES),
        "durations_s": list(DURATIONS_S),
        "release_s": RELEASE_S,
        "renders_per_note": renders,
        "variation": variation,
        "sr": SR,
        "seed": seed,
    }


def _cache_key(settings: dict, feature_settings: FeatureSettings, **extra) -> str:
    """Cache key of a table (``settings`` from :func:`_settings`) or, with ``split`` and ``test_source``, a set."""
    return settings_key({**settings, "feature_settings": feature_settings.to_dict(), **extra})


def _check_sources(sources: list, classes: dict) -> None:
    if not sources:
        raise ParameterError("no SoundFont found: install fluid-soundfont-gm or pass --soundfont FILE.sf2")
    if len(classes) < 2:
        raise ParameterError(f"a data set needs at least 2 classes, got {list(classes)}")


def feature_table(
    sources=None, classes=None, *, seed: int = 0, renders: int = RENDERS_PER_NOTE,
    feature_settings: FeatureSettings | None = None, variation: dict | None = None, jobs: int | None = None,
    force: bool = False, progress: bool = True,
):
    """Render and featurize every planned note, or reuse the cached table.

    The table is cached in the user's cache folder as a data set whose rows are all on the train side
    (:func:`~instrumentid.datasets.base.cached`), under a hash of every rendering and feature setting.

    Parameters
    ----------
    sources : list of Source, optional
        Default: :func:`~instrumentid.datasets.render.default_sources`.
    classes : dict, optional
        Class map as :func:`~instrumentid.datasets.programs.read_programs` returns it (default:
        :data:`~instrumentid.datasets.programs.DEFAULT_CLASSES`).
    seed : int
        Seed of every random choice (lengths, variation).
    renders : int
        Renders per (source, program, pitch, velocity).
    feature_settings : FeatureSettings, optional
        Default :data:`~instrumentid.settings.DEFAULT_FEATURES`.
    variation : dict, optional
        Ranges of the recording variation (default :data:`~instrumentid.datasets.variation.VARIATION`; part of the
        cache key).
    jobs : int, optional
        Worker processes (default: all cores).
    force : bool
        Render again even if the table is cached.
    progress : bool
        Show a progress bar.

    Returns
    -------
    X : np.ndarray [shape=(n_notes, n_features), dtype=float32]
        In plan order (:func:`plan_notes`), silent renders left out.
    meta : list of dict
        One row per kept note: source, class, label, program, pitch, velocity, length_s.
    info : dict
        ``cache_key``, the rendering ``settings``, ``feature_settings``, ``note_settings`` (None), counts of
        planned notes and of silent renders dropped (per source and program).

    Raises
    ------
    ParameterError
        No source, fewer than 2 classes, bad settings, or a program a SoundFont lacks.
    """
    sources = default_sources() if sources is None else list(sources)
    classes = read_programs(DEFAULT_CLASSES) if classes is None else classes
    feature_settings = resolve_settings(feature_settings, FeatureSettings, name="feature_settings")
    _check_sources(sources, classes)
    variation = dict(VARIATION if variation is None else variation)
    settings = _settings(sources, classes, seed=seed, renders=renders, variation=variation)
    key = _cache_key(settings, feature_settings)
    path = cache_dir() / "soundfont" / f"table-{key}"
    table = None if force else cached(path, key, allow_empty_test=True)
    if table is not None:
        return table.X_train, table.metadata, table.info
    # a program missing from a SoundFont raises ParameterError from render_note (in the worker that meets it)
    rows = plan_notes(sources, classes, seed=seed, renders=renders)
    if variation["room_probability"] > 0:
        room_bank(variation=variation)  # simulated once and cached on disk, before the workers read it
    X, kept, silent = _run_chunks(rows, jobs=jobs, progress=progress, desc="rendering notes",
                                  feature_settings=feature_settings, variation=variation)
    meta = [{c: rows[i][c] for c in TABLE_COLUMNS} for i in kept]
    dropped: dict = {}
    for i in silent:
        k = f"{rows[i]['source']}:{rows[i]['program']}"
        dropped[k] = dropped.get(k, 0) + 1
    info = {"cache_key": key, "settings": settings, "feature_settings": feature_settings.to_dict(),
            "note_settings": None, "n_planned": len(rows), "n_notes": len(kept), "n_silent_dropped": len(silent),
            "silent_dropped": dropped}
    labels = np.array([m["label"] for m in meta], dtype=np.int64)
    save_dataset(FeatureDataset(X, labels, X[:0], labels[:0], list(classes), meta, info), path)
    return X, meta, info


# ----------------------------------------------------------------------------------------------- splits
def split_test_mask(meta: list, *, split: str = "pitch", test_source: str | None = None) -> np.ndarray:
    """Which notes are test notes, grouped so that no rendered note has a sibling on the other side.

    Parameters
    ----------
    meta : list of dict
        Per-note metadata with ``source`` and ``pitch``.
    split : {"pitch", "source"}
        ``pitch``: the MIDI pitches ``p`` with ``p % PITCH_TEST_EVERY == 2`` are test pitches for every source;
        ``source``: every note of ``test_source`` is a test note, every other note a training note.
    test_source : str, optional
        With ``split="source"``: the held-out source (default: the last one).

    Returns
    -------
    np.ndarray [shape=(n_notes,), dtype=bool]
    """
    names = list(dict.fromkeys(m["source"] for m in meta))
    if split == "pitch":
        if test_source is not None:
            raise ParameterError("test_source is only used with split='source'")
        return np.array([int(m["pitch"]) % PITCH_TEST_EVERY == 2 for m in meta], dtype=bool)
    if split == "source":
        if len(names) < 2:
            raise ParameterError(f"split='source' needs at least two SoundFonts, got {names}")
        test_source = names[-1] if test_source is None else test_source
        if test_source not in names:
            raise ParameterError(f"unknown test_source {test_source!r}, expected one of {names}")
        return np.array([m["source"] == test_source for m in meta], dtype=bool)
    raise ParameterError(f"split must be 'pitch' or 'source', got {split!r}")


# ----------------------------------------------------------------------------------------------- the data set
def build_soundfont_dataset(
    soundfonts=None,
    *,
    programs=None,
    split: str = "pitch",
    test_source: str | None = None,
    out=None,
    seed: int = 0,
    note_settings: NoteSettings | None = None,
    feature_settings: FeatureSettings | None = None,
    jobs: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> FeatureDataset:
    """Build (or reuse) a SoundFont data set and save it in the UIowa layout.

    Parameters
    ----------
    soundfonts : list of str or Path, optional
        SF2/SF3 files to render (default: :func:`~instrumentid.datasets.render.default_sources`, each contributing
        its independent instruments).
    programs : dict or str or Path, optional
        Class -> programs map or a JSON/TOML file (see :func:`~instrumentid.datasets.programs.read_programs`; default
        :data:`~instrumentid.datasets.programs.DEFAULT_CLASSES`).
    split : {"pitch", "source"}
        Grouped train/test split (see :func:`split_test_mask`).
    test_source : str, optional
        Held-out source name with ``split="source"``.
    out : str or Path, optional
        Folder to write; default a folder of the cache named by the settings' hash. Either way, a folder that
        already holds this exact build is reused.
    seed : int
        Seed of every random choice (lengths, variation).
    note_settings : NoteSettings, optional
        Accepted for a signature shared with the folder builder; unused, since every rendered note is one clip and
        no note is detected (``dataset.json`` records ``note_settings: null``).
    feature_settings : FeatureSettings, optional
        How the notes are featurized (default :data:`~instrumentid.settings.DEFAULT_FEATURES`); part of the cache
        key and recorded in ``dataset.json``.
    jobs : int, optional
        Worker processes (default: all cores).
    force : bool
        Rebuild (and render again) even if a cached copy exists.
    progress : bool
        Show a progress bar.

    Returns
    -------
    FeatureDataset
        ``X_*`` of shape (n_notes, n_features), one metadata row per note (source, class, label, program, pitch,
        velocity, length_s, split), with ``path`` set to the saved folder.

    Raises
    ------
    ParameterError
        A file that is not a SoundFont, a bad programs map, split or settings, or a program a SoundFont lacks.
    """
    if split not in ("pitch", "source"):
        raise ParameterError(f"split must be 'pitch' or 'source', got {split!r}")
    resolve_settings(note_settings, NoteSettings, name="note_settings")
    feature_settings = resolve_settings(feature_settings, FeatureSettings, name="feature_settings")
    sources = default_sources() if soundfonts is None else sources_from_paths(soundfonts)
    classes = read_programs(DEFAULT_CLASSES if programs is None else programs)
    _check_sources(sources, classes)
    names = [s.name for s in sources]
    if split == "source":
        test_source = names[-1] if test_source is None else test_source
    # a folder name that depends on every setting, so different builds never share a folder
    key = _cache_key(_settings(sources, classes, seed=seed, renders=RENDERS_PER_NOTE, variation=VARIATION),
                     feature_settings,
                     split=split, test_source=test_source)
    target = Path(out) if out is not None else cache_dir() / "datasets" / f"soundfont-{split}-{key}"
    ds = None if force else cached(target, key)
    if ds is not None:
        return ds
    X, meta, info = feature_table(sources, classes, seed=seed, feature_settings=feature_settings, jobs=jobs,
                                  force=force, progress=progress)
    test = split_test_mask(meta, split=split, test_source=test_source)
    labels = np.array([m["label"] for m in meta], dtype=np.int64)
    metadata = [{**m, "split": "test" if t else "train"} for m, t in zip(meta, test, strict=True)]
    metadata = [m for m in metadata if m["split"] == "train"] + [m for m in metadata if m["split"] == "test"]
    info = {**info, "kind": "soundfont", "key": key, "cache_key": key, "split": split, "test_source": test_source,
            "class_names": list(classes), "n_train": int((~test).sum()), "n_test": int(test.sum())}
    ds = FeatureDataset(X[~test], labels[~test], X[test], labels[test], list(classes), metadata, info)
    ds.path = save_dataset(ds, target)
    return ds


def load_default_dataset(*, progress: bool = True, feature_settings: FeatureSettings | None = None) -> FeatureDataset:
    """The default data set (pitch split of every installed default SoundFont), built on first use and cached.

    Parameters
    ----------
    progress : bool
        Show a progress bar while building.
    feature_settings : FeatureSettings, optional
        Default :data:`~instrumentid.settings.DEFAULT_FEATURES` (the lab's 120); the shipped model's are
        :data:`~instrumentid.settings.SHIPPED_FEATURES`.

    Returns
    -------
    FeatureDataset
        See :func:`build_soundfont_dataset`.
    """
    return build_soundfont_dataset(progress=progress, feature_settings=feature_settings)

"""Property-based fuzzing of every parser of outside input (issue 14).

The property, for each target: a valid result or an :class:`~instrumentid.errors.InstrumentIdError` (a
``SystemExit`` with code 2 for the argument parser); never another exception. Targets: audio bytes (random, and
mutated valid WAV / AIFF / FLAC files), the four ``.npy`` files of a data set (any dtype and shape, object arrays,
pickles), ``model.json`` (random edits of any field, in files that are consistent with each other or not), split
CSVs, class-map JSON / TOML, and command-line arguments.

CI runs a few dozen examples per target (the default profile); ``HYPOTHESIS_PROFILE=long`` (``make test-long``)
runs thousands. Every example is written under a fresh temporary folder.
"""

import io
import json
import os
import tempfile
import tracemalloc
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import synth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instrumentid import cli, persistence
from instrumentid.audio import load_audio
from instrumentid.classifier import InstrumentClassifier
from instrumentid.datasets.folder import read_split_csv
from instrumentid.datasets.programs import read_programs
from instrumentid.datasets.uiowa import load_uiowa
from instrumentid.errors import InstrumentIdError

settings.register_profile("ci", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytestmark = pytest.mark.filterwarnings("ignore")
_ROOT: list = [None]  # the folder every example writes under (pytest's temporary folder of this module)


@pytest.fixture(scope="module", autouse=True)
def _fuzz_root(tmp_path_factory):
    _ROOT[0] = tmp_path_factory.mktemp("fuzz")


def _new_folder(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=_ROOT[0]))


def _valid_audio_bytes(fmt: str) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    y = np.asarray(synth.phrase_audio("gaps"))[:4000]
    sf.write(buffer, y, 22050, format=fmt, subtype="PCM_16")
    return buffer.getvalue()


VALID = {fmt: _valid_audio_bytes(fmt) for fmt in ("WAV", "AIFF", "FLAC")}


def _mutate(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for position, value in edits:
        out[position % len(out)] = value
    return bytes(out)


def _in_tmp(name: str, content: bytes) -> Path:
    path = _new_folder("fuzz-") / name
    path.write_bytes(content)
    return path


#: Most memory (Python and numpy allocations, traced) one example of a few KB may take: a header that claims a huge
#: length or rate must be refused or decoded without allocating for the claim.
MAX_EXAMPLE_MB = 64


@contextmanager
def bounded_memory(limit_mb: float = MAX_EXAMPLE_MB):
    """Fail if the block's traced allocations (numpy's included) peak over ``limit_mb``."""
    tracemalloc.start()
    try:
        yield
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < limit_mb * 2**20, f"peak {peak / 2**20:.0f} MB over {limit_mb} MB"


# ----------------------------------------------------------------------------------------------- audio
@given(st.binary(min_size=0, max_size=4096), st.sampled_from([".wav", ".aiff", ".flac", ".mp3", ".ogg"]))
def test_random_bytes_as_audio(content, suffix):
    path = _in_tmp(f"x{suffix}", content)
    with bounded_memory():
        try:
            y, sr = load_audio(path)
            assert y.ndim == 1 and np.isfinite(y).all() and sr == 22050
        except InstrumentIdError:
            pass


@given(st.sampled_from(sorted(VALID)),
       st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, 4096))
def test_mutated_audio_headers(fmt, edits, cut):
    """Valid files with bytes of their header changed, and truncated: decoded or refused, never a crash."""
    data = _mutate(VALID[fmt], edits)
    data = data[: max(1, len(data) - cut)]
    path = _in_tmp(f"x.{fmt.lower()}", data)
    with bounded_memory():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y, _ = load_audio(path)
            assert np.isfinite(y).all()
        except InstrumentIdError:
            pass


# ----------------------------------------------------------------------------------------------- .npy files
_DTYPES = st.sampled_from(["float32", "float64", "int64", "int8", "uint8", "bool", "complex64", "<U3", "object"])


@given(st.lists(st.tuples(_DTYPES, st.lists(st.integers(0, 5), min_size=0, max_size=3)), min_size=4, max_size=4),
       st.booleans())
def test_random_npy_files(specs, pickled):
    """Any dtype, any shape, object arrays and pickles: a data set or a ParameterError; a pickle is never loaded."""
    folder = _new_folder("fuzz-npy-")
    names = ["uiowa_train_data.npy", "uiowa_train_labels.npy", "uiowa_test_data.npy", "uiowa_test_labels.npy"]
    for name, (dtype, shape) in zip(names, specs, strict=True):
        if dtype == "object":
            array = np.empty(shape, dtype=object)
            array[...] = None
        else:
            array = np.zeros(shape, dtype=dtype)
        np.save(folder / name, array, allow_pickle=pickled or dtype == "object")
    try:
        with bounded_memory():
            ds = load_uiowa(folder)
    except InstrumentIdError:
        return
    assert not any(dtype == "object" for dtype, _ in specs)  # a pickle is never loaded
    assert ds.X_train.ndim == 2 and np.isfinite(ds.X_train).all() and ds.y_train.dtype == np.int64


# ----------------------------------------------------------------------------------------------- model.json
@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, feature_rows):
    X, names = feature_rows
    return InstrumentClassifier(hidden_units=4, epochs=1).fit(X, names).save(tmp_path_factory.mktemp("m") / "model")


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(
    max_size=8), lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children,
                                                                                   max_size=3), max_leaves=6)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value[:3]):
            yield from _paths(child, (*prefix, i))


def _set(config, path, value):
    if not path:
        return value
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return config


@given(st.data(), st.booleans())
def test_random_edits_of_model_json(model_folder, data, consistent):
    """Edit any field of model.json: alone (refused as edited) or re-saved consistently (a valid model or a
    ModelFileError, never another exception)."""
    files = persistence.read_model(model_folder)
    config = json.loads(json.dumps(files.config))
    paths = [p for p in _paths(config) if p]
    path = data.draw(st.sampled_from(paths))
    config = _set(config, path, data.draw(_JSON))
    folder = _new_folder("fuzz-model-") / "model"
    if consistent:
        body = {k: v for k, v in config.items()
                if k not in ("format", "format_version", "tensors", "weights_sha256", "weights_bytes")}
        try:
            persistence.write_model(folder, body, files.tensors)
        except (TypeError, ValueError):
            return  # not JSON-writable (NaN keys...): nothing to load
    else:
        folder.mkdir()
        (folder / "model.safetensors").write_bytes((model_folder / "model.safetensors").read_bytes())
        (folder / "model.json").write_text(json.dumps(config))
    try:
        InstrumentClassifier.load(folder)
    except InstrumentIdError:
        pass


# ----------------------------------------------------------------------------------------------- text formats
@given(st.text(max_size=300))
def test_random_split_csv(text):
    path = _in_tmp("split.csv", text.encode("utf-8", "surrogatepass") if text.isprintable() else text.encode(
        "utf-8", "replace"))
    try:
        read_split_csv(path, folder=path.parent, files=["violin/a.wav", "flute/b.wav"])
    except InstrumentIdError:
        pass


@given(st.text(max_size=300), st.sampled_from([".json", ".toml"]))
def test_random_class_maps(text, suffix):
    path = _in_tmp(f"map{suffix}", text.encode("utf-8", "replace"))
    try:
        classes = read_programs(path)
        assert isinstance(classes, dict) and classes
    except InstrumentIdError:
        pass


@given(_JSON)
def test_random_class_map_values(value):
    try:
        read_programs(value if isinstance(value, dict) else {"x": value})
    except InstrumentIdError:
        pass


# ----------------------------------------------------------------------------------------------- the command line
_WORDS = st.sampled_from(["--epochs", "--batch-size", "--lr", "--seed", "--rates", "--jobs", "--test-size",
                          "--format", "--split", "-1", "0", "1e23", "nan", "inf", "x", "", "0.5", "json", "pitch"])


@given(st.sampled_from(["lab", "train", "sweep", "predict", "notes", "evaluate", "export", "report", "plot",
                        "spectrogram", "dataset"]), st.lists(_WORDS, max_size=6))
def test_random_command_lines_parse_or_exit_2(command, words):
    """The argument parser accepts or refuses (exit 2) any command line: it never raises anything else."""
    try:
        cli.build_parser().parse_args([command, *words])
    except SystemExit as exit_:
        assert exit_.code in (0, 2)


def test_the_memory_bound_can_fail():
    with pytest.raises(AssertionError, match="over 1 MB"):
        with bounded_memory(1):
            np.ones(2**20, dtype=np.float64).sum()  # 8 MB, traced

"""Class maps: which General-MIDI programs play each class of a SoundFont data set, over which pitch range.

:data:`DEFAULT_CLASSES` is the default data set's map (ten instruments); :func:`read_programs` reads and checks a map
given as a dict or a JSON/TOML file (``instrumentid dataset build --programs FILE``). Without a range of its own, a
program is played over the real instrument's range (:data:`PROGRAM_RANGES`).

Examples
--------
>>> from instrumentid.datasets.programs import read_programs
>>> read_programs({"horn": [60], "tuba": {"programs": [58], "range": [30, 50]}})
{'horn': {'programs': [60], 'range': None}, 'tuba': {'programs': [58], 'range': (30, 50)}}
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from instrumentid.errors import ParameterError

__all__ = ["DEFAULT_CLASSES", "FALLBACK_RANGE", "PROGRAM_RANGES", "program_range", "read_programs"]

#: Class name -> General-MIDI programs (0-based) that play it.
DEFAULT_CLASSES = {
    "piano": [0],
    "guitar": [24, 25],
    "violin": [40],
    "cello": [42],
    "flute": [73],
    "clarinet": [71],
    "oboe": [68],
    "saxophone": [64, 65, 66],
    "trumpet": [56],
    "trombone": [57],
}

#: General-MIDI program -> (lowest, highest) sounding MIDI pitch of the real instrument.
PROGRAM_RANGES = {
    0: (21, 108),  # acoustic grand piano, A0-C8
    24: (40, 84),  # nylon guitar, E2-C6
    25: (40, 86),  # steel guitar, E2-D6
    40: (55, 100),  # violin, G3-E7
    41: (48, 88),  # viola, C3-E6
    42: (36, 81),  # cello, C2-A5
    43: (28, 67),  # contrabass, E1-G4
    56: (54, 84),  # trumpet, F#3-C6
    57: (40, 74),  # tenor trombone, E2-D5
    58: (28, 65),  # tuba, E1-F4
    60: (34, 77),  # French horn, B1-F5
    64: (56, 87),  # soprano sax, Ab3-Eb6
    65: (49, 81),  # alto sax, Db3-A5
    66: (44, 76),  # tenor sax, Ab2-E5
    67: (36, 69),  # baritone sax, C2-A4
    68: (58, 91),  # oboe, Bb3-G6
    69: (52, 81),  # English horn, E3-A5
    70: (34, 75),  # bassoon, Bb1-Eb5
    71: (50, 91),  # clarinet in Bb, D3-G6
    72: (74, 108),  # piccolo, D5-C8
    73: (60, 96),  # flute, C4-C7
}
#: Range used for a program missing from :data:`PROGRAM_RANGES` (a programs file can give its own).
FALLBACK_RANGE = (48, 84)


def read_programs(spec) -> dict:
    """Read and check a class -> programs map.

    Parameters
    ----------
    spec : dict or str or Path
        A mapping, or a ``.json`` / ``.toml`` file holding one. Each class name maps to a list of General-MIDI
        programs (0-127), or to a table ``{"programs": [...], "range": [lowest_midi, highest_midi]}``; a JSON file
        may also wrap the map as ``{"classes": {...}}``. Without a range, :data:`PROGRAM_RANGES` is used.

    Returns
    -------
    dict
        Class name -> {"programs": [int, ...], "range": (lo, hi) or None}.

    Raises
    ------
    ParameterError
        Unreadable file, empty map, or an entry that is not a class name with programs in [0, 127].
    """
    if not isinstance(spec, dict):
        path = Path(os.fspath(spec))
        if not path.is_file():
            raise ParameterError(f"programs file not found: {str(path)!r}")
        try:
            if path.suffix.lower() == ".toml":
                import tomllib

                spec = tomllib.loads(path.read_text())
            else:
                spec = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise ParameterError(f"cannot read programs file {str(path)!r}: {err}") from None
    if isinstance(spec, dict) and set(spec) == {"classes"}:
        spec = spec["classes"]
    if not isinstance(spec, dict) or not spec:
        raise ParameterError(f"programs map must be a non-empty table of class name -> programs, got {spec!r}")
    out = {}
    for name, entry in spec.items():
        rng_ = None
        if isinstance(entry, dict):
            unknown = set(entry) - {"programs", "range"}
            if unknown:
                raise ParameterError(f"class {name!r}: unknown key(s) {sorted(unknown)}, expected programs, range")
            rng_ = entry.get("range")
            entry = entry.get("programs")
        if isinstance(entry, int) and not isinstance(entry, bool):
            entry = [entry]
        if not isinstance(name, str) or not name.strip() or not isinstance(entry, list) or not entry:
            raise ParameterError(f"class {name!r}: expected a non-empty list of General-MIDI programs, got {entry!r}")
        for prog in entry:
            if isinstance(prog, bool) or not isinstance(prog, int) or not 0 <= prog <= 127:
                raise ParameterError(f"class {name!r}: unknown program {prog!r}, expected an integer in [0, 127]")
        if rng_ is not None:
            ok = isinstance(rng_, list) and len(rng_) == 2 and all(isinstance(m, int) for m in rng_)
            if not ok or not 0 <= rng_[0] <= rng_[1] <= 127:
                raise ParameterError(f"class {name!r}: range must be [lowest, highest] MIDI pitches, got {rng_!r}")
            rng_ = (int(rng_[0]), int(rng_[1]))
        out[name.strip()] = {"programs": sorted({int(p) for p in entry}), "range": rng_}
    return out


def program_range(program: int, class_range) -> tuple:
    """The MIDI pitches a program is played over.

    Parameters
    ----------
    program : int
        General-MIDI program.
    class_range : (int, int) or None
        The class's own range (from :func:`read_programs`), if any.

    Returns
    -------
    (lowest, highest) : tuple of int
        ``class_range``, else :data:`PROGRAM_RANGES` ``[program]``, else :data:`FALLBACK_RANGE`.
    """
    return tuple(class_range) if class_range is not None else PROGRAM_RANGES.get(program, FALLBACK_RANGE)

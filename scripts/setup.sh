#!/usr/bin/env bash
# One-shot set-up on a fresh machine: Debian SoundFonts, a virtual environment, torch (CPU) first, then the package.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3}"

# SoundFonts for the default data set (FluidR3 GM; TimGM6mb ships inside pretty_midi).
need_apt=()
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || need_apt+=(fluid-soundfont-gm)
# Two more independent sources of some instruments (see instrumentid/datasets/soundfont.py).
[ -f /usr/share/sounds/sf2/sf_GMbank.sf2 ] || need_apt+=(csound-soundfont)
[ -f /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 ] || need_apt+=(musescore-general-soundfont-small)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip 2>/dev/null || true
# CPU build from local disk; an unpinned torch would pull a multi-GB CUDA build.
"$VENV/bin/python" -m pip install -q torch==2.13.0
# tinysoundfont's optional pyaudio dependency does not build here.
"$VENV/bin/python" -m pip install -q --no-deps tinysoundfont
"$VENV/bin/python" -m pip install -q -e ".[test,export]"
touch "$VENV/.installed"

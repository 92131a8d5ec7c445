#!/usr/bin/env bash
# The main job, in seconds and with no training: set up, then compose a tunebook of new tunes with
# the pretrained model bundled in the package, keeping only tunes that parse and copy no training
# tune, and render them (MIDI, WAV, SVG, a tunebook page).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out="runs/demo-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
.venv/bin/tunegen generate --num-tunes 10 --seed "${SEED:-1}" --keep valid,novel \
    --out "$out/tunes.abc" --render midi,wav,svg
echo
echo "New tunes: $out/tunes.abc"
echo "Listen and read: open $out/tunes-render/index.html in a browser"

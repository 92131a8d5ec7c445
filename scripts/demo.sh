#!/usr/bin/env bash
# The main job on the embedded default: set up, train a small model on O'Neill's 1850 tunes for
# a couple of minutes, then compose a tunebook of new tunes and render them (MIDI, WAV, SVG, page).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
run="runs/demo-$(date +%Y%m%d-%H%M%S)"
.venv/bin/tunegen train --abc oneills1850 --preset default --max-minutes "${MINUTES:-2}" --out "$run"
.venv/bin/tunegen generate "$run/best.ckpt" --num-tunes 10 --temperature 0.8 --seed 1 \
    --out "$run/tunes.abc" --render midi,wav,svg
echo
echo "New tunes: $run/tunes.abc"
echo "Listen and read: open $run/tunes-render/index.html in a browser"

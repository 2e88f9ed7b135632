#!/usr/bin/env bash
# Optional renderer: FluidSynth with a General MIDI SoundFont (Debian's `fluidsynth` pulls the 6 MB TimGM6mb
# font; `fluid-soundfont-gm` adds the 142 MB FluidR3 font). Installed when this machine can (root + apt);
# otherwise the FluidSynth tests skip and say why. Never fails the caller.
set -u
if command -v fluidsynth >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "fluidsynth is not installed (needs root + apt-get): the FluidSynth renderer tests will skip"
  exit 0
fi
echo "installing fluidsynth (Debian package, ~6 MB with its General MIDI SoundFont)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends fluidsynth >/dev/null 2>&1 \
  || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends fluidsynth >/dev/null 2>&1; } \
  || echo "fluidsynth could not be installed: the FluidSynth renderer tests will skip"
exit 0

#!/usr/bin/env bash
# Optional tool: ffmpeg, for the watermark benchmark's codec, resampling and time-stretch attacks
# (scripts/bench_watermark.py; MP3 via libmp3lame, AAC via ffmpeg's native encoder). Installed when this machine
# can (root + apt); otherwise the benchmark says what is missing. Never fails the caller.
set -u
if command -v ffmpeg >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ffmpeg is not installed (needs root + apt-get): the watermark benchmark's codec attacks cannot run"
  exit 0
fi
echo "installing ffmpeg (Debian package)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null 2>&1 \
  || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null 2>&1; } \
  || echo "ffmpeg could not be installed: the watermark benchmark's codec attacks cannot run"
exit 0

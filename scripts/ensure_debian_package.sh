#!/usr/bin/env bash
# Install an optional Debian package when its command is missing and this machine can (root + apt-get);
# otherwise say what will not work. Never fails the caller.
#   scripts/ensure_debian_package.sh <command> <package> <what needs it>
set -u
command_name=$1 package=$2 needed_by=$3
if command -v "$command_name" >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "$package is not installed (needs root + apt-get): $needed_by will skip or fail with a clear error"
  exit 0
fi
echo "installing $package (Debian package) for $needed_by"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
  || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1; } \
  || echo "$package could not be installed: $needed_by will skip or fail with a clear error"
exit 0

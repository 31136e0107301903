#!/usr/bin/env bash
# Makes sure the headless browser that the operations page's browser test
# drives is installed: Debian's chromium package, at /usr/bin/chromium.
#
#   scripts/install-browser.sh
#
# Does nothing when /usr/bin/chromium is there already. Otherwise, as root,
# installs the package quietly; as anyone else it stops with a message,
# since installing needs root. Safe to run any number of times.
set -euo pipefail

browser=/usr/bin/chromium

log() { printf 'install-browser: %s\n' "$*" >&2; }

if [ -x "$browser" ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "$browser is missing and installing it needs root:"
  log "  sudo apt-get update && sudo apt-get install -y chromium"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "$browser is missing and there is no apt-get here; install Chromium by hand"
  exit 1
fi

log "installing Debian's chromium package"
if ! { apt-get update -qq >&2 &&
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
  log "apt-get could not install chromium"
  exit 1
fi

if [ ! -x "$browser" ]; then
  log "the chromium package is installed but $browser is still missing"
  exit 1
fi
log "installed $("$browser" --version 2>/dev/null || echo chromium)"

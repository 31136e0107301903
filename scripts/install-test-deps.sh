#!/usr/bin/env bash
# Installs, from Debian's packages, the tools some tests drive besides
# PostgreSQL (which scripts/db.sh handles): Prometheus's promtool, to check
# the alert rules, and Chromium, for the operations page's browser test.
#
# As root it installs what is missing. As anyone else it only says what is
# missing: those tests then skip, except under CI, where they fail.
set -euo pipefail
cd "$(dirname "$0")"

log() { printf 'test-deps: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  command -v promtool >/dev/null 2>&1 || log "promtool is missing (apt-get install prometheus); the alert rule check will skip"
  [ -x /usr/bin/chromium ] || log "chromium is missing (apt-get install chromium); the browser test will skip"
  exit 0
fi

if ! command -v promtool >/dev/null 2>&1; then
  log "installing Debian's prometheus package for promtool"
  apt-get update -qq >&2
  # The package would start a Prometheus server where systemd runs; only
  # promtool is wanted.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
./install-browser.sh

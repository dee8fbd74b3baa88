#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine (idempotent):
#   prometheus (2.42: writes the WAL fixtures, promtool dumps them, remote-write receiver)
#   victoria-metrics (1.79: a real remote-write receiver)
# Run as root (CI) or with sudo available.
set -euo pipefail
pkgs=()
command -v prometheus >/dev/null 2>&1 || pkgs+=(prometheus)
command -v promtool >/dev/null 2>&1 || pkgs+=(prometheus)
command -v victoria-metrics >/dev/null 2>&1 || pkgs+=(victoria-metrics)
if [ ${#pkgs[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  # Debian may start the packaged service; the tests run their own instances.
  if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl stop prometheus prometheus-node-exporter victoria-metrics 2>/dev/null || true
  fi
fi

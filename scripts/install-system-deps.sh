#!/usr/bin/env bash
# Installs the Debian packages Cherga's run and tests need, when they are absent.
# Runs as root (apt-get) or prints what to install by hand otherwise.
# Usage: scripts/install-system-deps.sh [run|test]
set -euo pipefail
mode="${1:-test}"
pkgs_run=(mosquitto espeak-ng sox fonts-dejavu-core fonts-noto-core)
pkgs_test=(postgresql chromium mtools dosfstools fdisk e2fsprogs zbar-tools libzbar0 hunspell hunspell-uk hunspell-ru hunspell-kk)
want=("${pkgs_run[@]}")
if [ "$mode" = "test" ]; then want+=("${pkgs_test[@]}"); fi
missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "Cherga needs these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian mosquitto package enables a system service; tests start their own brokers.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi

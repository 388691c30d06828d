#!/usr/bin/env bash
# Build (once) a minimal Debian root file system for the system tests, and cache it.
# Usage: bash tests/system/make-root.sh ARCH   (arm64 or amd64; as root)
# Prints the root's path. The root is cached under $SEREPORT_ROOTS (default
# ~/.cache/sereport-tests/roots) and rebuilt only when this script changes.
#   arm64: minbase + python3 + procps, run under qemu-user-static (binfmt is registered here)
#   amd64: minbase + python3 + procps + systemd, booted with systemd-nspawn by the unit tests
# (procps: the package depends on it for the unit's ExecReload=/bin/kill; every box has it.)
# The Debian mirror and suite are the ones apt on this machine uses.
set -euo pipefail
arch=${1:?usage: make-root.sh arm64|amd64}
case "$arch" in arm64|amd64) ;; *) echo "make-root: unknown architecture: $arch" >&2; exit 2;; esac
[ "$(id -u)" -eq 0 ] || { echo "make-root: needs root (debootstrap, chroot)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
cache=${SEREPORT_ROOTS:-$HOME/.cache/sereport-tests/roots}
stamp=$(sha256sum "$here/make-root.sh" | cut -c1-12)
root="$cache/debian-$arch-$stamp"

# The mirror and suite apt uses (deb822 .sources first, then sources.list).
mirror=${SEREPORT_DEBIAN_MIRROR:-}
suite=${SEREPORT_DEBIAN_SUITE:-}
if [ -z "$mirror" ] || [ -z "$suite" ]; then
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    m=$(awk '/^URIs:/ {print $2; exit}' "$f")
    s=$(awk '/^Suites:/ {print $2; exit}' "$f")
    case "$m" in *security*|"") continue;; esac
    mirror=${mirror:-$m}; suite=${suite:-$s}; break
  done
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  read -r m s < <(awk '$1=="deb" && $2 !~ /security/ {print $2, $3; exit}' /etc/apt/sources.list) || true
  mirror=${mirror:-$m}; suite=${suite:-$s}
fi
[ -n "$mirror" ] && [ -n "$suite" ] || { echo "make-root: no Debian mirror found in apt's sources; set SEREPORT_DEBIAN_MIRROR and SEREPORT_DEBIAN_SUITE" >&2; exit 1; }

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
if [ "$arch" = arm64 ]; then
  [ -e /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
  command -v update-binfmts >/dev/null || need+=(binfmt-support)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "make-root: installing ${need[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ "$arch" = arm64 ]; then
  # binfmt_misc: let the kernel run aarch64 binaries through qemu.
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >&2
fi

if [ ! -e "$root/.complete" ]; then
  mkdir -p "$cache"
  rm -rf "$root.tmp"
  include=python3,procps
  [ "$arch" = amd64 ] && include=python3,procps,systemd,systemd-sysv
  echo "make-root: debootstrap $suite $arch into $root (a few minutes, once)" >&2
  log="$cache/debootstrap-$arch.log"
  if ! debootstrap --arch="$arch" --variant=minbase --include="$include" "$suite" "$root.tmp" "$mirror" >"$log" 2>&1; then
    echo "make-root: debootstrap failed; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  # Nothing in the root may try to reach a network or wait for one.
  rm -f "$root.tmp"/etc/apt/sources.list "$root.tmp"/etc/apt/sources.list.d/*
  if [ "$arch" = amd64 ]; then
    ln -sf /dev/null "$root.tmp/etc/systemd/system/systemd-networkd-wait-online.service"
    ln -sf /dev/null "$root.tmp/etc/systemd/system/systemd-timesyncd.service"
    ln -sf /dev/null "$root.tmp/etc/systemd/system/apt-daily.timer"
    ln -sf /dev/null "$root.tmp/etc/systemd/system/apt-daily-upgrade.timer"
    echo sereport-test > "$root.tmp/etc/hostname"
  fi
  apt_clean="$root.tmp/var/cache/apt/archives"
  find "$apt_clean" -name '*.deb' -delete 2>/dev/null || true
  touch "$root.tmp/.complete"
  mv "$root.tmp" "$root"
  # Older builds of this script's roots are stale.
  for old in "$cache"/debian-"$arch"-*; do
    [ "$old" = "$root" ] || rm -rf "$old"
  done
fi
echo "$root"

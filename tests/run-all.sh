#!/usr/bin/env bash
# Install everything the test suite needs, then run all of it.
# Usage: [PYTHON=/path/to/python3.X] bash tests/run-all.sh [pytest arguments]
# PYTHON is the interpreter to test on (default: python3), 3.8 or newer; each
# interpreter gets its own virtual environment under .venv-test/.
# As root it installs the Debian packages of the real peers (GStreamer RTSP
# server, sipp, ...); otherwise it uses sudo when it can, or says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1 || [ -d "$PYTHON" ]; then
  echo "run-all: no Python interpreter at '$PYTHON' (give one, e.g. PYTHON=\$(pyenv prefix 3.8.18)/bin/python)" >&2
  exit 2
fi
if ! version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2]); sys.exit(sys.version_info < (3, 8))' 2>/dev/null); then
  echo "run-all: $PYTHON is Python ${version:-of unknown version}; sereport needs 3.8 or newer" >&2
  exit 2
fi

APT_PACKAGES=(
  python3-venv
  python3-gi gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
  sip-tester kamailio nginx lighttpd openssl
  iproute2  # ip netns: the ONVIF discovery tests run in network namespaces they make
  chromium systemd
  debootstrap qemu-user-static binfmt-support systemd-container
  postgresql  # the receiver's PostgreSQL backend, started by the tests (initdb)
  prometheus  # for promtool (check metrics); it is the only Debian package with it
)

missing=()
if command -v dpkg-query >/dev/null; then
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo); else SUDO=(none); fi
  if [ "${SUDO[0]:-}" = none ]; then
    echo "run-all: missing Debian packages (install them as root): ${missing[*]}" >&2
  else
    echo "run-all: installing ${missing[*]}" >&2
    "${SUDO[@]}" apt-get update -qq
    # The tests start their peers themselves: Debian must not start the packages' own
    # servers (nginx on 80, kamailio on 5060, prometheus on 9090) while installing them.
    policy=/usr/sbin/policy-rc.d made_policy=""
    if [ ! -e "$policy" ]; then
      trap '"${SUDO[@]}" rm -f "$policy"' EXIT  # even when interrupted
      printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
      "${SUDO[@]}" chmod 0755 "$policy"
      made_policy=1
    fi
    rc=0
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
    [ -z "$made_policy" ] || { "${SUDO[@]}" rm -f "$policy"; trap - EXIT; }
    [ "$rc" -eq 0 ] || { echo "run-all: apt-get install failed" >&2; exit "$rc"; }
    if [ -d /run/systemd/system ]; then  # nor start them at the next boot
      for service in nginx lighttpd kamailio prometheus; do
        case " ${missing[*]} " in *" $service "*)
          "${SUDO[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true ;;
        esac
      done
    fi
  fi
fi

venv=.venv-test/py$version
if [ ! -x "$venv/bin/python" ]; then
  echo "run-all: creating $venv with $PYTHON (Python $version)" >&2
  "$PYTHON" -m venv "$venv"
fi
# A pip older than 24 (3.8's venv brings 23.0) backtracks for tens of minutes over the test
# extra's dependencies (schemathesis); a newer one (25.0 is the last for Python 3.8)
# resolves them in seconds.
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade 'pip>=24.2'
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test,receiver]'

# The system tests (tests/system): the wheels the .deb carries (fetched from PyPI into
# packaging/cache/ once, refreshed when the dependencies change), and, as root, the minimal
# Debian roots they install it into (debootstrap from apt's mirror, once: a few minutes).
for arch in arm64 amd64; do
  PYTHON="$venv/bin/python" bash packaging/build-deb.sh --arch "$arch" --fetch-only >/dev/null \
    || echo "run-all: could not refresh packaging/cache/$arch; the tests use what it has" >&2
done
if [ "$(id -u)" -eq 0 ]; then
  for arch in arm64 amd64; do
    bash tests/system/make-root.sh "$arch" >/dev/null
  done
fi
echo "run-all: testing on $("$venv/bin/python" -VV | head -n 1)" >&2
exec "$venv/bin/python" -m pytest "$@"

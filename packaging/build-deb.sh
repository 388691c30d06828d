#!/usr/bin/env bash
# Build the offline Debian package of sereport.
#
# Usage: bash packaging/build-deb.sh --arch arm64|amd64 [--offline] [--fetch-only]
#                                    [--version-suffix +S] [--out DIR]
#
# Writes DIR/sereport_<version>_<arch>.deb (DIR: dist/). The package carries a wheel of
# sereport, the wheels of its runtime dependencies for <arch> and CPython 3.8 to 3.13, and a
# pip wheel that runs on 3.8; its postinst builds /opt/sereport from them, offline, with the
# box's /usr/bin/python3.
#
# The dependencies come from the built wheel's metadata. Downloaded wheels are kept in
# packaging/cache/<arch>/ (the build backend in packaging/cache/build/), so later builds need
# no network: --offline uses only the cache and fails if something is missing;
# --fetch-only fills the cache and builds no package.
#   --version-suffix +S   a local version label added to the package and the wheel
#                         (e.g. +test2: a newer build of the same version, for upgrade tests)
# Environment: PYTHON (a Python with pip; default: the checkout's .venv, else python3),
#              DEB_MAINTAINER ("Name <email>" for the control file; a fixed default, so a
#              build does not depend on who made the last commit),
#              SEREPORT_DEB_CACHE (the cache directory instead of packaging/cache).
set -euo pipefail

PYTHON_VERSIONS="3.8 3.9 3.10 3.11 3.12 3.13"
PIP_REQUIREMENT="pip>=24,<25.1"  # pip 25.1 dropped Python 3.8

die() { echo "build-deb: $*" >&2; exit 1; }
usage() { sed -n '4,5p' "$0" | sed 's/^# //' >&2; exit 2; }

arch="" offline=0 fetch_only=0 suffix="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=${2:-}; shift 2 || usage ;;
    --arch=*) arch=${1#*=}; shift ;;
    --offline) offline=1; shift ;;
    --fetch-only) fetch_only=1; shift ;;
    --version-suffix) suffix=${2:-}; shift 2 || usage ;;
    --version-suffix=*) suffix=${1#*=}; shift ;;
    --out) out=${2:-}; shift 2 || usage ;;
    --out=*) out=${1#*=}; shift ;;
    -h|--help) usage ;;
    *) echo "build-deb: unknown argument: $1" >&2; usage ;;
  esac
done
case "$arch" in
  arm64) machine=aarch64 ;;
  amd64) machine=x86_64 ;;
  *) die "--arch must be arm64 or amd64" ;;
esac
[ "$offline" = 1 ] && [ "$fetch_only" = 1 ] && die "--offline and --fetch-only exclude each other"
# The suffix is a PEP 440 local version label and a valid Debian version part.
if [ -n "$suffix" ] && ! [[ "$suffix" =~ ^\+[a-z0-9]+(\.[a-z0-9]+)*$ ]]; then
  die "--version-suffix must look like +test2 (lower-case letters, digits, dots after a +)"
fi

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
out=${out:-$repo/dist}
cache=${SEREPORT_DEB_CACHE:-$here/cache}
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$repo/.venv/bin/python" ]; then PYTHON=$repo/.venv/bin/python; else PYTHON=python3; fi
fi
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip; set PYTHON to a Python with pip (e.g. .venv/bin/python)"
if [ "$fetch_only" = 0 ]; then
  command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (apt-get install dpkg)"
fi

version=$(sed -n 's/^__version__ *= *["'\'']\([^"'\'']*\)["'\''].*/\1/p' "$repo/sereport/__init__.py")
[ -n "$version" ] || die "no __version__ in sereport/__init__.py"
version=$version$suffix
# Debian orders a pre-release below its release only with "~": 1.0rc1 -> 1.0~rc1.
deb_version=$(printf '%s\n' "$version" | sed -E 's/\.?(a|b|rc|dev)([0-9]+)/~\1\2/g')
maintainer=${DEB_MAINTAINER:-sereport maintainers <sereport@localhost>}

work=$(mktemp -d "${TMPDIR:-/tmp}/sereport-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
pip() { PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$PYTHON" -m pip "$@"; }

# The last line pip printed that says what is missing, for a one-line error.
pip_reason() {
  grep -E "No matching distribution|Could not find a version|ERROR" "$1" | tail -n 1 | sed -e 's/^ *//' -e 's/^ERROR: //'
}

hint() { [ "$offline" = 0 ] || echo "; run without --offline to fetch it"; }

# 1. The sereport wheel, built from a clean copy of the sources (a build/ or *.egg-info left
#    in the checkout cannot leak in) with the build backend from the cache.
mkdir -p "$cache/build" "$cache/$arch"
build_requires=$("$PYTHON" - "$repo/pyproject.toml" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
try:
    import tomllib
    print("\n".join(tomllib.loads(text)["build-system"]["requires"]))
except ImportError:  # Python < 3.11: the list on one or more lines under [build-system]
    section = text.split("[build-system]", 1)[1].split("\n[", 1)[0]
    print("\n".join(re.findall(r'"([^"]+)"', re.search(r"requires\s*=\s*\[(.*?)\]", section, re.S).group(1))))
PY
)
if [ "$offline" = 0 ]; then
  mapfile -t reqs <<<"$build_requires"
  pip download -q --only-binary=:all: -d "$cache/build" "${reqs[@]}" >"$work/pip.log" 2>&1 \
    || die "cannot download the build backend ($(pip_reason "$work/pip.log"))"
fi
mkdir -p "$work/src"
cp -r "$repo/sereport" "$work/src/"
cp "$repo/pyproject.toml" "$repo/README.md" "$work/src/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
if [ -n "$suffix" ]; then
  sed -i "s/^__version__ *=.*/__version__ = \"$version\"/" "$work/src/sereport/__init__.py"
fi
pip wheel --isolated -q --no-deps --no-index --find-links "$cache/build" -w "$work/sereport" "$work/src" >"$work/pip.log" 2>&1 \
  || die "cannot build the sereport wheel with the build backend in $cache/build ($(pip_reason "$work/pip.log"))$(hint)"
wheel=$(ls "$work"/sereport/sereport-*.whl)

# 2. The runtime dependencies for every Python version, from the wheel's metadata.
platforms=(--platform "manylinux2014_$machine" --platform "manylinux_2_17_$machine"
           --platform "manylinux_2_28_$machine")
if [ "$offline" = 0 ]; then
  for py in $PYTHON_VERSIONS; do
    pip download -q --only-binary=:all: "${platforms[@]}" --python-version "$py" \
      --implementation cp -d "$cache/$arch" "$wheel" >"$work/pip.log" 2>&1 \
      || die "cannot download the dependencies for $arch, Python $py ($(pip_reason "$work/pip.log"))"
  done
  pip download -q --only-binary=:all: --no-deps --python-version 3.8 -d "$cache/$arch" \
    "$PIP_REQUIREMENT" >"$work/pip.log" 2>&1 \
    || die "cannot download $PIP_REQUIREMENT ($(pip_reason "$work/pip.log"))"
  rm -f "$cache/$arch"/sereport-*.whl  # built each time, never cached
fi
[ "$fetch_only" = 1 ] && { echo "build-deb: the cache has every wheel for $arch: $cache/$arch"; exit 0; }

# 3. What the package carries: exactly what each Python version resolves to, from the cache
#    only (one copy of a wheel that several versions share); --isolated: no PIP_FIND_LINKS
#    or pip.conf may add other wheels.
wheels=$work/pkg/usr/share/sereport/wheels
mkdir -p "$wheels"
for py in $PYTHON_VERSIONS; do
  pip download --isolated -q --no-index --find-links "$cache/$arch" --only-binary=:all: "${platforms[@]}" \
    --python-version "$py" --implementation cp -d "$wheels" "$wheel" >"$work/pip.log" 2>&1 \
    || die "$cache/$arch lacks wheels for Python $py: $(pip_reason "$work/pip.log")$(hint)"
done
pip download --isolated -q --no-index --find-links "$cache/$arch" --only-binary=:all: --no-deps \
  --python-version 3.8 -d "$wheels" "$PIP_REQUIREMENT" >"$work/pip.log" 2>&1 \
  || die "$cache/$arch lacks a wheel of $PIP_REQUIREMENT: $(pip_reason "$work/pip.log")$(hint)"
[ "$(ls "$wheels"/pip-*.whl | wc -l)" = 1 ] || die "more than one pip wheel in the package"

# 4. The file tree.
pkg=$work/pkg
install -d "$pkg/DEBIAN" "$pkg/lib/systemd/system" "$pkg/etc/sereport" "$pkg/usr/bin" \
  "$pkg/usr/share/doc/sereport"
install -m 0644 "$repo/systemd/sereport.service" "$pkg/lib/systemd/system/sereport.service"
# An unconfigured box must not report with the sample's licence code or to its URL.
# runtime_dir, state_dir: the service's, also for `sereport devices ...` run from a shell.
sed -e 's/^dev_sno:.*/dev_sno: ""/' -e 's/^WEB_HEART_URL:.*/WEB_HEART_URL: ""/' \
  -e 's|^runtime_dir:.*|runtime_dir: /run/sereport|' \
  -e 's|^state_dir:.*|state_dir: /var/lib/sereport|' \
  "$repo/etc/sereport/sereport.yaml" >"$pkg/etc/sereport/sereport.yaml"
grep -q '^dev_sno: ""$' "$pkg/etc/sereport/sereport.yaml" && grep -q '^WEB_HEART_URL: ""$' "$pkg/etc/sereport/sereport.yaml" \
  || die "etc/sereport/sereport.yaml has no top-level dev_sno or WEB_HEART_URL line to blank"
chmod 0600 "$pkg/etc/sereport/sereport.yaml"  # it may hold hmac_secret, api_token, headers
ln -s /opt/sereport/bin/sereport "$pkg/usr/bin/sereport"  # /opt/sereport: built by postinst
install -m 0644 "$repo/README.md" "$pkg/usr/share/doc/sereport/README.md"
chmod 0644 "$wheels"/*.whl
echo /etc/sereport/sereport.yaml >"$pkg/DEBIAN/conffiles"
for script in preinst postinst prerm postrm; do
  sed "s/@VERSION@/$version/g" "$here/debian/$script" >"$pkg/DEBIAN/$script"
  chmod 0755 "$pkg/DEBIAN/$script"
done
(cd "$pkg" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' \
  | LC_ALL=C sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: sereport
Version: $deb_version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
Depends: python3, procps, passwd
Section: admin
Priority: optional
Description: heartbeat reporter for Sophgo SE5/SE7 AI mini boxes
 sereport runs on the box and, every few seconds, POSTs the box's state
 (IP, serial number, licence code, versions, CPU, memory, disk) and the
 online/offline state of every attached camera or device to the
 management platform.
 .
 The package installs offline: it carries its Python dependencies as
 wheels for CPython 3.8 to 3.13 and builds /opt/sereport from them with
 the system's python3. The service starts once dev_sno and WEB_HEART_URL
 are set in /etc/sereport/sereport.yaml.
CONTROL
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles" "$pkg/DEBIAN/md5sums"
find "$pkg" -type d -exec chmod 0755 {} +

mkdir -p "$out"
deb=$out/sereport_${deb_version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"

#!/bin/sh
# Set up sysfence on Debian/Ubuntu: OS packages (only those missing), a virtualenv in .venv, the package.
#   sh scripts/setup.sh          libseccomp2 + python3-venv, then `pip install .`
#   sh scripts/setup.sh --test   also gcc and libc6-dev (the tests compile C probes) and the test extras
set -eu
cd "$(dirname "$0")/.."
pkgs="libseccomp2 python3-venv"
extra=""
if [ "${1:-}" = "--test" ]; then
    pkgs="$pkgs gcc libc6-dev"
    extra="[test]"
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "setup: installing OS packages:$missing" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup: sysfence needs Python >= 3.11" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check ".$extra"
echo "setup: sysfence installed in .venv ($(.venv/bin/sysfence --version))" >&2

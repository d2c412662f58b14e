#!/usr/bin/env bash
# Installs what the package needs on a Debian machine that has the Swift toolchain, and nothing else:
#   libopenblas-dev  CBLAS header and libopenblas (the CBLAS system-library target)
#   liblapacke-dev   LAPACKE header and liblapacke (the LAPACKE system-library target: the
#                    eigendecomposition of decorrelated batch norm)
#   pkgconf          pkg-config, which SwiftPM asks for OpenBLAS's and LAPACKE's include folders
#   numpy            for the end-to-end parity runs of the `batchnorm` tool (tests only; --with-numpy)
# Skips apt-get entirely when the packages are already there; runs `apt-get update` first otherwise.
set -euo pipefail

want_numpy=0
[ "${1:-}" = "--with-numpy" ] && want_numpy=1

missing=()
for package in libopenblas-dev liblapacke-dev pkgconf; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$want_numpy" -eq 1 ] && ! python3 -c 'import numpy' 2>/dev/null; then
    echo "install-deps: installing numpy for python3"
    python3 -m pip install --quiet numpy
fi

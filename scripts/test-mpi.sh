#!/usr/bin/env bash
# The MPI part's test command: installs Open MPI when missing, builds the MPI package (MPI/, release,
# once), runs its test program under mpirun with 2 and 4 ranks, and the communication/compute bench
# with 2 ranks. Exits non-zero on any failure (every rank exits non-zero when any rank failed, and
# mpirun passes that on). Extra arguments go to the bench, e.g. `scripts/test-mpi.sh --steps 20`.
#
#   libopenmpi-dev  mpi.h, libmpi and the ompi-c pkg-config file (the CMPI system-library target)
#   openmpi-bin     mpirun
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

missing=()
for package in libopenmpi-dev openmpi-bin; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "test-mpi: installing ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

swift build --package-path MPI -c release
bin="$(swift build --package-path MPI -c release --show-bin-path)"

# mpirun on one machine, as root (CI and containers), more ranks than cores; shared memory between the
# ranks (no network needed); one OpenBLAS thread per rank. A hang fails after 5 minutes.
run_mpi() {
    local ranks=$1
    shift
    echo "test-mpi: mpirun -np $ranks $*"
    OPENBLAS_NUM_THREADS=1 timeout --kill-after=10 300 \
        mpirun --allow-run-as-root --oversubscribe --mca btl self,vader -x OPENBLAS_NUM_THREADS \
        -np "$ranks" "$@" </dev/null
}

run_mpi 2 "$bin/batchnorm-mpi-tests"
run_mpi 4 "$bin/batchnorm-mpi-tests"
run_mpi 2 "$bin/batchnorm-mpi-bench" "$@"

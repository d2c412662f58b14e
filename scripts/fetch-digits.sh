#!/usr/bin/env bash
# Puts the UCI optical handwritten digits (scikit-learn's `load_digits`: 1,797 images of 8x8 pixels
# with values 0-16, ten classes; CC BY 4.0, see data/digits/LICENSE.md) into data/digits/ as two
# .npy files that `bn-train` reads:
#   images.npy  float32 [1797, 64]  pixel values 0-16, row-major 8x8 per image
#   labels.npy  float32 [1797]      class 0-9 (float32 because the NumPyFile reader takes floats only)
# The files are committed; this script checks them against data/digits/SHA256SUMS and exits. Only
# when they are missing or do not match does it export them again (installing scikit-learn from PyPI
# when missing) and check the result, so a changed upstream data set fails instead of passing silently.
set -euo pipefail
cd "$(dirname "$0")/.."
folder=data/digits

if (cd "$folder" && sha256sum --quiet --check SHA256SUMS) >/dev/null 2>&1; then
    echo "fetch-digits: $folder checks out against SHA256SUMS"
    exit 0
fi

if ! python3 -c 'import sklearn' 2>/dev/null; then
    echo "fetch-digits: installing scikit-learn for python3"
    python3 -m pip install --quiet scikit-learn
fi
python3 - "$folder" <<'PYTHON'
import sys
import numpy as np
from sklearn.datasets import load_digits

folder = sys.argv[1]
digits = load_digits()
np.save(f"{folder}/images.npy", digits.data.astype(np.float32))
np.save(f"{folder}/labels.npy", digits.target.astype(np.float32))
print(f"fetch-digits: exported {digits.data.shape[0]} images to {folder}")
PYTHON
(cd "$folder" && sha256sum --check SHA256SUMS)

#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets in Fuzz/ (run from anywhere; needs NumPy):

    python3 scripts/make-fuzz-corpus.py

Fuzz/Corpus/npy/      .npy files: valid ones written by NumPy's own np.save / write_array (every
                      accepted dtype, rank 0 to 4, format versions 1.0, 2.0 and 3.0, empty arrays,
                      NaN and infinity), and invalid ones of each kind the decoder refuses (NumPy-made
                      Fortran order, big-endian, integer, float16 and structured dtypes; hand-made bad
                      magic, version, header syntax, keys, shapes, truncation and trailing bytes).
Fuzz/Corpus/options/  inputs of OptionParsingFuzzer: a first byte 0 then one option value, or a
                      first byte 2 (forward) or 3 (backward) then arguments separated by NUL bytes.

The files are small (the fuzz runs use -max_len=4096) and the output is deterministic: rerunning the
script rewrites the same bytes. scripts/fuzz.sh reads these folders and never writes into them.
"""
import io
import pathlib
import shutil

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent / "Fuzz" / "Corpus"


def npy_bytes(array, version=None):
    """The bytes np.save writes (or write_array with an explicit format version)."""
    buffer = io.BytesIO()
    if version is None:
        np.save(buffer, array, allow_pickle=False)
    else:
        np.lib.format.write_array(buffer, array, version=version, allow_pickle=False)
    return buffer.getvalue()


def handmade(header, version=1, data=b""):
    """Magic, version, header length field, `header` verbatim (no padding), then `data`."""
    text = header.encode("latin-1")
    length = len(text).to_bytes(2 if version == 1 else 4, "little")
    return b"\x93NUMPY" + bytes([version, 0]) + length + text + data


def valid_files():
    rng = np.random.default_rng(20240611)
    small = rng.standard_normal(24)
    yield "f4-matrix", npy_bytes(small[:6].astype("<f4").reshape(2, 3))
    yield "f8-vector", npy_bytes(small[:5].astype("<f8"))
    yield "f4-nchw", npy_bytes(small.astype("<f4").reshape(2, 3, 2, 2))
    yield "f8-nlc", npy_bytes(small[:12].astype("<f8").reshape(2, 3, 2))
    yield "f4-scalar", npy_bytes(np.array(-0.1, dtype="<f4"))
    yield "f8-empty", npy_bytes(np.zeros((0, 3), dtype="<f8"))
    yield "f4-special", npy_bytes(np.array([np.nan, np.inf, -np.inf, -0.0, 1e-40], dtype="<f4"))
    yield "f4-version2", npy_bytes(small[:4].astype("<f4"), version=(2, 0))
    yield "f8-version3", npy_bytes(small[:3].astype("<f8"), version=(3, 0))
    # Spellings NumPy does not write but the decoder accepts: native byte order, Python 2 longs,
    # double quotes, no spaces, keys in another order.
    yield "f4-native-order", handmade("{'descr': '=f4', 'fortran_order': False, 'shape': (1,), }\n",
                                      data=np.float32(2.5).tobytes())
    yield "f8-long-suffix", handmade("{'descr': '<f8', 'fortran_order': False, 'shape': (1L, 2L), }\n",
                                     data=np.zeros(2).tobytes())
    yield "f4-terse", handmade('{"shape":(2,),"descr":"<f4","fortran_order":False}',
                               data=np.ones(2, dtype="<f4").tobytes())


def invalid_files():
    good = npy_bytes(np.arange(6, dtype="<f4").reshape(2, 3))
    # Made by NumPy, refused by the decoder.
    yield "bad-fortran-order", npy_bytes(np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
    yield "bad-big-endian", npy_bytes(np.arange(3, dtype=">f8"))
    yield "bad-int32", npy_bytes(np.arange(3, dtype="<i4"))
    yield "bad-uint8", npy_bytes(np.arange(3, dtype="u1"))
    yield "bad-float16", npy_bytes(np.arange(3, dtype="<f2"))
    yield "bad-bool", npy_bytes(np.array([True, False]))
    yield "bad-structured", npy_bytes(np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4")]))
    # Framing.
    yield "bad-magic", b"\x93NUMPZ" + good[6:]
    yield "bad-version", good[:6] + bytes([4, 0]) + good[8:]
    yield "bad-truncated-preamble", good[:9]
    yield "bad-header-past-end", good[:8] + b"\xff\xff" + good[10:40]
    yield "bad-truncated-data", good[:-3]
    yield "bad-trailing-bytes", good + b"\x00\x00\x00\x00"
    # Header syntax and content.
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }\n"
    yield "bad-syntax", handmade("{'descr': '<f4' 'fortran_order': False, 'shape': (3,)}")
    yield "bad-nested", handmade("{'descr': {'a': 1}, 'fortran_order': False, 'shape': (3,)}")
    yield "bad-escape", handmade("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (3,)}")
    yield "bad-deep-nesting", handmade(header % ("(" * 40 + ")" * 40))
    yield "bad-unknown-key", handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
                                      data=b"\x00" * 4)
    yield "bad-duplicate-key", handmade("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}")
    yield "bad-missing-key", handmade("{'descr': '<f4', 'fortran_order': False}")
    # Shapes: negative, overflowing (one dimension, the product, the byte count), allocation bombs
    # (a huge declared shape over a few bytes), too many dimensions.
    yield "bad-negative-dimension", handmade(header % "(-1, 3)")
    yield "bad-dimension-overflow", handmade(header % "(99999999999999999999999,)")
    yield "bad-product-overflow", handmade(header % "(4294967296, 4294967296)")
    yield "bad-byte-overflow", handmade(header % "(2305843009213693952,)")
    yield "bad-allocation-bomb", handmade(header % "(1073741824, 1024)", data=b"\x00" * 64)
    yield "bad-zero-times-huge", handmade(header % "(4611686018427387904, 4611686018427387904, 0)")
    yield "bad-too-many-dimensions", handmade(header % ("(" + "1, " * 65 + ")"))


def option_inputs():
    """(name, bytes): option values (first byte 0) and command lines (first byte 2: forward, 3: backward)."""
    for name, value in [("eps", "1e-5"), ("eps-hex", "0x1p-17"), ("eps-tiny", "1e-46"), ("eps-huge", "1e39"),
                        ("eps-nan", "nan"), ("momentum-none", "none"), ("momentum-one", "1.0"),
                        ("momentum-negative-zero", "-0"), ("layout", "channels-last"), ("mode", "inference")]:
        yield "value-" + name, b"\x00" + value.encode()
    forward, backward = b"\x02", b"\x03"
    command_lines = [
        ("forward-training", forward, ["--input", "x.npy", "--output", "y.npy", "--eps", "1e-5",
                                       "--momentum", "0.1", "--layout", "channels-last"]),
        ("forward-inference", forward, ["--input", "x.npy", "--output", "y.npy", "--mode", "inference",
                                        "--running-mean", "m.npy", "--running-var", "v.npy",
                                        "--gamma", "g.npy", "--beta", "b.npy"]),
        ("forward-cumulative", forward, ["--input=x.npy", "--output=y.npy", "--momentum", "none",
                                         "--updated-running-mean", "m.npy", "--saved-invstd", "s.npy"]),
        ("forward-bad-values", forward, ["--input", "x.npy", "--output", "y.npy", "--eps", "-inf",
                                         "--momentum", "1.5", "--layout", "nchw", "--mode", "eval"]),
        ("forward-unpaired", forward, ["--input", "x.npy", "--output", "y.npy", "--gamma", "g.npy"]),
        ("forward-help", forward, ["--help"]),
        ("backward-training", backward, ["--input", "x.npy", "--grad-output", "dy.npy", "--grad-input",
                                         "dx.npy", "--grad-gamma", "dg.npy", "--grad-beta", "db.npy"]),
        ("backward-inference", backward, ["--input", "x.npy", "--grad-output", "dy.npy", "--grad-input",
                                          "dx.npy", "--mode", "inference", "--running-mean", "m.npy",
                                          "--running-var", "v.npy", "--eps", "1e-40"]),
        ("backward-unknown-option", backward, ["--input", "x.npy", "--bogus", "--eps", "nan"]),
    ]
    for name, subcommand, arguments in command_lines:
        yield name, subcommand + b"\x00".join(argument.encode() for argument in arguments)


def main():
    for folder in ("npy", "options"):
        shutil.rmtree(ROOT / folder, ignore_errors=True)
        (ROOT / folder).mkdir(parents=True)
    for name, data in list(valid_files()) + list(invalid_files()):
        (ROOT / "npy" / f"{name}.npy").write_bytes(data)
    for name, data in option_inputs():
        (ROOT / "options" / f"{name}.bin").write_bytes(data)
    print(f"wrote {len(list((ROOT / 'npy').iterdir()))} .npy seeds and "
          f"{len(list((ROOT / 'options').iterdir()))} option inputs under {ROOT}")


if __name__ == "__main__":
    main()

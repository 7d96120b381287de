#!/usr/bin/env python3
"""Reference float32 -> binary16 roundings for tests/unit/test_formats.cpp,
computed by numpy (IEEE 754 round to nearest, ties to even; overflow to
infinity), not by lexico: HDF5 1.10's own soft conversion, which lexico used
to call, rounds ties away from zero, truncates subnormals, and turns values
just below a power of two into half of it (0.99995 -> 0.5).

The values: Gaussians scaled by 2^-30 .. 2^17 (subnormals to overflow), exact
ties of both parities around several binades, values just below powers of two,
zeros and the overflow boundary. One line per value: the float32 bits and the
binary16 bits, in hex.

Usage (PyPI package: numpy):
  python3 scripts/golden/f16_golden.py > data/golden/f16_rounding.txt
"""
import numpy as np

rng = np.random.default_rng(3)
values = []
for e in range(-30, 18):
    values += list(np.ldexp(rng.standard_normal(40), e))
for base in (1.0, 2.0, 1024.0, 2.0**-14, 2.0**-20):
    for k in (1, 3, 5, 7):
        t = base * (1 + k * 2.0**-11)
        values += [t, -t]
for k in range(-14, 16):
    for d in (2.0**-12, 2.0**-13, 2.0**-16):
        values += [2.0**k * (1 - d), -(2.0**k) * (1 - d)]
values += [0.0, -0.0, 65504.0, 65519.0, 65520.0, 1e6, -1e6]
x = np.array(values, dtype=np.float32)
with np.errstate(over="ignore"):  # overflow to infinity is part of the reference
    h = x.astype(np.float16)
print("# float32 bits, binary16 bits (numpy %s); scripts/golden/f16_golden.py" % np.__version__)
for a, b in zip(x.view(np.uint32), h.view(np.uint16)):
    print("%08x %04x" % (a, b))

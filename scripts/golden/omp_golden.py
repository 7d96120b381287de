#!/usr/bin/env python3
"""Writes data/golden/omp_sklearn.bin: OMP results from scikit-learn's
orthogonal_mp_gram (float64) that tests/unit/test_omp.cpp compares lexico's
Batch-OMP against.

Problem: a random Gaussian dictionary with unit-norm columns (m=32, N=256,
rounded to float32 before anything else) and 64 random Gaussian vectors
(float32). Two runs:
  fixed      n_nonzero_coefs = s = 8
  tolerance  relative tolerance delta = 0.3: sklearn's `tol` bounds the
             *squared* residual norm, so tol = (delta * ||x||)^2 per vector
             (one orthogonal_mp_gram call per vector, with norms_squared).
The seed is chosen so that every greedy choice is clear (top two |alpha| differ
by more than 1e-4 relative) and no residual lands within 1e-4 (relative) of
the tolerance, so float32 and float64 pursuits must take the same path.

Layout, all little-endian:
  char[8]    magic "LXOMPG1\\0"
  int32      m, N, B, s
  float64    delta
  float32    D[m*N]  column-major (atom after atom)
  float32    X[m*B]  column-major (vector after vector)
  then twice (fixed, then tolerance), for each of the B vectors:
    int32    count
    int32    index[count]   atoms in the order OMP selected them
    float64  coef[count]    the coefficient of each, same order
Usage: python3 scripts/golden/omp_golden.py [output path]
"""
import struct
import sys

import numpy as np
import sklearn
from sklearn.linear_model import orthogonal_mp_gram

M, N, B, S, DELTA = 32, 256, 64, 8, 0.3
MARGIN = 1e-4


def selection_order(path):
    """Atoms in the order they became non-zero along sklearn's path (N × steps)."""
    order = []
    for step in range(path.shape[1]):
        for atom in np.flatnonzero(path[:, step]):
            if atom not in order:
                order.append(int(atom))
    return order


def pursue(gram, xy, norm_sq, **limit):
    path = orthogonal_mp_gram(gram, xy, return_path=True, copy_Gram=True, copy_Xy=True,
                              norms_squared=np.array([norm_sq]) if "tol" in limit else None, **limit)
    path = path.reshape(len(xy), -1)
    order = selection_order(path)
    return order, path[order, -1]


def clear_path(gram, xy, norm_sq, order, tol):
    """True when each greedy pick wins by MARGIN and residuals stay away from tol."""
    for k in range(len(order) + 1):
        chosen = order[:k]
        gamma = np.linalg.solve(gram[np.ix_(chosen, chosen)], xy[chosen]) if k else np.zeros(0)
        alpha = xy - gram[:, chosen] @ gamma
        residual_sq = norm_sq - xy[chosen] @ gamma
        if tol is not None and abs(residual_sq - tol) <= MARGIN * tol:
            return False
        if k < len(order):
            magnitudes = np.abs(alpha)
            magnitudes[chosen] = -1
            top2 = np.sort(magnitudes)[-2:]
            if top2[1] - top2[0] <= MARGIN * top2[1]:
                return False
    return True


def attempt(seed):
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((M, N))
    d = (d / np.linalg.norm(d, axis=0)).astype(np.float32)
    x = rng.standard_normal((M, B)).astype(np.float32)
    d64, x64 = d.astype(np.float64), x.astype(np.float64)
    gram = d64.T @ d64
    runs = {"fixed": [], "tolerance": []}
    for b in range(B):
        xy = d64.T @ x64[:, b]
        norm_sq = float(x64[:, b] @ x64[:, b])
        tol = (DELTA ** 2) * norm_sq
        for name, limit, check_tol in (("fixed", {"n_nonzero_coefs": S}, None),
                                       ("tolerance", {"tol": tol}, tol)):
            order, coefs = pursue(gram, xy, norm_sq, **limit)
            if not clear_path(gram, xy, norm_sq, order, check_tol):
                return None
            runs[name].append((order, coefs))
    return d, x, runs


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "data/golden/omp_sklearn.bin"
    for seed in range(1000):
        result = attempt(seed)
        if result is not None:
            break
    else:
        sys.exit("no seed in 0..999 gives a clear path")
    d, x, runs = result
    with open(out, "wb") as f:
        f.write(b"LXOMPG1\0")
        f.write(struct.pack("<4i d", M, N, B, S, DELTA))
        f.write(d.astype("<f4").tobytes(order="F"))
        f.write(x.astype("<f4").tobytes(order="F"))
        for name in ("fixed", "tolerance"):
            for order, coefs in runs[name]:
                f.write(struct.pack("<i", len(order)))
                f.write(np.asarray(order, dtype="<i4").tobytes())
                f.write(np.asarray(coefs, dtype="<f8").tobytes())
    counts = [len(o) for o, _ in runs["tolerance"]]
    print(f"{out}: seed {seed}, scikit-learn {sklearn.__version__}, numpy {np.__version__}; "
          f"tolerance-mode atoms per vector {min(counts)}..{max(counts)}")


if __name__ == "__main__":
    main()

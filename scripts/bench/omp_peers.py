#!/usr/bin/env python3
"""Times the OMP peers that bench/bench_omp.cpp compares lexico against, on the
dictionary and vectors the bench wrote (float32 .npy, m×N and m×B):

  sklearn  sklearn.linear_model.orthogonal_mp_gram on the first --sklearn-vectors
           vectors; the Gram matrix DᵀD is computed before timing (as lexico's
           encoder does once per dictionary), Dᵀx inside. float64, serial over
           vectors (BLAS threads = --threads).
  spams    spams.omp (PyPI spams-bin) on the first --spams-vectors vectors with
           numThreads = --threads, float32. Its API computes DᵀD on every call
           (for more than 10 vectors), so a 16-vector call is timed too and
           reported as overhead_s (DᵀD, setup and the 16 vectors).
           eps=0 and lambda1=0 are passed explicitly: left out, spams-bin
           2.6.14's float32 path intermittently returns no (or too few) atoms,
           as if it read them uninitialized.

One line per peer on stdout, key=value pairs, e.g.
  peer=spams vectors=20000 seconds=0.52 overhead_s=0.03 overhead_vectors=16 mean_rre=0.101 nnz=160000
or `peer=spams unavailable=<reason>` when it cannot run.
"""
import argparse
import os
import sys
import time


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dictionary", required=True)
    p.add_argument("--vectors", required=True)
    p.add_argument("--sparsity", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--sklearn-vectors", type=int, default=200)
    p.add_argument("--spams-vectors", type=int, default=0, help="0 = all")
    p.add_argument("--repeats", type=int, default=3, help="spams runs; the fastest counts")
    return p.parse_args()


args = parse()
# Thread counts must be set before numpy loads its BLAS.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)
import numpy as np  # noqa: E402

OVERHEAD_VECTORS = 16  # spams.omp computes DᵀD only for more than 10 vectors


def mean_rre(d, x, coefs):
    err = np.linalg.norm(x - d @ coefs, axis=0)
    return float(np.mean(err / np.linalg.norm(x, axis=0)))


def report(peer, **fields):
    print(f"peer={peer} " + " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)


def run_sklearn(d, x, s, count):
    try:
        from sklearn.linear_model import orthogonal_mp_gram
    except ImportError as e:
        return report("sklearn", unavailable=str(e).replace(" ", "_"))
    d64, x64 = d.astype(np.float64), np.asfortranarray(x[:, :count], dtype=np.float64)
    gram = d64.T @ d64
    start = time.perf_counter()
    coefs = orthogonal_mp_gram(gram, d64.T @ x64, n_nonzero_coefs=s, copy_Gram=False)
    seconds = time.perf_counter() - start
    coefs = coefs.reshape(d.shape[1], -1)
    report("sklearn", vectors=count, seconds=f"{seconds:.6g}", mean_rre=f"{mean_rre(d64, x64, coefs):.6g}",
           nnz=int(np.count_nonzero(coefs)))


def run_spams(d, x, s, count, threads, repeats):
    try:
        import spams
    except ImportError as e:
        return report("spams", unavailable=str(e).replace(" ", "_"))
    d32, x32 = np.asfortranarray(d), np.asfortranarray(x[:, :count])
    def omp(vectors):
        return spams.omp(vectors, d32, L=s, eps=0.0, lambda1=0.0, numThreads=threads)

    omp(x32[:, :OVERHEAD_VECTORS])  # warm-up: thread pool, pages
    overhead = min(timed(lambda: omp(x32[:, :OVERHEAD_VECTORS]))[0] for _ in range(3))
    best, coefs = None, None
    for _ in range(repeats):
        seconds, result = timed(lambda: omp(x32))
        if best is None or seconds < best:
            best, coefs = seconds, result
    dense = coefs.toarray()
    report("spams", vectors=count, seconds=f"{best:.6g}", overhead_s=f"{overhead:.6g}",
           overhead_vectors=OVERHEAD_VECTORS,
           mean_rre=f"{mean_rre(d32.astype(np.float64), x32.astype(np.float64), dense):.6g}", nnz=coefs.nnz)


def timed(f):
    start = time.perf_counter()
    result = f()
    return time.perf_counter() - start, result


def main():
    d = np.load(args.dictionary)
    x = np.load(args.vectors)
    if d.dtype != np.float32 or x.dtype != np.float32 or d.shape[0] != x.shape[0]:
        sys.exit(f"omp_peers: expected float32 m×N and m×B arrays, got {d.dtype}{d.shape}, {x.dtype}{x.shape}")
    b = x.shape[1]
    run_sklearn(d, x, args.sparsity, min(b, args.sklearn_vectors))
    run_spams(d, x, args.sparsity, min(b, args.spams_vectors or b), args.threads, args.repeats)


if __name__ == "__main__":
    main()

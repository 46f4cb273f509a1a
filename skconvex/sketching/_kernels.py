"""numba kernels of the sketching engine (arrays in, arrays out; no Python objects).

Conventions
-----------
* Index pointers are ``np.intp``, the row indices of S ``np.int32``; ``s_coef`` holds
  the signed, scaled entries of S in the dtype of the output, so that every kernel does
  ``out[...] += coef * A[...]`` and one source serves float32 and float64.
* Every kernel is serial, ``nogil=True``, and works on a range of the output (a block of
  output columns, or of srht panels) given by its last two arguments, so that two
  ranges never write the same output entry (column blocks are multiples of 64 bytes:
  no shared cache lines). ``skconvex.utils._parallel.run_tasks`` runs the ranges on threads.

Why threads and not ``parallel=True`` + ``prange`` (measured on this 2-core AMD EPYC
machine, numba 0.68, OpenMP layer):
* compile time: a ``parallel=True`` wrapper around the same serial body cost 1.5-2.2 s of
  cold compile per type signature (0.4-1.0 s for the serial body); with ~10 signatures
  (C/F/CSC/CSR x float32/float64) that was ~20 s of the first call's time.
* oversubscription: numba's OpenMP workers spin after a parallel region. With another
  process busy on one of the 2 cores, a tiny sjlt apply took 7.8 ms with 2 numba threads
  against 0.14 ms with 1; Python threads that call nogil kernels block instead of
  spinning.
* speed: the same column-block split, so the same throughput (see the measurements in
  ``sketches._scatter_plan`` / ``_srht_plan``); the extra cost is starting a thread
  (~0.1 ms), paid only above ``sketches._PARALLEL_MIN_WORK``. Where a second thread
  does not pay (sjlt on C-ordered A: memory-bound), the plan uses one.
"""

import numpy as np
from numba import njit

# --------------------------------------------------------------------------------------
# Random index helpers
# --------------------------------------------------------------------------------------


@njit(cache=True)
def floyd_distinct_rows(draws, m):
    """Turn pre-drawn integers into s distinct rows per column (Floyd's algorithm).

    ``draws[i, k]`` must be uniform on ``{0, ..., m - s + k}``. Row ``i`` of the result is a
    uniformly random s-subset of ``{0, ..., m - 1}`` (in Floyd's insertion order). O(n s^2).
    """
    n, s = draws.shape
    out = np.empty((n, s), dtype=np.intp)
    for i in range(n):
        for k in range(s):
            t = draws[i, k]
            for q in range(k):
                if out[i, q] == t:
                    t = m - s + k
                    break
            out[i, k] = t
    return out


@njit(cache=True)
def csc_pattern(cols, n):
    """Counting sort of a row-wise pattern S[r, cols[r, k]] into CSC: (indptr, rows).

    Within a column the rows come out in increasing order. ``rows`` is int32 (half the
    memory traffic of the scatter's index stream). O(m s + n).
    """
    m, s = cols.shape
    indptr = np.zeros(n + 1, dtype=np.intp)
    for r in range(m):
        for k in range(s):
            indptr[cols[r, k] + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    fill = indptr[:-1].copy()
    rows = np.empty(m * s, dtype=np.int32)
    for r in range(m):
        for k in range(s):
            c = cols[r, k]
            rows[fill[c]] = r
            fill[c] += 1
    return indptr, rows


# --------------------------------------------------------------------------------------
# Scatter kernels for the sparse kinds (sjlt, less_uniform, less).
# S is held in CSC form (s_indptr, s_rows, s_coef): column i of S (row i of A) has entries
# s_coef[p] in rows s_rows[p], p in [s_indptr[i], s_indptr[i + 1]). Row weights w (length n)
# multiply column i of S. The kernels compute  out[s_rows[p], :] += s_coef[p] w[i] A[i, :].
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def scatter_dense(A, s_indptr, s_rows, s_coef, w, out, j0, j1):
    """out[:, j0:j1] += S diag(w) A[:, j0:j1] for a C-ordered A (n, d) and a C-ordered out
    (m, d): for each row i of A, the slice A[i, j0:j1] is added, scaled, to the rows of
    out that column i of S hits (a vectorized loop over the slice)."""
    n = A.shape[0]
    nw = j1 - j0
    for i in range(n):
        a = A[i, j0:j1]
        wi = w[i]
        for p in range(s_indptr[i], s_indptr[i + 1]):
            o = out[s_rows[p], j0:j1]
            c = s_coef[p] * wi
            for j in range(nw):
                o[j] += c * a[j]


@njit(cache=True, nogil=True)
def scatter_dense_f(A, s_indptr, s_rows, s_coef, w, out, j0, j1):
    """scatter_dense for an F-ordered A: chunks of R rows of A[:, j0:j1] are first
    transposed into a small C-ordered buffer (~256 KiB, read column by column, i.e.
    contiguously), then scattered as rows. Measured (n=1e5, d=1000, m=1600): the direct
    strided form took 0.054 s (2 threads) / 0.106 s (1) for sjlt s=1 and 1.6 s for
    less_uniform s=d on 2 threads (every update gathered up to 256 cache lines)."""
    n = A.shape[0]
    nw = j1 - j0
    R = max(16, (1 << 15) // max(1, nw))
    buf = np.empty((R, nw), dtype=out.dtype)
    for i0 in range(0, n, R):
        i1 = min(n, i0 + R)
        for j in range(nw):
            col = A[i0:i1, j0 + j]
            for r in range(i1 - i0):
                buf[r, j] = col[r]
        for i in range(i0, i1):
            a = buf[i - i0]
            wi = w[i]
            for p in range(s_indptr[i], s_indptr[i + 1]):
                o = out[s_rows[p], j0:j1]
                c = s_coef[p] * wi
                for j in range(nw):
                    o[j] += c * a[j]


@njit(cache=True, nogil=True)
def scatter_csr(indptr, indices, data, s_indptr, s_rows, s_coef, w, out, j0, j1):
    """CSR A -> C-ordered dense out; serial (``j0, j1`` must span all columns): a sparse
    row updates a few entries of random output rows, a memory-bound scatter."""
    n = indptr.shape[0] - 1
    for i in range(n):
        wi = w[i]
        p0 = indptr[i]
        p1 = indptr[i + 1]
        for q in range(s_indptr[i], s_indptr[i + 1]):
            r = s_rows[q]
            cf = s_coef[q] * wi
            for p in range(p0, p1):
                out[r, indices[p]] += cf * data[p]


@njit(cache=True, nogil=True)
def scatter_csc(indptr, indices, data, s_indptr, s_rows, s_coef, w, out, j0, j1):
    """CSC A -> F-ordered dense out, columns j0 .. j1 - 1 (column j of out stays in L1)."""
    for j in range(j0, j1):
        for p in range(indptr[j], indptr[j + 1]):
            i = indices[p]
            a = data[p] * w[i]
            for q in range(s_indptr[i], s_indptr[i + 1]):
                out[s_rows[q], j] += s_coef[q] * a


# --------------------------------------------------------------------------------------
# srht: fast Walsh-Hadamard transform of column panels
#
# A panel of P columns of diag(dw) A, zero-padded to N rows, is held in a flat buffer of
# N rows of P numbers (row j = buf[P j : P j + P]). A butterfly group of span h pairs rows
# [i, i + h) with rows [i + h, i + 2h): two contiguous segments, so the inner loop is a long
# vectorizable loop. The unnormalized FWHT is done in two cache-friendly sweeps:
#   1. while the panel is copied in, chunk by chunk of L rows, all stages with span h < L
#      (a chunk, L P numbers, stays in L2);
#   2. the stages with span h >= L pair rows with the same offset modulo L, so they are
#      done tile by tile: T offsets x N/L chunks (a tile stays in L2).
# Measured (n=1e5 -> N=2^17, d=1000, float64, one thread): the textbook loop (2-D (N, 8)
# buffers indexed element by element, one sweep over the buffer per large stage) took
# 1.0 s from C-ordered A and 0.63 s from F-ordered A; butterflies on contiguous segments
# run at ~4e9/s in L2 against ~1.8e9/s for the element-indexed form. Panels of 8 columns
# make the copy from C-ordered A latency-bound (64 bytes per 8 KB row, which no hardware
# prefetcher follows across pages), hence wider panels for C-ordered A (sketches._srht_plan).
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _butterfly_pair(buf, a, c, seg):
    """(u, v) <- (u + v, u - v) for the segments u = buf[a:a+seg], v = buf[c:c+seg]."""
    u = buf[a : a + seg]
    v = buf[c : c + seg]
    for p in range(seg):
        y = u[p]
        z = v[p]
        u[p] = y + z
        v[p] = y - z


@njit(cache=True, nogil=True)
def _fwht_chunk(buf, P, start, L):
    """Stages of span h < L on rows [start, start + L)."""
    h = 1
    while h < L:
        for i in range(start, start + L, 2 * h):
            _butterfly_pair(buf, P * i, P * (i + h), P * h)
        h *= 2


@njit(cache=True, nogil=True)
def _fwht_tail(buf, P, N, L, T):
    """Stages of span h >= L, tile by tile: a stage pairs row j with row j + h, and both
    have the offset o = j mod L, so the rows with o in [t0, t0 + T) form a closed set."""
    for t0 in range(0, L, T):
        h = L
        while h < N:
            for i in range(0, N, 2 * h):
                for c0 in range(i + t0, i + h, L):
                    _butterfly_pair(buf, P * c0, P * (c0 + h), P * T)
            h *= 2


@njit(cache=True, nogil=True)
def _srht_gather(buf, P, width, j0, idx, scale, out):
    m = idx.shape[0]
    for r in range(m):
        q = P * idx[r]
        o = out[r, j0 : j0 + width]
        x = buf[q : q + width]
        for b in range(width):
            o[b] = scale * x[b]


@njit(cache=True, nogil=True)
def srht_dense(A, dw, idx, scale, out, N, P, L, T, p0, p1):
    """out[:, J] = scale * (H_N @ pad(diag(dw) A[:, J]))[idx] for the panels J of P
    columns numbered p0 .. p1 - 1; C- or F-ordered A; one buffer of N P numbers."""
    n, d = A.shape
    buf = np.zeros(N * P, dtype=out.dtype)
    for pnl in range(p0, p1):
        j0 = pnl * P
        width = min(P, d - j0)
        if width < P:
            buf[:] = 0.0
        for start in range(0, N, L):
            stop = start + L
            for i in range(start, min(stop, n)):
                f = dw[i]
                a = A[i, j0 : j0 + width]
                y = buf[P * i : P * i + width]
                for b in range(width):
                    y[b] = f * a[b]
            if stop > n:
                buf[P * max(start, n) : P * stop] = 0.0
            _fwht_chunk(buf, P, start, L)
        _fwht_tail(buf, P, N, L, T)
        _srht_gather(buf, P, width, j0, idx, scale, out)


@njit(cache=True, nogil=True)
def srht_csc(indptr, indices, data, dw, idx, scale, out, N, P, L, T, p0, p1):
    """srht_dense for a CSC matrix: the buffer is filled from the columns' nonzeros."""
    d = indptr.shape[0] - 1
    buf = np.zeros(N * P, dtype=out.dtype)
    for pnl in range(p0, p1):
        j0 = pnl * P
        width = min(P, d - j0)
        buf[:] = 0.0
        for c in range(width):
            for p in range(indptr[j0 + c], indptr[j0 + c + 1]):
                i = indices[p]
                buf[P * i + c] += dw[i] * data[p]
        for start in range(0, N, L):
            _fwht_chunk(buf, P, start, L)
        _fwht_tail(buf, P, N, L, T)
        _srht_gather(buf, P, width, j0, idx, scale, out)


# --------------------------------------------------------------------------------------
# Exact Gram matrix of a sparse matrix (the m = n limit of a sketch)
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def csr_weighted_gram(indptr, indices, data, h, n_cols):
    """``G = X^T diag(h) X`` (dense, float64) and ``X^T h`` of a CSR matrix, row by row.

    Every row adds the outer product of its nonzeros (``nnz_row^2 / 2`` updates into a dense
    ``n_cols x n_cols`` accumulator): far cheaper than a sparse x sparse product when the
    rows are short and ``n_cols`` is small enough for the accumulator to stay in cache
    (one-hot data). Duplicate column indices within a row are allowed; so are unsorted ones.
    """
    G = np.zeros((n_cols, n_cols))
    xh = np.zeros(n_cols)
    n = indptr.shape[0] - 1
    for i in range(n):
        hi = h[i]
        if hi == 0.0:
            continue
        lo, hi_ptr = indptr[i], indptr[i + 1]
        for a in range(lo, hi_ptr):
            ja = indices[a]
            va = hi * data[a]
            xh[ja] += va
            G[ja, ja] += va * data[a]
            for b in range(a + 1, hi_ptr):
                jb = indices[b]
                if jb == ja:
                    G[ja, ja] += 2.0 * va * data[b]
                else:
                    G[ja, jb] += va * data[b]
    # every off-diagonal pair went to one of its two triangles: fold them together
    for j in range(n_cols):
        for k in range(j + 1, n_cols):
            s = G[j, k] + G[k, j]
            G[j, k] = s
            G[k, j] = s
    return G, xh

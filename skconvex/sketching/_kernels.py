"""numba kernels of the sketching engine (arrays in, arrays out; no Python objects).

Conventions
-----------
* ``rows`` / ``cols`` are ``np.intp`` index arrays, ``coef`` holds the signed, scaled (and
  row-weighted) entries of S in the dtype of the output, so that every kernel only does
  ``out[...] += coef * A[...]`` and one kernel source serves float32 and float64.
* "C" kernels write a C-ordered ``out`` (m, d); "F" / CSC kernels write an F-ordered ``out``
  (column ``j`` of the output is then contiguous for the thread that owns column ``j``).
* Parallel kernels split the work so that two threads never write the same output entry:
  by blocks of output columns (scatter kernels) or by output rows (gather kernels).

Measured on the 2-core development machine (AMD EPYC Zen 4, numba 0.68, OMP layer); see the
comment on each kernel for what ``parallel=True`` bought there.
"""

import numpy as np
from numba import njit, prange

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


# --------------------------------------------------------------------------------------
# sjlt / CountSketch: scatter  out[rows[i, k], :] += coef[i, k] * A[i, :]
# --------------------------------------------------------------------------------------


@njit(cache=True)
def _scatter_rows(A, rows, coef, out, i0, i1, j0, j1):
    """out[rows[i, k], j0:j1] += coef[i, k] * A[i, j0:j1] for i in [i0, i1)."""
    s = rows.shape[1]
    w = j1 - j0
    for i in range(i0, i1):
        a = A[i, j0:j1]
        for k in range(s):
            o = out[rows[i, k], j0:j1]
            c = coef[i, k]
            for j in range(w):
                o[j] += c * a[j]


@njit(cache=True, parallel=True)
def sjlt_dense_c(A, rows, coef, out, bufs, block):
    """C-ordered A (n, d) -> C-ordered out (m, d).

    Work is split into (row chunk, column block) tasks. Row chunk 0 accumulates into
    ``out``, row chunk c >= 1 into the private buffer ``bufs[c - 1]`` (zeroed, (m, d)),
    which are added to ``out`` at the end; column blocks of width ``block`` never share an
    output entry. The caller picks ``bufs.shape[0] + 1`` row chunks and ``block``.

    Measured (n=1e5, d=1000, m=1600, s=1, float64; one BLAS pass A @ v: 0.025-0.031 s
    with 2 threads, 0.038 s with 1): serial 0.047 s; 2 column blocks 0.047-0.05 s (each
    thread streams half rows and gains nothing); 2 row chunks + one private buffer
    0.034 s. Hence row chunks when the buffers are affordable.
    """
    n, d = A.shape
    nchunks = bufs.shape[0] + 1
    ncb = (d + block - 1) // block
    width = (n + nchunks - 1) // nchunks
    for t in prange(nchunks * ncb):
        c = t // ncb
        j0 = (t % ncb) * block
        j1 = min(d, j0 + block)
        i0 = c * width
        i1 = min(n, i0 + width)
        if c == 0:
            _scatter_rows(A, rows, coef, out, i0, i1, j0, j1)
        else:
            _scatter_rows(A, rows, coef, bufs[c - 1], i0, i1, j0, j1)
    if nchunks > 1:
        m = out.shape[0]
        for r in prange(m):
            for c in range(nchunks - 1):
                for j in range(d):
                    out[r, j] += bufs[c, r, j]


@njit(cache=True, parallel=True)
def sjlt_dense_f(A, rows, coef, out):
    """F-ordered A (n, d) -> F-ordered out (m, d); one column per prange iteration."""
    n, d = A.shape
    s = rows.shape[1]
    for j in prange(d):
        for i in range(n):
            a = A[i, j]
            for k in range(s):
                out[rows[i, k], j] += coef[i, k] * a


@njit(cache=True)
def sjlt_csr(indptr, indices, data, rows, coef, out):
    """CSR A -> C-ordered dense out: serial scatter over the nonzeros (O(s nnz))."""
    n = indptr.shape[0] - 1
    s = rows.shape[1]
    for i in range(n):
        p0 = indptr[i]
        p1 = indptr[i + 1]
        for k in range(s):
            r = rows[i, k]
            c = coef[i, k]
            for p in range(p0, p1):
                out[r, indices[p]] += c * data[p]


@njit(cache=True, parallel=True)
def sjlt_csc(indptr, indices, data, rows, coef, out):
    """CSC A -> F-ordered dense out; one column of A per prange iteration."""
    d = indptr.shape[0] - 1
    s = rows.shape[1]
    for j in prange(d):
        for p in range(indptr[j], indptr[j + 1]):
            i = indices[p]
            a = data[p]
            for k in range(s):
                out[rows[i, k], j] += coef[i, k] * a


# --------------------------------------------------------------------------------------
# less / less_uniform: gather  out[r, :] = sum_k coef[r, k] * A[cols[r, k], :]
# --------------------------------------------------------------------------------------


@njit(cache=True, parallel=True)
def less_dense_c(A, cols, coef, out):
    """C-ordered A -> C-ordered out; one output row per prange iteration."""
    m, s = cols.shape
    d = A.shape[1]
    for r in prange(m):
        for k in range(s):
            c = coef[r, k]
            i = cols[r, k]
            for j in range(d):
                out[r, j] += c * A[i, j]


@njit(cache=True, parallel=True)
def less_dense_f(A, cols, coef, out):
    """F-ordered A -> F-ordered out; one column per prange iteration."""
    m, s = cols.shape
    d = A.shape[1]
    for j in prange(d):
        for r in range(m):
            acc = out[r, j]
            for k in range(s):
                acc += coef[r, k] * A[cols[r, k], j]
            out[r, j] = acc


@njit(cache=True, parallel=True)
def less_csr(indptr, indices, data, cols, coef, out):
    """CSR A -> C-ordered dense out; gathers sparse rows, one output row per iteration."""
    m, s = cols.shape
    for r in prange(m):
        for k in range(s):
            c = coef[r, k]
            i = cols[r, k]
            for p in range(indptr[i], indptr[i + 1]):
                out[r, indices[p]] += c * data[p]


@njit(cache=True, parallel=True)
def less_csc(indptr, indices, data, n, cols, coef, out, nchunks):
    """CSC A -> F-ordered dense out.

    Each of ``nchunks`` column ranges owns a dense scratch column of length n: scatter the
    column's nonzeros, gather the m*s entries, then zero the touched entries again.
    """
    m, s = cols.shape
    d = indptr.shape[0] - 1
    width = (d + nchunks - 1) // nchunks
    for t in prange(nchunks):
        scratch = np.zeros(n, dtype=out.dtype)
        for j in range(t * width, min(d, (t + 1) * width)):
            for p in range(indptr[j], indptr[j + 1]):
                scratch[indices[p]] += data[p]
            for r in range(m):
                acc = out[r, j]
                for k in range(s):
                    acc += coef[r, k] * scratch[cols[r, k]]
                out[r, j] = acc
            for p in range(indptr[j], indptr[j + 1]):
                scratch[indices[p]] = 0.0


# --------------------------------------------------------------------------------------
# srht: fast Walsh-Hadamard transform of column blocks
# --------------------------------------------------------------------------------------


@njit(cache=True)
def _fwht_rows(buf, chunk):
    """Unnormalized in-place FWHT along axis 0 of ``buf`` (N, B), N a power of two.

    The B entries of a row are contiguous, so every butterfly is a B-wide vector operation.
    Stages with span h < ``chunk`` are done chunk by chunk (the chunk stays in cache), the
    remaining log2(N / chunk) stages stream over the whole buffer.
    """
    N, B = buf.shape
    L = min(chunk, N)
    for start in range(0, N, L):
        h = 1
        while h < L:
            for i in range(start, start + L, 2 * h):
                for j in range(i, i + h):
                    for b in range(B):
                        x = buf[j, b]
                        y = buf[j + h, b]
                        buf[j, b] = x + y
                        buf[j + h, b] = x - y
            h *= 2
    h = L
    while h < N:
        for i in range(0, N, 2 * h):
            for j in range(i, i + h):
                for b in range(B):
                    x = buf[j, b]
                    y = buf[j + h, b]
                    buf[j, b] = x + y
                    buf[j + h, b] = x - y
        h *= 2


@njit(cache=True, parallel=True)
def srht_dense(A, dw, idx, scale, out, N, B, chunk):
    """out[:, J] = scale * (H_N @ pad(diag(dw) A[:, J]))[idx] for column blocks J of width B.

    Works for C- and F-ordered A (the block copy reads B columns at a time). Threads own
    column blocks; each allocates one (N, B) buffer.
    """
    n, d = A.shape
    m = idx.shape[0]
    nblocks = (d + B - 1) // B
    for blk in prange(nblocks):
        j0 = blk * B
        w = min(B, d - j0)
        buf = np.zeros((N, B), dtype=out.dtype)
        for i in range(n):
            f = dw[i]
            for b in range(w):
                buf[i, b] = f * A[i, j0 + b]
        _fwht_rows(buf, chunk)
        for r in range(m):
            q = idx[r]
            for b in range(w):
                out[r, j0 + b] = scale * buf[q, b]


@njit(cache=True, parallel=True)
def srht_csc(indptr, indices, data, dw, idx, scale, out, N, B, chunk):
    """srht_dense for a CSC matrix: the buffer is filled from the columns' nonzeros."""
    d = indptr.shape[0] - 1
    m = idx.shape[0]
    nblocks = (d + B - 1) // B
    for blk in prange(nblocks):
        j0 = blk * B
        w = min(B, d - j0)
        buf = np.zeros((N, B), dtype=out.dtype)
        for b in range(w):
            for p in range(indptr[j0 + b], indptr[j0 + b + 1]):
                i = indices[p]
                buf[i, b] += dw[i] * data[p]
        _fwht_rows(buf, chunk)
        for r in range(m):
            q = idx[r]
            for b in range(w):
                out[r, j0 + b] = scale * buf[q, b]

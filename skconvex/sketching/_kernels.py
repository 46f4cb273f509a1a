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


@njit(cache=True)
def csc_pattern(cols, n):
    """Counting sort of a row-wise pattern: S[r, cols[r, k]] -> CSC (indptr, rows, perm).

    ``perm[p]`` is the flat index ``r * s + k`` of the p-th CSC entry, so that the CSC
    values are ``values.ravel()[perm]``. O(m s + n).
    """
    m, s = cols.shape
    indptr = np.zeros(n + 1, dtype=np.intp)
    for r in range(m):
        for k in range(s):
            indptr[cols[r, k] + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    fill = indptr[:-1].copy()
    rows = np.empty(m * s, dtype=np.intp)
    perm = np.empty(m * s, dtype=np.intp)
    for r in range(m):
        for k in range(s):
            c = cols[r, k]
            q = fill[c]
            rows[q] = r
            perm[q] = r * s + k
            fill[c] = q + 1
    return indptr, rows, perm


# --------------------------------------------------------------------------------------
# Scatter kernels for the sparse kinds (sjlt, less_uniform, less).
# S is held in CSC form (s_indptr, s_rows, s_coef): column i of S (row i of A) has entries
# s_coef[p] in rows s_rows[p], p in [s_indptr[i], s_indptr[i + 1]). Row weights w (length n)
# multiply column i of S. The kernels compute  out[s_rows[p], :] += s_coef[p] w[i] A[i, :].
# --------------------------------------------------------------------------------------


@njit(cache=True)
def _scatter_block(A, s_indptr, s_rows, s_coef, w, out, i0, i1, j0, j1):
    """out[:, j0:j1] += S[:, i0:i1] diag(w[i0:i1]) A[i0:i1, j0:j1]."""
    nw = j1 - j0
    for i in range(i0, i1):
        a = A[i, j0:j1]
        wi = w[i]
        for p in range(s_indptr[i], s_indptr[i + 1]):
            o = out[s_rows[p], j0:j1]
            c = s_coef[p] * wi
            for j in range(nw):
                o[j] += c * a[j]


@njit(cache=True, parallel=True)
def scatter_dense(A, s_indptr, s_rows, s_coef, w, out, bufs, block):
    """Dense A (C- or F-ordered, (n, d)) -> C-ordered out (m, d).

    Tasks are (row chunk of A, column block) pairs. Row chunk 0 accumulates into ``out``,
    chunk c >= 1 into the zeroed private buffer ``bufs[c - 1]`` (m, d), added to ``out`` at
    the end; column blocks (width ``block``, a multiple of 64 bytes) never share an
    output cache line. ``sketches._scatter_plan`` chooses the split; measurements there.
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
            _scatter_block(A, s_indptr, s_rows, s_coef, w, out, i0, i1, j0, j1)
        else:
            _scatter_block(A, s_indptr, s_rows, s_coef, w, bufs[c - 1], i0, i1, j0, j1)
    if nchunks > 1:
        m = out.shape[0]
        for r in prange(m):
            for c in range(nchunks - 1):
                for j in range(d):
                    out[r, j] += bufs[c, r, j]


@njit(cache=True, parallel=True)
def scatter_csr(indptr, indices, data, s_indptr, s_rows, s_coef, w, out, bufs):
    """CSR A -> C-ordered dense out; row chunks of A with private buffers as above."""
    n = indptr.shape[0] - 1
    nchunks = bufs.shape[0] + 1
    width = (n + nchunks - 1) // nchunks
    for c in prange(nchunks):
        target = out if c == 0 else bufs[c - 1]
        for i in range(c * width, min(n, (c + 1) * width)):
            wi = w[i]
            p0 = indptr[i]
            p1 = indptr[i + 1]
            for q in range(s_indptr[i], s_indptr[i + 1]):
                r = s_rows[q]
                cf = s_coef[q] * wi
                for p in range(p0, p1):
                    target[r, indices[p]] += cf * data[p]
    if nchunks > 1:
        m, d = out.shape
        for r in prange(m):
            for c in range(nchunks - 1):
                for j in range(d):
                    out[r, j] += bufs[c, r, j]


@njit(cache=True, parallel=True)
def scatter_csc(indptr, indices, data, s_indptr, s_rows, s_coef, w, out):
    """CSC A -> F-ordered dense out (column j of out stays in L1); one column per task."""
    d = indptr.shape[0] - 1
    for j in prange(d):
        for p in range(indptr[j], indptr[j + 1]):
            i = indices[p]
            a = data[p] * w[i]
            for q in range(s_indptr[i], s_indptr[i + 1]):
                out[s_rows[q], j] += s_coef[q] * a


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

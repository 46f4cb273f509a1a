"""Kernels of the polar code over the reals: butterfly encoding, virtual runtimes and the
successive-cancellation (SC) decoder for erasures.

Index convention (MSB = first split): the top-level split pairs worker ``k`` with worker
``k + N/2``; the first half of ``u`` is the slow subtree (needs both results: ``max``), the
second half the fast one (either result: ``min``). ``u`` is encoded as ``x = u G_N`` with
``G_N = G_2^{kron n}``, ``G_2 = [[1, 0], [1, 1]]`` (``x = [enc(u_1 + u_2), enc(u_2)]``).

The decoder visits the leaves ``0 .. N-1`` in order and keeps, per depth ``l`` of the tree,
the channel observation of the current node (``s_l = N >> l`` rows and their availability)
and the re-encoded codeword of its left child. Moving from leaf ``i - 1`` to leaf ``i`` costs
one ``g`` step at the depth where the paths part and one ``f`` step per depth below it; each
node of the tree does one ``f``, one ``g`` and one combination of ``s_l / 2`` rows, so the
work is ``3/2 N log2 N`` row operations (additions or subtractions) at most, and no
multiplication at all.
"""

import numba
import numpy as np


def polar_encode(u):
    """``x = u G_N`` along axis 0 of ``u`` (shape ``(N, ...)``, N a power of two), by the
    butterfly: ``(N/2) log2 N`` row additions. Returns a new array."""
    x = np.array(u, dtype=np.result_type(u, np.float64), copy=True)
    N = x.shape[0]
    rest = x.shape[1:]
    h = 1
    while h < N:
        v = x.reshape((N // (2 * h), 2, h) + rest)
        v[:, 0] += v[:, 1]
        h *= 2
    return x


def virtual_times(T):
    """Virtual runtimes of the ``N`` synthetic workers for actual runtimes ``T``.

    ``T`` has shape ``(N,)`` or ``(n_runs, N)``. At each split, the pair ``(k, k + s/2)`` of a
    node of size ``s`` gives a slow child ``max(T_k, T_{k+s/2})`` (first half) and a fast
    child ``min`` (second half). Output has the shape of ``T``; index ``i`` matches row ``i``
    of :func:`polarize_cdf`.
    """
    T = np.asarray(T, dtype=np.float64)
    single = T.ndim == 1
    V = T[None] if single else T
    runs, N = V.shape
    V = V.reshape(runs, 1, N)
    while V.shape[2] > 1:
        h = V.shape[2] // 2
        a, b = V[:, :, :h], V[:, :, h:]
        V = np.stack([np.maximum(a, b), np.minimum(a, b)], axis=2).reshape(runs, -1, h)
    out = V[:, :, 0]
    return out[0] if single else out


@numba.njit(cache=True)
def _ctz(i):
    b = 0
    while (i & 1) == 0:
        i >>= 1
        b += 1
    return b


@numba.njit(cache=True)
def sc_decode(y, avail, frozen):
    """SC decoding of ``x = u G_N`` from the rows ``y[avail]`` (erasures over the reals).

    Parameters
    ----------
    y : ndarray of shape (N, L), float64
        Received rows (anything where not available).
    avail : ndarray of shape (N,), bool
    frozen : ndarray of shape (N,), bool
        Positions known to be zero.

    Returns
    -------
    u : ndarray of shape (N, L)
        The decoded message (zeros at frozen positions).
    failed : int
        -1 on success, else the first information position that could not be recovered
        (``u`` is then incomplete).
    flops : int
        Additions and subtractions performed (row operations times L).
    """
    N, L = y.shape
    n = 0
    while (1 << n) < N:
        n += 1
    u = np.zeros((N, L))
    # per depth l, the observation of the current node (N >> l rows) and the codeword of its
    # left child (N >> (l + 1) rows), stacked: depth l starts at row off[l] = 2N - 2(N >> l)
    off = np.empty(n + 2, dtype=np.int64)
    for lv in range(n + 2):
        off[lv] = 2 * N - 2 * (N >> lv) if lv <= n else 2 * N
    Y = np.empty((2 * N, L))
    A = np.empty(2 * N, dtype=np.bool_)
    XL = np.empty((N, L))  # left-child codeword of depth l at rows off[l] / 2
    C = np.empty((N, L))  # codeword being propagated up
    for j in range(N):
        A[j] = avail[j]
        if avail[j]:
            for c in range(L):
                Y[j, c] = y[j, c]
    flops = 0
    for i in range(N):
        if i == 0:
            start = 0
        else:
            # depth of the node whose left subtree leaf i-1 finished: g step there
            ls = n - 1 - _ctz(i)
            h = (N >> ls) // 2
            o, o1, ox = off[ls], off[ls + 1], off[ls] // 2
            for j in range(h):
                a1 = A[o + j]
                a2 = A[o + j + h]
                if a2:
                    for c in range(L):
                        Y[o1 + j, c] = Y[o + j + h, c]
                elif a1:
                    for c in range(L):
                        Y[o1 + j, c] = Y[o + j, c] - XL[ox + j, c]
                    flops += L
                A[o1 + j] = a1 or a2
            start = ls + 1
        # f steps down to the leaf
        for lv in range(start, n):
            h = (N >> lv) // 2
            o, o1 = off[lv], off[lv + 1]
            for j in range(h):
                ok = A[o + j] and A[o + j + h]
                A[o1 + j] = ok
                if ok:
                    for c in range(L):
                        Y[o1 + j, c] = Y[o + j, c] - Y[o + j + h, c]
                    flops += L
        # leaf
        leaf = off[n]
        if frozen[i]:
            for c in range(L):
                C[0, c] = 0.0
        else:
            if not A[leaf]:
                return u, i, flops
            for c in range(L):
                u[i, c] = Y[leaf, c]
                C[0, c] = Y[leaf, c]
        # propagate the codeword up while leaf i closes right subtrees
        size = 1
        lv = n - 1
        while lv >= 0:
            ox = off[lv] // 2
            bit = (i >> (n - 1 - lv)) & 1
            if bit == 0:
                for j in range(size):
                    for c in range(L):
                        XL[ox + j, c] = C[j, c]
                break
            # right child finished: node codeword = [XL + C, C]
            for j in range(size - 1, -1, -1):
                for c in range(L):
                    C[j + size, c] = C[j, c]
                    C[j, c] = XL[ox + j, c] + C[j, c]
            flops += size * L
            size *= 2
            lv -= 1
    return u, -1, flops


@numba.njit(cache=True)
def sc_decodable(avail, frozen):
    """Whether :func:`sc_decode` succeeds with these available rows: the same traversal on
    availability flags only. Returns the first unrecoverable information position, or -1."""
    N = avail.shape[0]
    n = 0
    while (1 << n) < N:
        n += 1
    A = np.zeros((n + 1, N), dtype=np.bool_)
    for j in range(N):
        A[0, j] = avail[j]
    for i in range(N):
        if i == 0:
            start = 0
        else:
            ls = n - 1 - _ctz(i)
            h = (N >> ls) // 2
            for j in range(h):
                A[ls + 1, j] = A[ls, j] or A[ls, j + h]
            start = ls + 1
        for lv in range(start, n):
            h = (N >> lv) // 2
            for j in range(h):
                A[lv + 1, j] = A[lv, j] and A[lv, j + h]
        if not frozen[i] and not A[n, 0]:
            return i
    return -1

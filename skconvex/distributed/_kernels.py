"""Kernels of the polar code over the reals: butterfly encoding, virtual runtimes and the
successive-cancellation (SC) decoder for erasures.

Index convention (MSB = first split): the top-level split pairs worker ``k`` with worker
``k + N/2``; the first half of ``u`` is the slow subtree (needs both results: ``max``), the
second half the fast one (either result: ``min``). ``u`` is encoded as ``x = u G_N`` with
``G_N = G_2^{kron n}``, ``G_2 = [[1, 0], [1, 1]]`` (``x = [enc(u_1 + u_2), enc(u_2)]``).

The decoder visits the leaves ``0 .. N-1`` in order and keeps, per depth ``l >= 1`` of the
tree, the channel observation of the current node (``s_l = N >> l`` rows and their
availability; depth 0 is the input itself, never copied), and the re-encoded codewords in
place in one ``(N, L)`` array (the node over leaves ``[a, a + s)`` owns its rows
``[a, a + s)``). Moving from leaf ``i - 1`` to leaf ``i`` costs
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
def _f_step(src, sa, so, dst, da, do, h):
    """``f`` step: ``dst[do + j] = src[so + j] - src[so + j + h]`` where both are available
    (in float64 whatever the dtype of ``src``). Returns the additions performed."""
    L = dst.shape[1]
    flops = 0
    for j in range(h):
        ok = sa[so + j] and sa[so + j + h]
        da[do + j] = ok
        if ok:
            for c in range(L):
                dst[do + j, c] = np.float64(src[so + j, c]) - np.float64(src[so + j + h, c])
            flops += L
    return flops


@numba.njit(cache=True)
def _g_step(src, sa, so, X, xo, dst, da, do, h):
    """``g`` step with the left child's codeword ``X[xo:xo + h]``: the right half of the
    observation where available, else the left half minus the codeword."""
    L = dst.shape[1]
    flops = 0
    for j in range(h):
        a1 = sa[so + j]
        a2 = sa[so + j + h]
        if a2:
            for c in range(L):
                dst[do + j, c] = np.float64(src[so + j + h, c])
        elif a1:
            for c in range(L):
                dst[do + j, c] = np.float64(src[so + j, c]) - X[xo + j, c]
            flops += L
        da[do + j] = a1 or a2
    return flops


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
        (``u`` is then incomplete: zeros from that position on).
    flops : int
        Additions and subtractions performed (row operations times L).
    """
    N, L = y.shape
    u = np.empty((N, L))
    # the observation of the current node at depth l >= 1 (N >> l rows and their
    # availability) starts at row N - 2 (N >> l) of Y; depth 0 is y itself
    Y = np.empty((max(N - 1, 1), L))
    A = np.empty(max(N - 1, 1), dtype=np.bool_)
    # codewords in place: the node over leaves [a, a + s) keeps its re-encoded codeword in
    # rows [a, a + s) of X, so the codeword of a node is [X_left + X_right, X_right], formed
    # in place once its right child is done, and no row is ever copied
    X = np.empty((N, L))
    n = 0
    while (1 << n) < N:
        n += 1
    flops = 0
    for i in range(N):
        if i == 0:
            start = 0
        else:
            # depth of the node whose left subtree leaf i-1 finished: g step there
            ls = n - 1 - _ctz(i)
            h = (N >> ls) // 2
            o1 = N - 2 * (N >> (ls + 1))
            if ls == 0:
                flops += _g_step(y, avail, 0, X, i - h, Y, A, o1, h)
            else:
                flops += _g_step(Y, A, N - 2 * (N >> ls), X, i - h, Y, A, o1, h)
            start = ls + 1
        # f steps down to the leaf
        for lv in range(start, n):
            h = (N >> lv) // 2
            o1 = N - 2 * (N >> (lv + 1))
            if lv == 0:
                flops += _f_step(y, avail, 0, Y, A, o1, h)
            else:
                flops += _f_step(Y, A, N - 2 * (N >> lv), Y, A, o1, h)
        # leaf
        if frozen[i]:
            for c in range(L):
                u[i, c] = 0.0
                X[i, c] = 0.0
        else:
            if n == 0:
                ok = avail[0]
            else:
                ok = A[N - 2]
            if not ok:
                for k in range(i, N):
                    for c in range(L):
                        u[k, c] = 0.0
                return u, i, flops
            for c in range(L):
                v = y[0, c] if n == 0 else Y[N - 2, c]
                u[i, c] = v
                X[i, c] = v
        # propagate the codeword up while leaf i closes right subtrees
        size = 1
        lv = n - 1
        while lv >= 0:
            if ((i >> (n - 1 - lv)) & 1) == 0:
                break
            # right child [a + size, a + 2 size) finished: node codeword = [XL + XR, XR]
            a = i + 1 - 2 * size
            for j in range(size):
                for c in range(L):
                    X[a + j, c] = X[a + j, c] + X[a + size + j, c]
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

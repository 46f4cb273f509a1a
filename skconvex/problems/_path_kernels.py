"""numba kernels: Euclidean projection onto the polyhedral cone of one cell of the
path-regularized deep program (:mod:`skconvex.problems.path_deep`).

A cell is a tree-shaped ReLU sub-network. Its variables are one ``d``-vector per leaf (path),
``Z = [z_0 ... z_{l-1}]`` (``d x l``, stored row-major: entry ``(j, p)`` at ``j * l + p``). Every
node ``u`` has an activation pattern ``mask[:, u]`` and every non-root node a sign ``sig[u]`` (the
sign of its edge to its parent). The pre-activations are ``h_p = X z_p`` at the leaves and
``h_u = sum_{v child of u} sig[v] mask[:, v] h_v`` above; the cone is
``{Z : (2 mask[i, u] - 1) h_u[i] >= 0 for every node u and sample i}``.

Each constraint ``(u, i)`` is linear in ``Z`` with the row ``s * (x_i outer c)`` where ``c``
(length ``l``) holds, for every leaf ``p`` below ``u``, the product of ``sig[v] mask[i, v]`` over
the nodes ``v`` from ``p`` up to ``u`` (``u`` excluded); its norm is ``||x_i|| ||c||``.

The projection is the same Lawson-Hanson scheme as the two-layer cone projection
(:func:`skconvex.problems._cone_kernels.project_cone`, whose least-squares helpers are reused on
the explicit active rows): add the most violated constraint, re-solve least squares on the
active set, step back to keep the multipliers nonnegative.

Nodes are numbered leaves first (``0 .. l-1``), then each layer in turn, the root last; the
children of an internal node ``u`` are ``child_lo[u] .. child_hi[u] - 1`` and the leaves below
it ``leaf_lo[u] .. leaf_hi[u] - 1``.
"""

import numpy as np
from numba import njit

from skconvex.problems._cone_kernels import _back_off, _primal, _solve_active


@njit(cache=True, nogil=True)
def _preacts(H, mask, sig, child_lo, child_hi, n_leaves, h):
    """All node pre-activations ``h`` (n, N) from the leaves' ``H`` (n, l)."""
    n, N = h.shape
    for i in range(n):
        for p in range(n_leaves):
            h[i, p] = H[i, p]
        for u in range(n_leaves, N):
            acc = 0.0
            for v in range(child_lo[u], child_hi[u]):
                if mask[i, v]:
                    acc += sig[v] * h[i, v]
            h[i, u] = acc


@njit(cache=True, nogil=True)
def _coef_norms(mask, child_lo, child_hi, n_leaves, cn):
    """``cn[i, u] = ||c_{u,i}||`` (1 at the leaves)."""
    n, N = cn.shape
    for i in range(n):
        for p in range(n_leaves):
            cn[i, p] = 1.0
        for u in range(n_leaves, N):
            acc = 0.0
            for v in range(child_lo[u], child_hi[u]):
                if mask[i, v]:
                    acc += cn[i, v] * cn[i, v]
            cn[i, u] = np.sqrt(acc)


@njit(cache=True, nogil=True)
def _leaf_preacts(X, z, n_leaves, H):
    n, d = X.shape
    for i in range(n):
        for p in range(n_leaves):
            acc = 0.0
            for j in range(d):
                acc += X[i, j] * z[j * n_leaves + p]
            H[i, p] = acc


@njit(cache=True, nogil=True)
def _row(X, mask, sig, parent, leaf_lo, leaf_hi, n_leaves, i, u, out):
    """The constraint row of (node ``u``, sample ``i``) into ``out`` (d * l)."""
    d = X.shape[1]
    for a in range(out.size):
        out[a] = 0.0
    s = 1.0 if mask[i, u] else -1.0
    for p in range(leaf_lo[u], leaf_hi[u]):
        c = 1.0
        v = p
        while v != u:
            if not mask[i, v]:
                c = 0.0
                break
            c *= sig[v]
            v = parent[v]
        if c != 0.0:
            for j in range(d):
                out[j * n_leaves + p] = s * c * X[i, j]


@njit(cache=True, nogil=True)
def _most_violated(h, mask, xnorm, cn, in_s, tol_abs):
    """``(worst relative violation, i, u)`` over the constraints not in the active set, or
    ``(0, -1, -1)`` when every constraint holds to ``tol_abs`` (relative to the row norm)."""
    n, N = h.shape
    worst, bi, bu = 0.0, -1, -1
    for i in range(n):
        for u in range(N):
            r = xnorm[i] * cn[i, u]
            if r == 0.0 or in_s[i, u]:
                continue
            v = h[i, u] if mask[i, u] else -h[i, u]
            if v < -tol_abs * r:
                rel = v / r
                if rel < worst:
                    worst, bi, bu = rel, i, u
    return worst, bi, bu


@njit(cache=True, nogil=True)
def project_tree_cone(X, xnorm, mask, sig, parent, child_lo, child_hi, leaf_lo, leaf_hi,
                      n_leaves, z, warm_i, warm_u, n_warm, rtol=1e-12, H0=None):
    """Projection of ``z`` (d * l,) onto the cell's cone.

    Returns ``(u, S_i, S_u, n_active)`` with the active constraints
    ``(S_i[a], S_u[a]), a < n_active``. ``warm_*[:n_warm]``: a guess of the active set (kept
    while its least-squares multipliers are positive). ``H0``: the leaves' pre-activations
    ``X z_p`` (n, l) when the caller has them (one GEMM for many columns).
    """
    n, d = X.shape
    N = mask.shape[1]
    D = z.size
    S_i = np.empty(D + 1, dtype=np.int64)
    S_u = np.empty(D + 1, dtype=np.int64)
    scale = 0.0
    for a in range(D):
        scale += z[a] * z[a]
    scale = np.sqrt(scale)
    u = z.copy()
    if scale == 0.0:
        return u, S_i, S_u, 0
    H = np.empty((n, n_leaves))
    if H0 is None:
        _leaf_preacts(X, z, n_leaves, H)
    else:
        H[:, :] = H0
    h = np.empty((n, N))
    _preacts(H, mask, sig, child_lo, child_hi, n_leaves, h)
    cn = np.empty((n, N))
    _coef_norms(mask, child_lo, child_hi, n_leaves, cn)
    in_s = np.zeros((n, N), dtype=np.bool_)
    tol_abs = rtol * scale
    worst, bi, bu = _most_violated(h, mask, xnorm, cn, in_s, tol_abs)
    if bi < 0:  # inside the cone already
        return u, S_i, S_u, 0
    A = np.zeros((D + 1, D))
    ones = np.ones(D + 1)
    idx = np.arange(D + 1)
    rho = np.zeros(D + 1)
    n_s = 0
    for a in range(min(n_warm, D)):
        i, v = warm_i[a], warm_u[a]
        if 0 <= i < n and 0 <= v < N and not in_s[i, v] and cn[i, v] > 0.0:
            _row(X, mask, sig, parent, leaf_lo, leaf_hi, n_leaves, i, v, A[n_s])
            S_i[n_s], S_u[n_s] = i, v
            in_s[i, v] = True
            n_s += 1
    while n_s > 0:
        sol = _solve_active(A[:n_s], ones, z, idx, n_s)
        amin = 0
        for a in range(1, n_s):
            if sol[a] < sol[amin]:
                amin = a
        if sol[amin] > 0.0:
            for a in range(n_s):
                rho[a] = sol[a]
            break
        in_s[S_i[amin], S_u[amin]] = False
        for a in range(amin, n_s - 1):
            S_i[a], S_u[a] = S_i[a + 1], S_u[a + 1]
            A[a, :] = A[a + 1, :]
        n_s -= 1
    if n_s > 0:
        _primal(A, ones, z, idx, rho, n_s, u)
    max_steps = 3 * D + 10
    for _ in range(max_steps):
        _leaf_preacts(X, u, n_leaves, H)
        _preacts(H, mask, sig, child_lo, child_hi, n_leaves, h)
        worst, bi, bu = _most_violated(h, mask, xnorm, cn, in_s, tol_abs)
        if bi < 0 or n_s >= D:
            break
        _row(X, mask, sig, parent, leaf_lo, leaf_hi, n_leaves, bi, bu, A[n_s])
        S_i[n_s], S_u[n_s] = bi, bu
        in_s[bi, bu] = True
        rho[n_s] = 0.0
        n_s += 1
        for _inner in range(3 * D + 10):
            sol = _solve_active(A[:n_s], ones, z, idx, n_s)
            if _back_off(rho, sol, n_s):
                break
            k = 0
            for a in range(n_s):
                if rho[a] > 1e-15 * scale:
                    S_i[k], S_u[k] = S_i[a], S_u[a]
                    A[k, :] = A[a, :]
                    rho[k] = rho[a]
                    k += 1
                else:
                    in_s[S_i[a], S_u[a]] = False
            n_s = k
            if n_s == 0:
                break
        for a in range(D):
            u[a] = z[a]
        if n_s > 0:
            _primal(A, ones, z, idx, rho, n_s, u)
    return u, S_i, S_u, n_s


@njit(cache=True, nogil=True)
def project_cell_columns(X, xnorm, masks, sigs, parent, child_lo, child_hi, leaf_lo, leaf_hi,
                         n_leaves, col_cell, col_id, Z, H, active_i, active_u, n_active,
                         selected, out, q_lo, q_hi):
    """Project the columns ``Z[:, q, k]`` (``q_lo <= q < q_hi``, ``selected[q, k]``) onto the
    cone of cell ``col_cell[q]`` (``masks[:, c, :]``, ``sigs[c]``) into ``out``. ``H``
    (n, l, Q, K): the leaves' pre-activations of every column (one GEMM by the caller). Active
    sets are read from and written to ``active_*[col_id[q], k]`` (warm starts); ranges of ``q``
    touch disjoint data, so threads may split them."""
    K = Z.shape[2]
    D = Z.shape[0]
    for q in range(q_lo, q_hi):
        c = col_cell[q]
        g = col_id[q]
        mask = masks[:, c, :]
        sig = sigs[c]
        for k in range(K):
            if not selected[q, k]:
                continue
            z = np.ascontiguousarray(Z[:, q, k])
            u, S_i, S_u, ns = project_tree_cone(
                X, xnorm, mask, sig, parent, child_lo, child_hi, leaf_lo, leaf_hi, n_leaves,
                z, active_i[g, k], active_u[g, k], n_active[g, k], 1e-12,
                np.ascontiguousarray(H[:, :, q, k]))
            if ns > 0:
                for a in range(ns):
                    active_i[g, k, a] = S_i[a]
                    active_u[g, k, a] = S_u[a]
                n_active[g, k] = ns
            for a in range(D):
                out[a, q, k] = u[a]


@njit(cache=True, nogil=True)
def max_cell_violation(X, masks, sigs, child_lo, child_hi, n_leaves, col_cell, Z, H):
    """Largest violation ``max(0, -(2 mask - 1) h)`` of the cone constraints of every column
    (absolute, in the units of the pre-activations); ``H`` as for
    :func:`project_cell_columns`."""
    n = X.shape[0]
    N = masks.shape[2]
    Q, K = Z.shape[1], Z.shape[2]
    worst = 0.0
    h = np.empty((n, N))
    for q in range(Q):
        c = col_cell[q]
        for k in range(K):
            _preacts(np.ascontiguousarray(H[:, :, q, k]), masks[:, c, :], sigs[c], child_lo,
                     child_hi, n_leaves, h)
            for i in range(n):
                for u in range(N):
                    v = h[i, u] if masks[i, c, u] else -h[i, u]
                    if -v > worst:
                        worst = -v
    return worst

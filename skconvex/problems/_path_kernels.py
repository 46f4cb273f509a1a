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

from skconvex.problems._cone_kernels import (_accept_or_worst, _back_off, _chol_append,
                                              _chol_delete, _chol_solve, _factor_warm_rows,
                                              _primal, _solve_active, _warm_prune_step,
                                              kept_factor, record_factor)


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
def _drop_nonpositive(A, ones, z, idx, rho, S_i, S_u, in_s, n_s):
    """A warm-started active set: drop the constraint of the most negative multiplier until
    all are positive (their values go to ``rho``). Returns the new size."""
    while n_s > 0:
        amin = _accept_or_worst(_solve_active(A[:n_s], ones, z, idx, n_s), rho, n_s)
        if amin < 0:
            break
        in_s[S_i[amin], S_u[amin]] = False
        for a in range(amin, n_s - 1):
            S_i[a], S_u[a] = S_i[a + 1], S_u[a + 1]
            A[a, :] = A[a + 1, :]
        n_s -= 1
    return n_s


@njit(cache=True, nogil=True)
def _settle(A, ones, z, idx, rho, S_i, S_u, in_s, n_s, scale, D):
    """Lawson-Hanson inner loop after a constraint joined the active set: solve, back off to
    the first vanishing multiplier and drop the vanished ones, until all are positive. Returns
    the new size."""
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
    return n_s


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
    n_s = _drop_nonpositive(A, ones, z, idx, rho, S_i, S_u, in_s, n_s)
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
        n_s = _settle(A, ones, z, idx, rho, S_i, S_u, in_s, n_s, scale, D)
        for a in range(D):
            u[a] = z[a]
        if n_s > 0:
            _primal(A, ones, z, idx, rho, n_s, u)
    return u, S_i, S_u, n_s


@njit(cache=True, nogil=True)
def max_cell_violation(X, masks, sigs, child_lo, child_hi, n_leaves, col_cell, Z, H):
    """Largest violation ``max(0, -(2 mask - 1) h)`` of the cone constraints of every column
    (absolute, in the units of the pre-activations); ``H`` (n, l, Q, K) the leaves'
    pre-activations of every column (one GEMM by the caller)."""
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


# -- screened projections ------------------------------------------------------------------
#
# Successive projections of one column (proximal-gradient steps, certificates along a
# converging run) move little, and checking a point against every constraint (a pass over
# the n samples and N nodes with the leaves' pre-activations, n d l work) dominates their
# cost. Each column therefore keeps a reference point ``ref`` and lists of the constraints of
# smallest relative slack ``r = slack / ||row||`` at ``ref``. The row of constraint ``(i, u)``
# is ``s (x_i outer c)`` with ``c`` supported on the *live* leaves below ``u`` (those whose
# path up to ``u`` is active at sample ``i``), so between ``ref`` and a point ``w`` its
# relative slack changes by at most the distance restricted to those leaves (Cauchy-Schwarz).
# The constraints of a node are classed by their set of live leaves (one class per node with
# more than ``_MAX_CLASS_LEAVES`` leaves below it: all of them); each class keeps the ``m``
# constraints of smallest ``r`` and the threshold ``tau``, with ``r >= tau`` for every other
# constraint of the class. At a point where every class has ``dist < tau + tol`` (less a
# rounding margin; ``tol`` the tolerance of the test) no constraint outside the lists is
# violated, and checking the lists is an exact feasibility test. Else the full pass runs and
# rebuilds the lists at ``w``. (Classes, because a path that is zero in the solution holds all
# n constraints of its leaf, and those of its ancestors at samples where no other path is
# live, at zero slack: no list holds them, and their distance is at rounding level, while the
# other paths move.)

_MAX_CLASS_LEAVES = 4


def screening_classes(leaf_lo, leaf_hi):
    """Per node: the offset of its first class and whether it is classed by live-leaf sets
    (``2^k - 1`` classes for ``k <= _MAX_CLASS_LEAVES`` leaves below it, else one class).
    Returns ``(offsets (N + 1,), by_set (N,) bool)``."""
    k = leaf_hi - leaf_lo
    by_set = k <= _MAX_CLASS_LEAVES
    count = np.where(by_set, (1 << np.minimum(k, _MAX_CLASS_LEAVES)) - 1, 1)
    return np.concatenate([[0], np.cumsum(count)]).astype(np.int64), by_set


@njit(cache=True, nogil=True)
def _constraint(X, mask, sig, parent, leaf_lo, leaf_hi, n_leaves, i, u, w):
    """``(s h_u[i], live)`` at ``w``: the signed pre-activation of node ``u`` at sample ``i``
    (the constraint's value) and the bit set of its live leaves (bit ``p - leaf_lo[u]``;
    its row norm is ``xnorm[i] sqrt(#live)``, the coefficients being products of signs and
    0/1 masks)."""
    d = X.shape[1]
    acc = 0.0
    live = 0
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
            dot = 0.0
            for j in range(d):
                dot += X[i, j] * w[j * n_leaves + p]
            acc += c * dot
            live |= 1 << (p - leaf_lo[u])
    return (acc if mask[i, u] else -acc), live


@njit(cache=True, nogil=True)
def _popcount(b):
    c = 0
    while b:
        c += b & 1
        b >>= 1
    return c


@njit(cache=True, nogil=True)
def _screened_violation(X, xnorm, mask, sig, parent, child_lo, child_hi, leaf_lo, leaf_hi,
                        n_leaves, cls_off, cls_set, w, in_s, tol_abs, ref, near, tau, n_near,
                        lists_only):
    """Most violated constraint at ``w`` outside the active set ``in_s``: ``(worst relative
    violation, i, u)`` or ``(0, -1, -1)``, as :func:`_most_violated`; from the lists when the
    distances to ``ref`` allow it (exact, see above), else by the full pass, which also
    rebuilds the lists at ``w`` (per class: ``near`` (classes, m) sample indices, ``tau``,
    ``n_near``). With ``lists_only``: ``(1, -1, -1)`` when the
    lists cannot decide (nothing evaluated)."""
    N = mask.shape[1]
    D = w.size
    d = X.shape[1]
    leaf_d2 = np.zeros(n_leaves)
    wn2 = 0.0
    rn2 = 0.0
    for a in range(D):
        leaf_d2[a % n_leaves] += (w[a] - ref[a]) ** 2
        wn2 += w[a] * w[a]
        rn2 += ref[a] * ref[a]
    margin = 1e-14 * (np.sqrt(wn2) + np.sqrt(rn2)) * np.sqrt(float(d))
    ok = True
    for u in range(N):
        lo, k = leaf_lo[u], leaf_hi[u] - leaf_lo[u]
        for b in range(cls_off[u + 1] - cls_off[u]):
            t = tau[cls_off[u] + b]
            if not t > -np.inf:
                ok = False
                break
            acc = 0.0
            bits = b + 1 if cls_set[u] else (1 << k) - 1
            for p in range(k):
                if bits & (1 << p):
                    acc += leaf_d2[lo + p]
            if not np.sqrt(acc) + margin < t + tol_abs:
                ok = False
                break
        if not ok:
            break
    if ok:
        worst, bi, bu = 0.0, -1, -1
        for u in range(N):
            for c in range(cls_off[u], cls_off[u + 1]):
                for a in range(n_near[c]):
                    i = near[c, a]
                    if in_s[i, u]:
                        continue
                    v, live = _constraint(X, mask, sig, parent, leaf_lo, leaf_hi, n_leaves, i,
                                          u, w)
                    r = xnorm[i] * np.sqrt(float(_popcount(live)))
                    if r == 0.0:
                        continue
                    if v < -tol_abs * r:
                        rel = v / r
                        if rel < worst:
                            worst, bi, bu = rel, i, u
        return worst, bi, bu
    if lists_only:
        return 1.0, -1, -1
    return _full_pass(X, xnorm, mask, sig, child_lo, child_hi, leaf_lo, n_leaves, cls_off,
                      cls_set, w, in_s, tol_abs, ref, near, tau, n_near)


@njit(cache=True, nogil=True)
def _full_pass(X, xnorm, mask, sig, child_lo, child_hi, leaf_lo, n_leaves, cls_off, cls_set, w,
               in_s, tol_abs, ref, near, tau, n_near):
    """Every constraint at ``w`` in one pass over the samples: the most violated one outside
    ``in_s`` (as :func:`_most_violated`), and the screening lists rebuilt at ``w`` (per
    class the ``m`` smallest relative slacks, kept in a max-heap; ``tau`` the largest listed
    slack when the class has more than ``m`` constraints, so that every other one has
    ``r >= tau``, infinite otherwise). Violated constraints have negative slacks and lead
    the lists, so the next Lawson-Hanson points, close to ``w``, are often decided by
    them."""
    n, d = X.shape
    N = mask.shape[1]
    B = tau.size
    m = near.shape[1]
    heap = np.empty((B, m))
    heap_i = np.empty((B, m), dtype=np.int64)
    size = np.zeros(B, dtype=np.int64)
    total = np.zeros(B, dtype=np.int64)
    hv = np.empty(N)
    cn2 = np.empty(N)
    bits = np.zeros(N, dtype=np.int64)
    worst, bi, bu = 0.0, -1, -1
    H = X @ np.ascontiguousarray(w).reshape(d, n_leaves)  # the leaves' pre-activations (BLAS)
    for i in range(n):
        for p in range(n_leaves):
            hv[p] = H[i, p]
            cn2[p] = 1.0
            bits[p] = 1
        for u in range(n_leaves, N):
            acc = 0.0
            c2 = 0.0
            b = 0
            for v in range(child_lo[u], child_hi[u]):
                if mask[i, v]:
                    acc += sig[v] * hv[v]
                    c2 += cn2[v]
                    if cls_set[u]:
                        b |= bits[v] << (leaf_lo[v] - leaf_lo[u])
            hv[u] = acc
            cn2[u] = c2
            bits[u] = b
        for u in range(N):
            rn = xnorm[i] * np.sqrt(cn2[u])
            if rn == 0.0:
                continue
            v = hv[u] if mask[i, u] else -hv[u]
            r = v / rn
            if not in_s[i, u] and v < -tol_abs * rn and r < worst:
                worst, bi, bu = r, i, u
            c = cls_off[u] + (bits[u] - 1 if cls_set[u] else 0)
            total[c] += 1
            if total[c] <= m or r < heap[c, 0]:
                size[c] = _heap_push(heap[c], heap_i[c], size[c], r, i)
    for c in range(B):
        n_near[c] = size[c]
        for a in range(size[c]):
            near[c, a] = heap_i[c, a]
        tau[c] = heap[c, 0] if total[c] > m else np.inf
    for a in range(w.size):
        ref[a] = w[a]
    return worst, bi, bu


@njit(cache=True, nogil=True)
def _heap_push(vals, idx, size, v, i):
    """Keep the ``m = vals.size`` smallest values seen in a max-heap (``vals[0]`` the
    largest kept); returns the new size."""
    m = vals.size
    if size < m:
        a = size
        vals[a], idx[a] = v, i
        while a > 0:
            parent = (a - 1) // 2
            if vals[parent] >= vals[a]:
                break
            vals[parent], vals[a] = vals[a], vals[parent]
            idx[parent], idx[a] = idx[a], idx[parent]
            a = parent
        return size + 1
    if not v < vals[0]:
        return size
    vals[0], idx[0] = v, i
    a = 0
    while True:
        left = 2 * a + 1
        if left >= m:
            break
        big = left
        if left + 1 < m and vals[left + 1] > vals[left]:
            big = left + 1
        if vals[big] <= vals[a]:
            break
        vals[big], vals[a] = vals[a], vals[big]
        idx[big], idx[a] = idx[a], idx[big]
        a = big
    return size


@njit(cache=True, nogil=True)
def _remove_active(A, L, b, rho, S_i, S_u, n_s, k, chol):
    """Drop active constraint ``k`` (rows of ``A``, ``b``, ``rho``, the indices, the factor).
    Returns the new size."""
    if chol:
        _chol_delete(L, n_s, k)
    for a in range(k, n_s - 1):
        S_i[a], S_u[a] = S_i[a + 1], S_u[a + 1]
        A[a, :] = A[a + 1, :]
        b[a] = b[a + 1]
        rho[a] = rho[a + 1]
    return n_s - 1


@njit(cache=True, nogil=True)
def _active_solve(A, L, b, z, ones, idx, n_s, chol, sol):
    """Least-squares multipliers of the active set into ``sol[:n_s]``: from the factor, or
    from scratch (``chol`` False)."""
    if chol:
        _chol_solve(L, b, n_s, sol)
    else:
        x = _solve_active(A[:n_s], ones, z, idx, n_s)
        for a in range(n_s):
            sol[a] = x[a]


@njit(cache=True, nogil=True)
def _settle_chol(A, L, b, z, ones, idx, rho, sol, S_i, S_u, in_s, n_s, scale, D, chol):
    """:func:`_settle` on the updated factor (``chol``; else from scratch)."""
    for _inner in range(3 * D + 10):
        _active_solve(A, L, b, z, ones, idx, n_s, chol, sol)
        if _back_off(rho, sol, n_s):
            break
        a = n_s - 1
        while a >= 0:
            if not rho[a] > 1e-15 * scale:
                in_s[S_i[a], S_u[a]] = False
                n_s = _remove_active(A, L, b, rho, S_i, S_u, n_s, a, chol)
            a -= 1
        if n_s == 0:
            break
    return n_s


@njit(cache=True, nogil=True)
def project_tree_cone_screened(X, xnorm, mask, sig, parent, child_lo, child_hi, leaf_lo,
                               leaf_hi, n_leaves, cls_off, cls_set, z, warm_i, warm_u, n_warm,
                               ref, near, tau, n_near, L, n_fac, rtol=1e-12):
    """:func:`project_tree_cone` with the feasibility tests screened by the column's lists of
    near constraints (``ref``, ``near``, ``tau``, ``n_near``: read and updated; classes
    ``cls_off``, ``cls_set`` from :func:`screening_classes`). The same
    Lawson-Hanson steps and the same stopping test (no constraint violated beyond ``rtol``
    relative to ``||z||`` and the row norm); only the tests that the list decides skip the
    pass over all constraints.

    ``L`` (D + 1, D + 1), zero above the diagonal: the buffer of the active rows' Cholesky
    factor. When ``n_fac == n_warm > 0``, its first ``n_fac`` rows are the factor of the
    warm-start rows (kept from the column's last projection), which are then not factored
    again. Returns ``(u, S_i, S_u, n_s, n_valid)``: ``n_valid`` rows of ``L`` are the factor of
    the active set ``S[:n_s]`` (``n_s``, or 0 when the factor was given up for dependent rows;
    ``n_fac`` when ``z`` is in its cone and nothing was touched)."""
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
        return u, S_i, S_u, 0, n_fac
    in_s = np.zeros((n, N), dtype=np.bool_)
    tol_abs = rtol * scale
    # z inside its cone: decided by the list when z is close to the reference point (else
    # the warm-started solve below finds out)
    worst, bi, bu = _screened_violation(X, xnorm, mask, sig, parent, child_lo, child_hi,
                                        leaf_lo, leaf_hi, n_leaves, cls_off, cls_set, z, in_s,
                                        tol_abs, ref, near, tau, n_near, n_warm > 0)
    if bi < 0 and worst <= 0.0:
        return u, S_i, S_u, 0, n_fac
    A = np.zeros((D + 1, D))
    b = np.zeros(D + 1)
    sol = np.zeros(D + 1)
    ones = np.ones(D + 1)
    idx = np.arange(D + 1)
    rho = np.zeros(D + 1)
    chol = True
    n_s = 0
    # warm start: the rows of the guessed active set (those independent of the others), then
    # the constraint of the most negative multiplier dropped until all are positive
    for a in range(min(n_warm, D)):
        i, v = warm_i[a], warm_u[a]
        if 0 <= i < n and 0 <= v < N and not in_s[i, v] and xnorm[i] > 0.0:
            _row(X, mask, sig, parent, leaf_lo, leaf_hi, n_leaves, i, v, A[n_s])
            S_i[n_s], S_u[n_s] = i, v
            in_s[i, v] = True
            n_s += 1
    keep = _factor_warm_rows(A, L, b, z, n_s, n_s > 0 and n_s == n_warm and n_fac == n_warm)
    m = 0
    for a in range(n_s):
        if keep[a]:
            S_i[m], S_u[m] = S_i[a], S_u[a]
            m += 1
        else:
            in_s[S_i[a], S_u[a]] = False
    n_s = m
    while n_s > 0:
        amin = _warm_prune_step(L, b, rho, sol, n_s)
        if amin < 0:
            break
        in_s[S_i[amin], S_u[amin]] = False
        n_s = _remove_active(A, L, b, rho, S_i, S_u, n_s, amin, True)
    if n_s > 0:
        _primal(A, ones, z, idx, rho, n_s, u)
    max_steps = 3 * D + 10
    for _ in range(max_steps):
        worst, bi, bu = _screened_violation(X, xnorm, mask, sig, parent, child_lo, child_hi,
                                            leaf_lo, leaf_hi, n_leaves, cls_off, cls_set, u,
                                            in_s, tol_abs, ref, near, tau, n_near, False)
        if bi < 0 or n_s >= D:
            break
        _row(X, mask, sig, parent, leaf_lo, leaf_hi, n_leaves, bi, bu, A[n_s])
        if chol and not _chol_append(A, L, b, z, n_s):
            chol = False  # a dependent row: least squares from scratch from here on
        S_i[n_s], S_u[n_s] = bi, bu
        in_s[bi, bu] = True
        rho[n_s] = 0.0
        n_s += 1
        n_s = _settle_chol(A, L, b, z, ones, idx, rho, sol, S_i, S_u, in_s, n_s, scale, D,
                           chol)
        for a in range(D):
            u[a] = z[a]
        if n_s > 0:
            _primal(A, ones, z, idx, rho, n_s, u)
    return u, S_i, S_u, n_s, n_s if chol else 0


@njit(cache=True, nogil=True)
def project_cell_columns_screened(X, xnorm, masks, sigs, parent, child_lo, child_hi, leaf_lo,
                                  leaf_hi, n_leaves, cls_off, cls_set, col_cell, col_id, Z,
                                  active_i, active_u, n_active, ref, near, tau, n_near,
                                  fac_slot, factors, fac_rows, fac_age, selected, out, q_lo,
                                  q_hi):
    """Project the columns ``Z[:, q, k]`` (``q_lo <= q < q_hi``, ``selected[q, k]``) onto the
    cone of cell ``col_cell[q]`` (``masks[:, c, :]``, ``sigs[c]``) into ``out``, by
    :func:`project_tree_cone_screened`. Per column ``(col_id[q], k)``: the warm-start active
    set (``active_*``, ``n_active``) and the screening state (``ref`` (.., D), ``near`` (..,
    classes, m), ``tau`` (.., classes), ``n_near`` (.., classes)), read and updated; and, where
    ``fac_slot[g, k] >= 0``, the Cholesky factor of its active set, kept in
    ``factors[slot]`` (``fac_rows[slot]`` valid rows, reused ``fac_age[slot]`` times; see
    :func:`~skconvex.problems._cone_kernels.kept_factor`). Ranges of ``q`` touch disjoint
    data, so threads may split them."""
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
            slot = fac_slot[g, k]
            L, n_fac = kept_factor(factors, fac_rows, fac_age, slot, D)
            u, S_i, S_u, ns, n_valid = project_tree_cone_screened(
                X, xnorm, mask, sig, parent, child_lo, child_hi, leaf_lo, leaf_hi, n_leaves,
                cls_off, cls_set, z, active_i[g, k], active_u[g, k], n_active[g, k], ref[g, k],
                near[g, k], tau[g, k], n_near[g, k], L, n_fac, 1e-12)
            if ns > 0:
                for a in range(ns):
                    active_i[g, k, a] = S_i[a]
                    active_u[g, k, a] = S_u[a]
                n_active[g, k] = ns
            record_factor(fac_rows, fac_age, slot, n_fac, n_valid)
            for a in range(D):
                out[a, q, k] = u[a]

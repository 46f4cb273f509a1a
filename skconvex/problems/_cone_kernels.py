"""numba kernels: Euclidean projection onto the polyhedral cones of the ReLU program.

The ReLU program constrains the weights ``u`` of pattern ``p`` to the cone
``K_p = {u : s_i x_i . u >= 0 for every sample i}`` with ``s_i = +1`` where the pattern is on and
``-1`` where it is off (the pre-activations have the pattern's signs). The projection
``argmin_{u in K_p} ||u - z||`` is ``z + sum_{i in S} rho_i s_i x_i`` with ``rho >= 0`` supported on
the active constraints ``S``: a nonnegative least-squares problem in ``rho`` (Lawson-Hanson on
the dual), whose active set has at most ``d`` elements. Each outer step adds the most violated
constraint; the least-squares solves on the active set use a Cholesky factor of its Gram
matrix that is updated as constraints join and leave (two triangular solves per step).

Because ``K_p`` is a cone and the group norm is radial, the prox of ``t alpha ||u|| + i_{K_p}(u)``
is the projection followed by the group soft-thresholding (see ``TwoLayerReLUProblem.prox``).
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _solve_active(X, signs, z, S, n_s):
    """Least-squares multipliers on the active set: ``min ||z + A_S^T rho||`` (A_S rows
    ``s_i x_i``, i in S[:n_s]). Normal equations ``(A_S A_S^T) rho = -A_S z`` by Cholesky
    (``n_s <= d`` small); lstsq when the active rows are (numerically) dependent."""
    d = X.shape[1]
    A = np.empty((n_s, d))
    for a in range(n_s):
        i = S[a]
        for j in range(d):
            A[a, j] = signs[i] * X[i, j]
    G = A @ A.T
    b = -(A @ z)
    L = np.zeros((n_s, n_s))
    ok = True
    for a in range(n_s):
        acc = G[a, a]
        for k in range(a):
            acc -= L[a, k] * L[a, k]
        if acc <= 1e-12 * max(G[a, a], 1e-300):
            ok = False
            break
        L[a, a] = np.sqrt(acc)
        for r in range(a + 1, n_s):
            acc2 = G[r, a]
            for k in range(a):
                acc2 -= L[r, k] * L[a, k]
            L[r, a] = acc2 / L[a, a]
    if not ok:
        return np.linalg.lstsq(A.T.copy(), -z)[0]
    y = np.empty(n_s)
    for a in range(n_s):
        acc = b[a]
        for k in range(a):
            acc -= L[a, k] * y[k]
        y[a] = acc / L[a, a]
    x = np.empty(n_s)
    for a in range(n_s - 1, -1, -1):
        acc = y[a]
        for k in range(a + 1, n_s):
            acc -= L[k, a] * x[k]
        x[a] = acc / L[a, a]
    return x


# -- the active set with an updated Cholesky factor ------------------------------------------
#
# The projections keep the Cholesky factor ``L`` of the active rows' Gram matrix
# ``A_S A_S^T`` and the right-hand side ``b = -A_S z`` up to date as rows join (a forward
# solve, O(|S| D)) and leave (Givens rotations, O(|S|^2)), so a least-squares solve costs two
# triangular solves instead of forming and factoring the Gram matrix (O(|S|^2 D + |S|^3)).
# A row that is dependent on the active ones to rounding (a pivot below ``_PIVOT_TOL`` of its
# squared norm) cannot be appended; the projection then goes on with the solves from scratch
# (:func:`_solve_active`, least squares for dependent rows).

_PIVOT_TOL = 1e-12
# a kept factor of a column's active set (see project_columns) is refactored from scratch
# after this many reuses
FACTOR_REFRESH = 32


@njit(cache=True, nogil=True)
def _chol_append(A, L, b, z, n_s):
    """Append row ``A[n_s]`` to the factor ``L`` of ``A[:n_s] A[:n_s]^T`` and ``b[n_s] = -A[n_s]
    . z``. Returns False (nothing changed) when the row is dependent on the active rows."""
    row = A[n_s]
    nn = float(row @ row)
    bz = -float(row @ z)
    acc_l = 0.0
    if n_s > 0:
        G = A[:n_s] @ row
        for r in range(n_s):
            g = G[r]
            for k in range(r):
                g -= L[r, k] * L[n_s, k]
            L[n_s, r] = g / L[r, r]
            acc_l += L[n_s, r] * L[n_s, r]
    piv = nn - acc_l
    if not piv > _PIVOT_TOL * nn:
        for r in range(n_s):
            L[n_s, r] = 0.0
        return False
    L[n_s, n_s] = np.sqrt(piv)
    b[n_s] = bz
    return True


@njit(cache=True, nogil=True)
def _chol_rows(A, L, b, z, n):
    """Factor the Gram matrix of the rows ``A[:n]`` at once (one matrix product), leaving out
    every row that is dependent on the rows kept before it; the kept rows are moved to the
    front of ``A`` in order. Returns ``keep`` (n,) bool: the rows kept (``keep.sum()`` of
    them)."""
    keep = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return keep
    G = A[:n] @ A[:n].T
    bz = A[:n] @ z
    kept = np.empty(n, dtype=np.int64)
    m = 0
    for a in range(n):
        acc_l = 0.0
        for r in range(m):
            g = G[kept[r], a]
            for k in range(r):
                g -= L[r, k] * L[m, k]
            L[m, r] = g / L[r, r]
            acc_l += L[m, r] * L[m, r]
        piv = G[a, a] - acc_l
        if piv > _PIVOT_TOL * G[a, a]:
            L[m, m] = np.sqrt(piv)
            b[m] = -bz[a]
            kept[m] = a
            keep[a] = True
            m += 1
        else:
            for r in range(m):
                L[m, r] = 0.0
    for r in range(m):
        if kept[r] != r:
            A[r, :] = A[kept[r], :]
    return keep


@njit(cache=True, nogil=True)
def _factor_warm_rows(A, L, b, z, n, kept):
    """The factor of a warm start's rows ``A[:n]`` and ``b = -A z``: with ``kept``, ``L``
    already holds their factor (kept from the column's last projection, same rows in the same
    order) and only ``b`` is computed; else :func:`_chol_rows`. Returns ``keep`` as it does."""
    if kept:
        bz = A[:n] @ z
        for a in range(n):
            b[a] = -bz[a]
        return np.ones(n, dtype=np.bool_)
    return _chol_rows(A, L, b, z, n)


@njit(cache=True, nogil=True)
def _accept_or_worst(sol, rho, n_s):
    """Pruning a warm-started active set with least-squares multipliers ``sol``: if all are
    positive they go to ``rho`` and -1 is returned, else the position of the most negative
    one, to be dropped."""
    amin = 0
    for a in range(1, n_s):
        if sol[a] < sol[amin]:
            amin = a
    if sol[amin] > 0.0:
        for a in range(n_s):
            rho[a] = sol[a]
        return -1
    return amin


@njit(cache=True, nogil=True)
def _warm_prune_step(L, b, rho, sol, n_s):
    """:func:`_accept_or_worst` with the multipliers from the factor ``L`` (right-hand side
    ``b``)."""
    _chol_solve(L, b, n_s, sol)
    return _accept_or_worst(sol, rho, n_s)


@njit(cache=True, nogil=True)
def _chol_delete(L, n_s, k):
    """Remove row and column ``k`` from the factor ``L`` (``n_s`` rows): shift the rows up and
    restore the triangle with Givens rotations of column pairs (``M M^T`` is unchanged by
    rotations of ``M``'s columns)."""
    for r in range(k, n_s - 1):
        for c in range(n_s):
            L[r, c] = L[r + 1, c]
    m = n_s - 1
    for j in range(k, m):
        a, bb = L[j, j], L[j, j + 1]
        h = np.hypot(a, bb)
        if h == 0.0:
            continue
        c, s = a / h, bb / h
        for r in range(j, m):
            x, y = L[r, j], L[r, j + 1]
            L[r, j] = c * x + s * y
            L[r, j + 1] = -s * x + c * y
        L[j, j + 1] = 0.0
    for c in range(n_s):
        L[m, c] = 0.0
    for r in range(m):
        L[r, m] = 0.0


@njit(cache=True, nogil=True)
def _chol_solve(L, b, n_s, out):
    """``out[:n_s] = (L L^T)^{-1} b[:n_s]``."""
    for a in range(n_s):
        acc = b[a]
        for k in range(a):
            acc -= L[a, k] * out[k]
        out[a] = acc / L[a, a]
    for a in range(n_s - 1, -1, -1):
        acc = out[a]
        for k in range(a + 1, n_s):
            acc -= L[k, a] * out[k]
        out[a] = acc / L[a, a]


@njit(cache=True, nogil=True)
def _back_off(rho, sol, n_s):
    """Lawson-Hanson inner step on the first ``n_s`` multipliers: if the least-squares
    multipliers ``sol`` are all positive, take them (returns True); else move ``rho`` toward
    ``sol`` until the first multiplier hits zero (returns False; the caller drops the zeros)."""
    neg = False
    for a in range(n_s):
        if sol[a] <= 0.0:
            neg = True
            break
    if not neg:
        for a in range(n_s):
            rho[a] = sol[a]
        return True
    tmin = 1.0
    for a in range(n_s):
        if sol[a] <= 0.0:
            den = rho[a] - sol[a]
            t = rho[a] / den if den > 0 else 0.0
            if t < tmin:
                tmin = t
    for a in range(n_s):
        rho[a] = rho[a] + tmin * (sol[a] - rho[a])
    return False


@njit(cache=True, nogil=True)
def _primal(X, signs, z, S, rho, n_s, u):
    """``u = z + sum_a rho_a s_i x_i`` over the active constraints ``i = S[a]`` (in place)."""
    d = X.shape[1]
    for j in range(d):
        u[j] = z[j]
    for a in range(n_s):
        i = S[a]
        for j in range(d):
            u[j] += rho[a] * signs[i] * X[i, j]


@njit(cache=True, nogil=True)
def row_norms(X):
    n, d = X.shape
    out = np.empty(n)
    for i in range(n):
        acc = 0.0
        for j in range(d):
            acc += X[i, j] * X[i, j]
        out[i] = np.sqrt(acc)
    return out


@njit(cache=True, nogil=True)
def _cone_remove(A, L, b, rho, S, n_s, k, chol):
    """Drop active constraint ``k`` (its row of ``A``, ``b``, ``rho``, ``S`` and of the factor
    when ``chol``). Returns the new size."""
    if chol:
        _chol_delete(L, n_s, k)
    for a in range(k, n_s - 1):
        S[a] = S[a + 1]
        A[a, :] = A[a + 1, :]
        b[a] = b[a + 1]
        rho[a] = rho[a + 1]
    return n_s - 1


@njit(cache=True, nogil=True)
def project_cone(X, signs, z, warm, n_warm, rtol=1e-12, max_steps=0, xnorm=None, L=None,
                 n_fac=0):
    """Projection of ``z`` (d,) onto ``{u : signs_i x_i . u >= 0}``.

    Returns ``(u, S, n_active, n_valid)`` (``S[:n_active]`` the active constraints; ``n_valid``:
    see below). Lawson-Hanson NNLS
    on the multipliers: repeatedly add the most violated constraint, re-solve least squares on
    the active set, and step back to feasibility (removing constraints whose multipliers turn
    negative). ``warm[:n_warm]``: a guess of the active set (the last projection's of the same
    column; successive proximal-gradient points are close), kept while its least-squares
    multipliers are positive.

    ``L`` (d + 1, d + 1), zero above the diagonal, or None: the buffer of the active rows'
    Cholesky factor, kept by the caller; when ``n_fac == n_warm > 0`` its first rows are the
    factor of the warm-start rows, which are then not factored again. On return its first
    ``n_valid`` rows are the factor of ``S[:n_active]``: ``n_active``, or 0 when the projection
    fell back to solves from scratch for dependent rows; ``n_fac`` when ``z`` is in its cone
    and nothing was touched.
    """
    n, d = X.shape
    if max_steps <= 0:
        max_steps = 3 * d + 10
    scale = 0.0
    for j in range(d):
        scale += z[j] * z[j]
    scale = np.sqrt(scale)
    u = z.copy()
    S = np.empty(d + 1, dtype=np.int64)
    if scale == 0.0:
        return u, S, 0, n_fac
    in_s = np.zeros(n, dtype=np.bool_)
    rho = np.zeros(d + 1)
    n_s = 0
    if xnorm is None:
        xnorm = row_norms(X)
    # z already in the cone (an interior column of a proximal-gradient step): done
    inside = True
    h = X @ z  # the constraints' values (BLAS), as below
    for i in range(n):
        if signs[i] * h[i] < -rtol * scale * xnorm[i]:
            inside = False
            break
    if inside:
        return u, S, 0, n_fac
    # the active rows and the factor of their Gram matrix (see _chol_append)
    A = np.zeros((d + 1, d))
    if L is None:
        L = np.zeros((d + 1, d + 1))
    b = np.zeros(d + 1)
    sol = np.zeros(d + 1)
    chol = True
    # warm start: the guessed active set (rows independent of the others), pruned until its
    # multipliers are positive
    for a in range(min(n_warm, d)):
        i = warm[a]
        if 0 <= i < n and not in_s[i]:
            for j in range(d):
                A[n_s, j] = signs[i] * X[i, j]
            S[n_s] = i
            in_s[i] = True
            n_s += 1
    keep = _factor_warm_rows(A, L, b, z, n_s, n_s > 0 and n_s == n_warm and n_fac == n_warm)
    m = 0
    for a in range(n_s):
        if keep[a]:
            S[m] = S[a]
            m += 1
        else:
            in_s[S[a]] = False
    n_s = m
    while n_s > 0:
        amin = _warm_prune_step(L, b, rho, sol, n_s)
        if amin < 0:
            break
        in_s[S[amin]] = False
        n_s = _cone_remove(A, L, b, rho, S, n_s, amin, True)
    _primal(X, signs, z, S, rho, n_s, u)
    for _ in range(max_steps):
        # most violated constraint (relative to the row's norm)
        worst, arg = 0.0, -1
        h = X @ u
        for i in range(n):
            if in_s[i]:
                continue
            v = signs[i] * h[i]
            if v < -rtol * scale * xnorm[i] and v / max(xnorm[i], 1e-300) < worst:
                worst = v / max(xnorm[i], 1e-300)
                arg = i
        if arg < 0 or n_s >= d:
            break
        for j in range(d):
            A[n_s, j] = signs[arg] * X[arg, j]
        if chol and not _chol_append(A, L, b, z, n_s):
            chol = False  # a dependent row: least squares from scratch from here on
        S[n_s] = arg
        in_s[arg] = True
        rho[n_s] = 0.0
        n_s += 1
        # inner loop: least squares on S, back off to keep rho >= 0
        for _inner in range(3 * d + 10):
            if chol:
                _chol_solve(L, b, n_s, sol)
            else:
                x = _solve_active(X, signs, z, S, n_s)
                for a in range(n_s):
                    sol[a] = x[a]
            # all positive: done; else step from rho toward sol until the first multiplier
            # hits zero, and drop the zero multipliers
            if _back_off(rho, sol, n_s):
                break
            a = n_s - 1
            while a >= 0:
                if not rho[a] > 1e-15 * scale:
                    in_s[S[a]] = False
                    n_s = _cone_remove(A, L, b, rho, S, n_s, a, chol)
                a -= 1
            if n_s == 0:
                break
        _primal(X, signs, z, S, rho, n_s, u)
    return u, S, n_s, n_s if chol else 0


@njit(cache=True, nogil=True)
def kept_factor(factors, fac_rows, fac_age, slot, D):
    """A column's factor buffer and its valid rows: the pool's ``factors[slot]`` (its rows
    valid until ``FACTOR_REFRESH`` reuses, then refactored), or a fresh buffer for a column
    without a slot (``slot < 0``). Returns ``(L, n_fac)``."""
    if slot >= 0:
        return factors[slot], fac_rows[slot] if fac_age[slot] < FACTOR_REFRESH else 0
    return np.zeros((D + 1, D + 1)), 0


@njit(cache=True, nogil=True)
def record_factor(fac_rows, fac_age, slot, n_fac, n_valid):
    """After a projection: ``n_valid`` rows of the slot's buffer are the factor of the
    column's kept active set (0: none); its age counts the reuses since it was factored."""
    if slot >= 0:
        fac_age[slot] = fac_age[slot] + 1 if n_fac > 0 and n_valid > 0 else 0
        fac_rows[slot] = n_valid


@njit(cache=True, nogil=True)
def project_columns(X, xnorm, M, col_pattern, col_id, Z, active, n_active, fac_slot, factors,
                    fac_rows, fac_age, selected, out, q_lo, q_hi):
    """Project the columns ``Z[:, q, k]``, ``q_lo <= q < q_hi``, with ``selected[q, k]`` onto the
    cone of pattern ``col_pattern[q]`` (mask column of ``M``, bool (n, P)) into ``out`` (the
    other columns are left alone). The active sets are read from and written to
    ``active[col_id[q], k, :]`` / ``n_active[col_id[q], k]`` (warm starts across calls), and,
    where ``fac_slot[g, k] >= 0``, the Cholesky factor of the active set in ``factors[slot]``
    (``fac_rows[slot]`` valid rows, reused ``fac_age[slot]`` times: refactored from scratch
    every ``FACTOR_REFRESH`` reuses, so rounding cannot build up).
    Ranges of q touch disjoint parts of ``out`` and of the cache: threads may split them."""
    n, d = X.shape
    K = Z.shape[2]
    signs = np.empty(n)
    for q in range(q_lo, q_hi):
        p = col_pattern[q]
        g = col_id[q]
        filled = False
        for k in range(K):
            if not selected[q, k]:
                continue
            if not filled:
                for i in range(n):
                    signs[i] = 1.0 if M[i, p] else -1.0
                filled = True
            slot = fac_slot[g, k]
            L, n_fac = kept_factor(factors, fac_rows, fac_age, slot, d)
            u, S, ns, n_valid = project_cone(X, signs, np.ascontiguousarray(Z[:, q, k]),
                                             active[g, k], n_active[g, k], 1e-12, 0, xnorm, L,
                                             n_fac)
            if ns > 0:  # keep the last active set of a column that is inside its cone now
                for a in range(ns):
                    active[g, k, a] = S[a]
                n_active[g, k] = ns
            record_factor(fac_rows, fac_age, slot, n_fac, n_valid)
            for j in range(d):
                out[j, q, k] = u[j]

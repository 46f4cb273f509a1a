"""Small conic programs that finish what first-order methods leave: the primal program on its
support with a working set of cone rows, and the best multipliers of coupled cone constraints for
a fixed primal point.

**The program on working sets of rows** (:func:`solve_on_cone_rows`). Restricted to the support
of an almost optimal point (a few dozen columns), a cone program is small in variables but not in
constraints: every column has one cone row per sample, and nearly all of them are slack. The
interior-point method (Clarabel through cvxpy) solves the relaxation with the rows nearest to
being active; rows the solution violates join and it is solved again, until none is violated
(then the relaxation's optimum is the program's).

**Multipliers** (:func:`min_max_projected_norm`).

The dual constraints of the ReLU cone programs are projected norms: column ``q`` is dual feasible
when ``||P_{C_q}(g_q)|| <= alpha``, where ``C_q = {z : R_q z >= 0}`` is the column's cone and
``g_q`` its part of the dual point. When constraints couple the columns (the second-layer cones of
the three-layer program), ``g_q = g0_q + M_q w`` depends on their multipliers ``w >= 0``, shared by
the columns of a block, and the multipliers that make the certificate tight are the ones that
minimize the largest projected norm. By Moreau's decomposition ``||P_C(g)|| = min_{l >= 0}
||g + R^T l||`` (the polar cone of ``C`` is ``{-R^T l : l >= 0}``), so that minimization is the
second-order cone program

    min t   s.t.  ||g0_q + M_q w + R_q^T l_q|| <= t  (every column q),  w >= 0,  l_q >= 0,

solved here by an interior-point method (Clarabel through cvxpy). Its value is at most the
largest projected norm at any multipliers, and at the optimum of the primal program it is
``alpha`` for every block with a nonzero column (strong duality).
"""

import warnings

import numpy as np
import scipy.sparse as sp


def min_max_projected_norm(g0, M, R, *, tol=1e-10, max_iter=200):
    """The multipliers ``w >= 0`` that minimize ``max_q ||P_{C_q}(g0_q + M_q w)||``.

    Parameters
    ----------
    g0 : ndarray of shape (d, m)
        The columns' dual vectors without the coupled multipliers.
    M : list of m sparse or dense matrices of shape (d, r)
        How the shared multipliers ``w`` (r of them) enter each column.
    R : list of m ndarrays of shape (n_q, d)
        Each column's cone rows (``C_q = {z : R_q z >= 0}``).
    tol : float
        The interior-point method's tolerances (gap and feasibility).
    max_iter : int
        Its iteration limit.

    Returns
    -------
    w : ndarray of shape (r,)
        The multipliers (clipped at 0).
    value : float
        The smallest largest projected norm the solver found (an upper bound on the largest
        exact projected norm at ``w``; recompute the norms to certify).

    Raises
    ------
    RuntimeError
        When the solver returns no solution.
    """
    import cvxpy as cp

    d, m = g0.shape
    r = M[0].shape[1]
    sizes = [Rq.shape[0] for Rq in R]
    w = cp.Variable(r, nonneg=True)
    lam = cp.Variable(int(np.sum(sizes)), nonneg=True)
    t = cp.Variable()
    # the columns stacked: vec(V) = vec(g0) + [M_1; ...; M_m] w + blockdiag(R_q^T) l
    Mstack = sp.vstack([sp.csr_matrix(Mq) for Mq in M], format="csr")
    Rdiag = sp.block_diag([sp.csr_matrix(Rq.T) for Rq in R], format="csr")
    V = cp.reshape(g0.T.ravel() + Mstack @ w + Rdiag @ lam, (m, d), order="C")
    prob = cp.Problem(cp.Minimize(t), [cp.norm(V, 2, axis=1) <= t])
    with warnings.catch_warnings():
        # an inaccurate solution is still a choice of multipliers: the caller recomputes the
        # exact projected norms at them
        warnings.filterwarnings("ignore", message="Solution may be inaccurate",
                                category=UserWarning)
        prob.solve(solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol,
                   max_iter=max_iter)
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or w.value is None:
        raise RuntimeError(f"the multiplier program returned no solution: {prob.status}")
    return np.maximum(np.asarray(w.value, dtype=np.float64), 0.0), float(t.value)


def solve_on_cone_rows(problem, U, c, *, tol=1e-9, n_near=None, max_rounds=8):
    """Solve ``problem`` by Clarabel on working sets of its cone rows, from the point ``U, c``.

    ``problem`` provides ``cone_slacks(U) -> (first (n, Q, K), second (n, B, K))`` (normalized
    slacks of its cone rows, negative when violated), ``to_cvxpy_rows(rows1, rows2)`` (the
    program with those rows only), ``from_cvxpy`` and ``project`` (onto the first-layer cones).
    The first working set holds, for every column, the ``n_near`` rows (default ``4 d``) of
    least slack relative to the column's norm, and for every block the rows whose slack is
    below a tenth of its largest ``|h|`` (at least ``n_near`` of them); each round adds the
    rows the solution violates by more than ``1e-9`` (relative).

    Returns
    -------
    U, c : ndarrays
        The solution (first-layer cones restored exactly by projection).
    n_rounds : int
        Solves made.

    Raises
    ------
    RuntimeError
        When a solve fails or the rows do not settle in ``max_rounds``.
    """
    import cvxpy as cp

    n_near = min(problem.n, 4 * problem.d if n_near is None else int(n_near))
    first, second = problem.cone_slacks(U)
    unorm = np.maximum(problem.group_norms(U), 1e-300)
    rel1 = first / unorm[None]
    rows1 = np.zeros(first.shape, dtype=bool)
    near = np.argpartition(rel1, n_near - 1, axis=0)[:n_near]
    np.put_along_axis(rows1, near, True, axis=0)
    hmax = np.max(np.abs(second), axis=0, keepdims=True)
    rows2 = second <= 0.1 * hmax
    near = np.argpartition(second, n_near - 1, axis=0)[:n_near]
    np.put_along_axis(rows2, near, True, axis=0)
    scale = max(1.0, float(np.max(np.abs(problem.Y))))
    for n_rounds in range(1, max_rounds + 1):
        prob, var = problem.to_cvxpy_rows(rows1, rows2)
        with warnings.catch_warnings():
            # judged below by its constraint violations and, by the caller, its certificate
            warnings.filterwarnings("ignore", message="Solution may be inaccurate",
                                    category=UserWarning)
            prob.solve(solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol)
        if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise RuntimeError(f"cvxpy (CLARABEL) returned no solution: {prob.status}")
        U, c = problem.from_cvxpy(var)
        first, second = problem.cone_slacks(U)
        unorm = problem.group_norms(U)
        bad1 = ~rows1 & (first < -1e-9 * np.maximum(unorm, 1e-300)[None])
        bad2 = ~rows2 & (second < -1e-9 * scale)
        if not (bad1.any() or bad2.any()):
            return problem.project(U), c, n_rounds
        rows1 |= bad1
        rows2 |= bad2
    raise RuntimeError(f"the cone rows did not settle in {max_rounds} rounds")

"""Proximal gradient in rounds with a second-order polish between them, and the acceptance rule
of a polished point.

First-order steps are slow on the network programs once the support is (nearly) found, while on
the support the program is smooth and small and Newton-type methods reach rounding level in a
few steps. :func:`solve_in_rounds` alternates the two: FISTA to a loose relative gap, then a
polish, checked by the certificate of the whole program; from the better point, FISTA again with
a gap target ten times tighter, until the certificate meets ``tol``.
"""

import numpy as np

from skconvex.solvers.fista import solve_fista, unpack


def accept_polish(problem, result, w, user_tol):
    """Keep the polished point ``w`` (packed ``(U, c)``, or None for no candidate) in ``result``
    when the certificate of the whole program says the objective did not go up; ``converged``
    then tells whether the duality gap meets ``user_tol``."""
    if w is not None:
        U, c = unpack(w, problem.shape)
        objective, bound, c_opt, _ = problem.certificate(U, c)
        if objective <= result.objective:
            result.w = np.concatenate([U.ravel(), c_opt])
            result.objective, result.dual_bound = objective, bound
            result.gap = max(objective - bound, 0.0)
    result.converged = result.gap <= user_tol * abs(result.objective)
    return result


def solve_in_rounds(problem, polish, *, tol, max_iter, first_round_gap, warm_start=None,
                    polish_converged=True, **kwargs):
    """FISTA (:func:`~skconvex.solvers.fista.solve_fista`, ``kwargs`` passed on) to the
    relative gap ``max(tol, first_round_gap)``, then ``polish(problem, result, tol) -> result``
    (which sets ``converged``), repeated with ten times tighter gaps until converged or
    ``max_iter`` proximal-gradient iterations are spent. ``polish_converged=False`` skips the
    polish of a round whose FISTA solve already meets ``tol``."""
    round_tol = max(tol, first_round_gap)
    used = 0
    w = warm_start
    while True:
        result = solve_fista(problem, tol=round_tol, max_iter=max(1, max_iter - used),
                             warm_start=w, **kwargs)
        used += result.n_iter
        if not polish_converged and result.gap <= tol * abs(result.objective):
            result.converged = True
            break
        result = polish(problem, result, tol)
        if result.converged or used >= max_iter:
            break
        w = result.w
        round_tol = max(tol, 0.1 * min(round_tol, result.gap / max(abs(result.objective),
                                                                    1e-300)))
    result.n_iter = used
    return result

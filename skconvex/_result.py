"""What a solver hands back to an estimator."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class FitResult:
    """Outcome of a convex solver.

    Parameters
    ----------
    w : ndarray
        The solution (layout defined by the problem).
    objective : float
        Primal objective at ``w``.
    dual_bound : float or None
        A lower bound on the optimal value (dual objective at a feasible dual point), or
        None where the math gives none.
    n_iter : int
        Iterations performed (at least 1).
    converged : bool
        Whether the stopping criterion was met before ``max_iter``.
    history : list of dict
        One record per outer iteration (``objective``, ``gap``, ``elapsed``, ...).
    info : dict
        Solver-specific extras (sketch size, number of resketches, passes over the data, ...).
    gap : float or None
        The duality gap when the solver computes it directly (more accurate than
        ``objective - dual_bound`` once the gap is below the rounding of the objective).
    """

    w: np.ndarray
    objective: float
    dual_bound: float | None
    n_iter: int
    converged: bool
    history: list = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    gap: float | None = None

    @property
    def duality_gap(self):
        """``objective - dual_bound``: the certificate of optimality (None if no bound)."""
        if self.gap is not None:
            return float(self.gap)
        if self.dual_bound is None:
            return None
        return float(self.objective - self.dual_bound)

"""``ConvexEstimator``: the one base class of every skconvex estimator."""

import time
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval

from skconvex._linalg import small_kernel
from skconvex._result import FitResult

# A program whose largest product (``problem.kernel_flops()``) costs fewer flops than this is
# solved on one BLAS thread: its kernels are latency bound, and threads only synchronize (on
# a loaded 2-core machine a 159 x 159 Cholesky took 0.17 s on two threads against 0.2 ms on
# one; a 3-class three-layer fit on 120 x 3 took 6.7 s against 0.3 s, a QuantizedPolyNet on
# 15 x 50 3.5 s against 0.9 s).
TINY_PROGRAM_FLOPS = 1e8


def _tiny(problem):
    flops = getattr(problem, "kernel_flops", None)
    return flops is not None and flops() < TINY_PROGRAM_FLOPS


def _not_converged_message(estimator, name, result):
    """The ConvergenceWarning of a fit that missed ``tol``: at ``max_iter``, or earlier, by
    the solver's own stopping rule (an interior point stops at its own accuracy, and the gap
    certified from its solution can be looser than ``tol``; more iterations do not help)."""
    head = f"{type(estimator).__name__}: solver {name!r}"
    gap = result.duality_gap
    max_iter = getattr(estimator, "max_iter", None)
    stopping = (result.info or {}).get("stopping")
    if stopping is not None:  # a solver that stops on another measure than the gap
        measure, value = stopping
        return (f"{head} stopped at max_iter={max_iter} with a {measure} of {value:.1e}, "
                f"above tol={estimator.tol}. Increase max_iter or tol.")
    if max_iter is None or result.n_iter >= max_iter or gap is None:
        # how far it got: the certified relative gap, and the constraint violation of the
        # solvers that reach feasibility only in the limit (the augmented Lagrangian)
        where = ""
        if gap is not None:
            where = f" at a relative duality gap of {gap / max(abs(result.objective), 1e-300):.1e}"
        viol = (result.info or {}).get("max_violation")
        if viol is not None and viol > 0:
            where += (f" with its constraints violated by {viol:.1e} (not feasible yet: its "
                      f"objective may lie below the optimum)")
        return (f"{head} stopped at max_iter={max_iter}{where} before reaching "
                f"tol={estimator.tol}. Increase max_iter or tol.")
    rel = gap / max(abs(result.objective), 1e-300)
    return (f"{head} stopped after {result.n_iter} iterations (max_iter={max_iter}) at a "
            f"relative duality gap of {rel:.1e}, above tol={estimator.tol}: the gap certified "
            f"from its solution is limited by the solver's own accuracy, so more iterations "
            f"do not help. Increase tol or choose another solver.")


class ConvexEstimator(BaseEstimator, metaclass=ABCMeta):
    """Base class: validation, solver dispatch, fitted record, warnings and progress.

    A subclass declares its solvers in ``_solvers`` (name -> callable taking the problem and
    the keywords ``tol``, ``max_iter``, ``verbose``, ``random_state``) and implements
    ``_make_problem`` (validation and preprocessing; returns a ``skconvex.problems`` object) and
    ``_set_fitted`` (turns a :class:`~skconvex._result.FitResult` into fitted attributes). It
    may override ``_auto_solver`` (what ``solver="auto"`` picks for a problem) and
    ``_solver_kwargs`` (extra keywords for a solver, from the estimator's parameters).

    ``fit`` records on every estimator:

    - ``n_iter_`` : int, iterations of the solver (>= 1);
    - ``objective_`` : float, the convex objective at the solution;
    - ``duality_gap_`` : float or None, objective minus a dual lower bound (None where the
      math gives no certificate);
    - ``fit_time_`` : float, seconds spent in ``fit``;
    - ``solver_`` : str, the solver actually used.

    A ``ConvergenceWarning`` is raised when the solver stops at ``max_iter`` before ``tol``; a
    solver that returns non-finite weights raises ``FloatingPointError`` (never silent NaN).
    """

    _solvers: dict = {}

    _parameter_constraints: dict = {
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    @abstractmethod
    def _make_problem(self, X, y, sample_weight=None):
        """Validate the data, preprocess, and return the problem object."""

    @abstractmethod
    def _set_fitted(self, result, problem):
        """Set the fitted attributes from a FitResult."""

    def _auto_solver(self, problem):
        """The solver ``solver="auto"`` uses for ``problem`` (default: the first declared)."""
        return next(iter(self._solvers))

    def _solver_kwargs(self, solver, problem):
        """Extra keyword arguments for ``solver``, derived from the estimator's parameters."""
        return {}

    def _run_solver(self, problem, **extra):
        name = self.solver if getattr(self, "solver", "auto") != "auto" else \
            self._auto_solver(problem)
        solve = self._solvers[name]
        kwargs = {"tol": self.tol, "max_iter": self.max_iter, "verbose": self.verbose,
                  "random_state": self.random_state}
        kwargs.update(self._solver_kwargs(name, problem))
        kwargs.update(extra)
        result = solve(problem, **kwargs)
        if not isinstance(result, FitResult):  # pragma: no cover - a solver contract bug
            raise TypeError(f"solver {name!r} returned {type(result).__name__}, not FitResult")
        if not np.all(np.isfinite(result.w)):
            raise FloatingPointError(
                f"solver {name!r} produced non-finite weights; the problem may be badly scaled "
                "(try standardizing X and the targets, or increasing the regularization)")
        # a solver that handed the program to another (an interior point that failed) says so
        name = result.info.get("solver", name)
        if not result.converged:
            warnings.warn(_not_converged_message(self, name, result), ConvergenceWarning)
        return name, result

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the model by solving its convex program.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Individual weights for each sample; an integer weight is equivalent to repeating
            the sample.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        t0 = time.perf_counter()
        problem = self._make_problem(X, y, sample_weight)
        with small_kernel(0.0 if _tiny(problem) else np.inf):
            name, result = self._run_solver(problem)
            self._set_fitted(result, problem)
        self.n_iter_ = int(max(1, result.n_iter))
        self.objective_ = float(result.objective)
        gap = result.duality_gap
        self.duality_gap_ = None if gap is None else float(gap)
        self.solver_ = name
        self.fit_time_ = time.perf_counter() - t0
        return self

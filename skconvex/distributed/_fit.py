"""Fitting on a row-chunked ``dask.array``: ``SketchedRidge`` and ``NewtonLESSLogistic``.

The data never leave the cluster: every pass over ``X`` is a map over its row blocks followed
by a sum of small results (``d``-vectors, ``d x d`` Grams, ``m x d`` sketches) on the client.

- Ridge: :class:`DaskRidgeProblem` exposes the interface of
  :class:`skconvex.problems.RidgeProblem` (its data operator is a :class:`DaskRowOperator`),
  so the estimator's own solvers (``direct``, ``pcg``, ``ihs``) run unchanged. A sketch of
  the data is the sum of independent sketches of the row blocks, ``S A = sum_b S_b A_b``
  (``[S_1 ... S_B]`` is itself an embedding with ``E[S^T S] = I``); a Hessian product is
  ``sum_b A_b^T (A_b v)``. Inside :func:`dask_config` with ``coding=`` a code, the Hessian
  products go through the coded product instead: the block Grams ``A_b^T A_b`` are encoded
  on the cluster once and each product is decoded from the first sufficient set of workers.
- Logistic: :class:`DaskLogisticProblem` runs the Newton sketch itself: per iteration one
  map-reduce pass for the loss, the exact gradient and the summed sketch of the Hessian's
  square-root factor, and one for the line search (losses at several steps).

Both converge to the unique minimizer of the same strictly convex objective as the in-memory
fit, so they agree with it to the solvers' tolerance.
"""

import contextlib
import math

import numpy as np
import scipy.linalg as sla
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets

from skconvex._linalg import AffineOperator
from skconvex._result import FitResult
from skconvex.problems import LogisticProblem, RidgeProblem
from skconvex.problems.logistic import (drop_null_component, lift_null_space,
                                        shift_intercepts, solve_lifted)
from skconvex.sketching import Sketch
from skconvex.utils._progress import ProgressLogger

_CONFIG = {"coding": None, "delay": None, "client": None, "random_state": None,
           "timeout": None, "persist": True, "runs": []}


@contextlib.contextmanager
def dask_config(*, coding=None, delay=None, client=None, random_state=None, timeout=None,
                persist=True):
    """Options of the fits on dask arrays made inside the ``with`` block.

    Parameters
    ----------
    coding : PolarCodedMatVec, MDSCodedMatVec, UncodedMatVec or None, default=None
        Run the Hessian products of ridge through this coded product (its ``n_blocks_``
        data blocks are the row blocks of ``X``: ``X`` is re-chunked to that many blocks).
        Needs a ``distributed`` client. None: plain map-reduce.
    delay : delay model or None, default=None
        Straggling injected into every coded task (see :class:`DaskCodedMatVec`).
    client : distributed.Client, str or None, default=None
        Client of the coded products (None: the default client).
    random_state : int or None, default=None
        Seed of the injected delays.
    timeout : float or None, default=None
        Seconds after which a coded product that cannot be decoded raises.
    persist : bool, default=True
        Persist ``X`` in the cluster's memory before the passes (else every pass recomputes
        its blocks from their source, e.g. files too large to hold).

    Yields
    ------
    config : dict
        The options, and ``runs``: the timing records of the coded products made in the
        block (see :func:`skconvex.distributed._dask.run_coded`).
    """
    old = dict(_CONFIG)
    _CONFIG.update(coding=coding, delay=delay, client=client, random_state=random_state,
                   timeout=timeout, persist=persist, runs=[])
    try:
        yield dict(_CONFIG)  # a copy sharing the list of runs
    finally:
        _CONFIG.clear()
        _CONFIG.update(old)


def is_dask_array(X):
    """Whether ``X`` is a dask array (checked without importing dask)."""
    return type(X).__module__.startswith("dask.") and hasattr(X, "chunks")


def _dask():
    try:
        import dask
        import dask.array  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a dask array implies dask
        raise ImportError('fitting on dask arrays needs dask: pip install "skconvex[dask]"'
                          ) from exc
    return dask


def _prepare_X(X, n_blocks=None):
    """A 2-d float dask array with one column chunk (and ``n_blocks`` row chunks)."""
    dask = _dask()
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D dask array, got {X.ndim} dimension(s).")
    n, d = X.shape
    if any(math.isnan(s) for s in (n, d)):
        raise ValueError("the dask array has unknown chunk sizes; call "
                         "X.compute_chunk_sizes() first.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    rows = X.chunks[0] if n_blocks is None else math.ceil(n / n_blocks)
    X = X.rechunk({0: rows, 1: -1})
    if _CONFIG["persist"]:
        X = X.persist()
    blocks = list(X.to_delayed().ravel())
    offsets = np.r_[0, np.cumsum(X.chunks[0])].astype(np.int64)
    return X, blocks, offsets, dask


def _check_2d(X):
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D dask array, got {X.ndim} dimension(s).")


def _in_memory(v, name, n):
    """A numpy copy of a row vector (dask collections are computed)."""
    if v is None:
        return None
    if hasattr(v, "compute") and type(v).__module__.startswith("dask."):
        v = v.compute()
    v = np.asarray(v)
    if v.shape[0] != n:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                         f"X has {n} rows, {name} has {v.shape[0]}.")
    return v


def _set_input_features(est, d):
    est.n_features_in_ = int(d)
    if hasattr(est, "feature_names_in_"):
        del est.feature_names_in_


def _check_weights(sample_weight, n):
    if sample_weight is None:
        return None
    sw = np.asarray(_in_memory(sample_weight, "sample_weight", n), dtype=np.float64)
    if sw.ndim != 1 or not np.all(np.isfinite(sw)) or np.any(sw < 0):
        raise ValueError("sample_weight must be a 1-d array of finite non-negative numbers.")
    return sw


# -- block tasks ------------------------------------------------------------------------------
def _b_sums(Xb, w):
    """Finite check and the (weighted) column sums of one block."""
    Xb = np.asarray(Xb)
    if not np.all(np.isfinite(Xb)):
        return None
    if w is None:
        return np.asarray(Xb.sum(axis=0), dtype=np.float64)
    return np.asarray(Xb.T @ w.astype(Xb.dtype), dtype=np.float64)


def _b_matvec(Xb, V, r, u, s0):
    t = np.asarray(Xb @ V.astype(Xb.dtype, copy=False), dtype=np.float64)
    if r is not None:
        t = t * (r[:, None] if t.ndim == 2 else r)
    if u is not None:
        t = t - (np.outer(u, s0) if t.ndim == 2 else u * s0)
    return t


def _b_rmatvec(Xb, U, r, u):
    W = U * (r[:, None] if U.ndim == 2 else r) if r is not None else U
    out = np.asarray(Xb.T @ W.astype(Xb.dtype, copy=False), dtype=np.float64)
    su = None if u is None else u @ U
    return out, su


def _b_gram_matvec(Xb, V, r, u, s0):
    t = _b_matvec(Xb, V, r, u, s0)
    return _b_rmatvec(Xb, t, r, u)


def _b_centred_gram(Xb, r, u, offset):
    """``A_b^T A_b`` of the centred, weighted block (the Gram matrix and the coded Hessian
    product)."""
    Ab = np.asarray(Xb, dtype=np.float64)
    if r is not None:
        Ab = Ab * r[:, None]
    if u is not None:
        Ab = Ab - np.outer(u, offset)
    return Ab.T @ Ab


def _b_sketch(Xb, r, u, kind, m, nnz_per_row, seed):
    nb = Xb.shape[0]
    if kind == "srht" and m > (1 << max(0, int(np.ceil(np.log2(nb))))):
        kind = "sjlt"  # a block too short for an SRHT of m rows: any unbiased embedding will do
        nnz_per_row = None
    S = Sketch(nb, m, kind, nnz_per_row=nnz_per_row if kind == "sjlt" else None,
               random_state=seed)
    SB = np.asarray(S.apply(np.asarray(Xb), row_weights=r), dtype=np.float64)
    Su = None if u is None else np.asarray(S.apply(np.asarray(u, dtype=np.float64)))
    return SB, Su


class DaskRowOperator:
    """``M = diag(r) X - u o^T`` for a row-chunked dask array ``X``: the interface of
    :class:`skconvex._linalg.AffineOperator` that the ridge solvers use, every product a
    map over the row blocks and a sum."""

    issparse = False

    def __init__(self, X, blocks, offsets, *, row_scale=None, u=None, offset=None):
        self.X, self.blocks, self.offsets = X, blocks, offsets
        self.row_scale, self.u, self.offset = row_scale, u, offset
        self.col_scale = None
        self.shape = X.shape
        self.dtype = X.dtype
        self.B = X
        self.coded = None  # (client, code, coded futures, delay model, rng, timeout)
        self.coded_runs = _CONFIG["runs"]

    def _map(self, fn, rows=()):
        """``fn(X_b, *rows_b)`` for every block (row vectors sliced, :class:`_Const`
        values whole), computed together; returns the list of results."""
        import dask

        tasks = []
        for b, blk in enumerate(self.blocks):
            s, e = self.offsets[b], self.offsets[b + 1]
            tasks.append(dask.delayed(fn, pure=True)(blk, *[_sl(v, s, e) for v in rows]))
        return list(dask.compute(*tasks))

    def matvec(self, V):
        V = np.asarray(V, dtype=np.float64)
        s0 = None if self.u is None else self.offset @ V
        parts = self._map(_b_matvec, rows=(_Const(V), self.row_scale, self.u, _Const(s0)))
        return np.concatenate(parts, axis=0)

    def rmatvec(self, U):
        U = np.asarray(U, dtype=np.float64)
        parts = self._map(_b_rmatvec, rows=(U, self.row_scale, self.u))
        out = sum(p[0] for p in parts)
        if self.u is not None:
            su = sum(p[1] for p in parts)
            out = out - (np.outer(self.offset, su) if U.ndim == 2 else self.offset * su)
        return out

    def gram_matvec(self, V):
        V = np.asarray(V, dtype=np.float64)
        if self.coded is not None:
            return self._coded_gram_matvec(V)
        s0 = None if self.u is None else self.offset @ V
        parts = self._map(_b_gram_matvec,
                          rows=(_Const(V), self.row_scale, self.u, _Const(s0)))
        acc = sum(p[0] for p in parts)
        if self.u is not None:
            su = sum(p[1] for p in parts)
            acc = acc - (np.outer(self.offset, su) if V.ndim == 2 else self.offset * su)
        return acc

    def gram(self):
        """``M^T M``, summed over the blocks' centred Gram matrices (forming ``X^T X`` and
        correcting it by the offset cancels catastrophically when a column's mean is large
        against its spread)."""
        return sum(self._map(_b_centred_gram, rows=(self.row_scale, self.u,
                                                    _Const(self.offset))))

    def column_sq_norms(self):
        return np.maximum(np.diag(self.gram()), 0.0)

    def sketched(self, sketch):
        """``S M`` as an in-memory :class:`AffineOperator`: the sum of independent sketches
        of the row blocks with ``sketch``'s kind and size."""
        seeds = np.random.SeedSequence(sketch.entropy).generate_state(len(self.blocks))
        import dask

        tasks = []
        for b, blk in enumerate(self.blocks):
            s, e = self.offsets[b], self.offsets[b + 1]
            tasks.append(dask.delayed(_b_sketch, pure=True)(
                blk, _sl(self.row_scale, s, e), _sl(self.u, s, e), sketch.kind, sketch.m,
                sketch.nnz, int(seeds[b])))
        parts = dask.compute(*tasks)
        SB = sum(p[0] for p in parts)
        Su = None if self.u is None else sum(p[1] for p in parts)
        return AffineOperator(SB, u=Su, offset=self.offset)

    def toarray(self):
        """``M`` densely (small problems only: the cvxpy reference)."""
        Xd = np.asarray(self.X.compute(), dtype=np.float64)
        return AffineOperator(Xd, row_scale=self.row_scale, u=self.u,
                              offset=self.offset).toarray()

    @property
    def T(self):
        raise NotImplementedError(
            "the dual (kernel) form is not available for dask arrays: a distributed fit "
            "needs n_samples >= n_features")

    # -- coded Hessian products -------------------------------------------------------------
    def use_code(self, code, client, delay, random_state, timeout):
        """Encode the block Grams on the cluster for coded Hessian products."""
        from skconvex.distributed._dask import encode_futures, get_client

        client = get_client(client)
        d = self.shape[1]
        code.fit_layout(len(self.blocks) * d, d)
        import dask

        grams = []
        for b, blk in enumerate(self.blocks):
            s, e = self.offsets[b], self.offsets[b + 1]
            grams.append(dask.delayed(_b_centred_gram, pure=True)(
                blk, _sl(self.row_scale, s, e), _sl(self.u, s, e), self.offset))
        gram_futures = client.compute(grams)
        coded = encode_futures(client, code, gram_futures)
        rng = np.random.RandomState(random_state) if not isinstance(
            random_state, np.random.RandomState) else random_state
        self.coded = (client, code, coded, delay, rng, timeout)

    def _coded_gram_matvec(self, V):
        from skconvex.distributed._dask import _draw_delays, run_coded

        client, code, coded, delay, rng, timeout = self.coded
        delays = _draw_delays(delay, code.n_workers_, rng)
        y, record = run_coded(client, code, coded, V, delays=delays, timeout=timeout)
        self.coded_runs.append(record)
        d = self.shape[1]
        return y.reshape((len(self.blocks), d) + V.shape[1:]).sum(axis=0)


class _Const:
    """A value passed whole to every block task (not sliced by rows)."""

    def __init__(self, value):
        self.value = value


def _sl(v, s, e):
    """Rows ``s:e`` of a row vector; None and :class:`_Const` values pass through."""
    if v is None:
        return None
    if isinstance(v, _Const):
        return v.value
    return v[s:e]


class DaskRidgeProblem(RidgeProblem):
    """:class:`~skconvex.problems.RidgeProblem` over a row-chunked dask array (primal form,
    ``n_samples >= n_features``)."""

    distributed = True

    def __init__(self, X, y, alpha, *, sample_weight=None, fit_intercept=True):
        n, d = X.shape
        coding = _CONFIG["coding"]
        X, blocks, offsets, _ = _prepare_X(
            X, None if coding is None else _n_blocks_of(coding))
        self.X = X
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.dtype = X.dtype
        Y = np.asarray(y, dtype=np.float64)
        self.y_was_1d = Y.ndim == 1
        Y = Y.reshape(n, -1)
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64)
            sqrt_w, wsum = np.sqrt(sw), sw.sum()
        else:
            sw, sqrt_w, wsum = None, None, float(n)
        probe = DaskRowOperator(X, blocks, offsets)
        sums = probe._map(_b_sums, rows=(sw,))
        if any(s is None for s in sums):
            raise ValueError("Input X contains NaN or infinity.")
        if self.fit_intercept:
            x_mean = sum(sums) / wsum
            y_mean = (Y.mean(axis=0) if sw is None else sw @ Y / wsum)
            u = sqrt_w if sqrt_w is not None else np.ones(n)
            self.A = DaskRowOperator(X, blocks, offsets, row_scale=sqrt_w, u=u, offset=x_mean)
        else:
            x_mean, y_mean = np.zeros(d), np.zeros(Y.shape[1])
            self.A = DaskRowOperator(X, blocks, offsets, row_scale=sqrt_w)
        Bc = Y - y_mean
        if sqrt_w is not None:
            Bc = Bc * sqrt_w[:, None]
        self.B = Bc
        self.x_mean, self.y_mean = x_mean, y_mean
        self.n_samples, self.n_features = n, d
        self.n_targets = Y.shape[1]
        self._rhs = None
        if coding is not None:
            self.A.use_code(coding, _CONFIG["client"], _CONFIG["delay"],
                            _CONFIG["random_state"], _CONFIG["timeout"])

    def hessian_matvec(self, W):
        """``(A^T A + alpha I) W``: one map-reduce pass (or one coded product)."""
        return self.A.gram_matvec(W) + self.alpha * W


def _n_blocks_of(code):
    if hasattr(code, "n_levels"):
        N = 1 << int(code.n_levels)
        return int(min(N, max(1, round(code.rate * N))))
    if hasattr(code, "k"):
        return int(code.k)
    return int(code.n_workers)


def ridge_problem(est, X, y, sample_weight=None):
    """The problem ``SketchedRidge.fit`` solves for a dask array ``X``."""
    _check_2d(X)
    n, d = X.shape
    if n < 2:
        raise ValueError(f"Found array with {n} sample(s) while a minimum of 2 is required.")
    if n < d:
        raise ValueError(
            f"a distributed fit needs n_samples >= n_features (primal system over row "
            f"blocks); got X of shape {(n, d)}. Fit in memory instead (np.asarray(X)).")
    Y = np.asarray(_in_memory(y, "y", n), dtype=np.float64)
    if Y.ndim not in (1, 2) or not np.all(np.isfinite(Y)):
        raise ValueError("y must be a 1-d or 2-d array of finite numbers.")
    sw = _check_weights(sample_weight, n)
    if est.solver == "cvxpy" and n * d > 10 ** 6:
        raise ValueError("solver='cvxpy' forms X densely: use it on small problems only.")
    if not isinstance(est.sketch_size, str) and est.sketch_size > n:
        raise ValueError(f"sketch_size={est.sketch_size} is larger than the number of rows "
                         f"being sketched ({n}).")
    problem = DaskRidgeProblem(X, Y, est.alpha, sample_weight=sw,
                               fit_intercept=est.fit_intercept)
    _set_input_features(est, d)
    return problem


# -- logistic regression -------------------------------------------------------------------------
def _logistic_block(Xb, yb, swb, spec):
    """The in-memory problem of one block, its features shifted by the problem's offset."""
    C, n_classes, fit_intercept, offset = spec
    Xb = np.asarray(Xb)
    if offset is not None:
        Xb = Xb - offset.astype(Xb.dtype, copy=False)
    return LogisticProblem(Xb, yb, C, n_classes=n_classes, sample_weight=swb,
                           fit_intercept=fit_intercept)


def _b_logistic(Xb, yb, swb, spec, W, hess):
    """Loss (without penalty), gradient of the loss and Hessian information of one block.

    ``hess`` is None (none), ``("exact",)`` (the block's exact Hessian) or
    ``("sketch", kind, m, nnz_per_row, seed)`` (the block's sketched square-root factor,
    columns in parameter order)."""
    P = _logistic_block(Xb, yb, swb, spec)
    Z = P.margins(W)
    st = P.state(Z)
    G = P.grad_from_residual(W, st["R"])
    G[:, : P.n_features] -= P.coef(W)
    out = {"loss": st["loss"], "grad": G}
    if hess is None:
        return out
    if hess[0] == "exact":
        out["H"] = P.hessian(st)
        return out
    _, kind, m, s, seed = hess
    nb = P.n_samples
    if kind == "srht" and m > (1 << max(0, int(np.ceil(np.log2(nb))))):
        kind, s = "sjlt", None
    S = Sketch(nb, m, kind, nnz_per_row=s, random_state=seed)
    Bm, U = P.sketched_factor(S, st)
    Bm = Bm.toarray() if hasattr(Bm, "toarray") else np.asarray(Bm)
    F = np.zeros((Bm.shape[0], P.k * P.p))
    cols = Bm if U is None else np.hstack([Bm, U])
    F[:, P.factor_order] = cols
    out["F"] = F
    return out


def _b_logistic_losses(Xb, yb, swb, spec, W, D, steps):
    """Losses (without penalty) of one block at ``W + t D`` for every ``t`` in ``steps``."""
    P = _logistic_block(Xb, yb, swb, spec)
    Z = P.margins(W)
    U = P.margins(D)  # the direction's margins, its intercept included
    return np.array([P._loss_resid(Z + t * U, need_resid=False)[0] for t in steps])


class DaskLogisticProblem:
    """L2-regularized logistic regression over a row-chunked dask array, solved by a
    distributed Newton sketch (:meth:`newton_sketch`).

    With an intercept, the solver works on the features shifted by ``offset`` (their
    means, set by :func:`logistic_problem`): margins ``(x - offset)^T w + b~``, the same
    model with ``b = b~ - offset^T w``. Without the shift, a feature of large mean couples
    its coefficient to the intercept and the Hessian's condition number grows with the
    square of that mean (a feature of mean 1e6 stalled the solver). :meth:`newton_sketch`
    takes and returns parameters of the unshifted model.
    """

    distributed = True

    def __init__(self, X, y, C, *, n_classes=2, sample_weight=None, fit_intercept=True,
                 offset=None):
        X, blocks, offsets, _ = _prepare_X(X)
        self.X, self.blocks, self.offsets = X, blocks, offsets
        n, d = X.shape
        self.dtype = X.dtype
        self.C = float(C)
        self.fit_intercept = bool(fit_intercept)
        self.n_samples, self.n_features = n, d
        self.n_classes = int(n_classes)
        self.multinomial = self.n_classes > 2
        self.k = self.n_classes if self.multinomial else 1
        self.p = d + int(self.fit_intercept)
        self.shape = (self.k, self.p)
        self.y = np.asarray(y).astype(np.intp)
        self.sample_weight = sample_weight
        self.reg = np.tile(np.r_[np.ones(d), np.zeros(int(self.fit_intercept))], self.k)
        self.offset = None if (offset is None or not self.fit_intercept) else \
            np.asarray(offset, dtype=np.float64)
        self.n_passes = 0.0

    def coef(self, W):
        return W[:, : self.n_features]

    def intercept(self, W):
        return W[:, self.n_features] if self.fit_intercept else np.zeros(self.k)

    def penalty(self, W):
        c = self.coef(W)
        return 0.5 * float(np.sum(c * c))

    def _spec(self):
        return (self.C, self.n_classes, self.fit_intercept, self.offset)

    def _shift(self, W, sign):
        """Parameters of the shifted model (``sign=+1``) from the unshifted one, or back
        (``sign=-1``): ``b~ = b + offset^T w``."""
        return shift_intercepts(W, self.offset, self.n_features, sign)

    def _map(self, fn, *args, per_block=None):
        """``fn(X_b, y_b, s_b, spec, *args[, per_block[b]])`` for every block."""
        import dask

        tasks = []
        for b, blk in enumerate(self.blocks):
            s, e = self.offsets[b], self.offsets[b + 1]
            extra = () if per_block is None else (per_block[b],)
            tasks.append(dask.delayed(fn, pure=True)(
                blk, self.y[s:e], _sl(self.sample_weight, s, e), self._spec(), *args,
                *extra))
        return list(dask.compute(*tasks))

    def _pass(self, W, hess=None, rng=None):
        """Loss and gradient at ``W`` (penalty included), and the Hessian of the loss
        (exact, or ``F^T S^T S F`` from the summed block sketches) when asked."""
        if hess is not None and hess[0] == "sketch":
            seeds = rng.randint(0, 2 ** 31 - 1, size=len(self.blocks))
            parts = self._map(_b_logistic, W,
                              per_block=[hess + (int(sd),) for sd in seeds])
        else:
            parts = self._map(_b_logistic, W, hess)
        self.n_passes += 1.0
        loss = sum(p["loss"] for p in parts) + self.penalty(W)
        G = sum(p["grad"] for p in parts)
        G[:, : self.n_features] += self.coef(W)
        out = {"loss": loss, "grad": G}
        if hess is not None:
            if hess[0] == "exact":
                out["H"] = sum(p["H"] for p in parts)
            else:
                F = sum(p["F"] for p in parts)
                out["H"] = F.T @ F
            if self.multinomial:
                lift_null_space(out["H"], self.k, self.p, self.n_features)
        return out

    def _intercept_only(self):
        if not self.fit_intercept:
            return np.zeros(self.k)
        cs = self.C * (np.ones(self.n_samples) if self.sample_weight is None
                       else self.sample_weight)
        freq = np.bincount(self.y, weights=cs, minlength=self.n_classes)
        total = float(cs.sum())
        if total <= 0:
            return np.zeros(self.k)
        if self.multinomial:
            logf = np.log(np.maximum(freq / total, 1e-12))
            return logf - logf.mean()
        p = min(max(freq[1] / total, 1e-12), 1 - 1e-12)
        return np.array([np.log(p / (1.0 - p))])

    def newton_sketch(self, *, tol=1e-6, max_iter=100, verbose=0, random_state=None,
                      sketch="less_uniform", sketch_size="adaptive", nnz_per_row=None,
                      warm_start=None):
        """Newton's method with a sketched Hessian summed over the row blocks.

        Each iteration: one pass for the loss, the exact gradient ``G`` and ``S F`` (the sum
        of the blocks' sketches of the square-root factor; the exact Hessian when
        ``sketch="exact"`` or the sketch would have as many rows as the data), the direction
        ``D = -(F^T S^T S F + diag(reg))^{-1} G``, then one pass for the losses at the steps
        ``1, 1/2, ..., 1/128`` (Armijo). Stops when ``sqrt(lambda / theta^T H_S theta) <=
        tol`` (``lambda = -G.D``), taking that step. ``sketch_size="adaptive"`` starts at
        ``8 k p`` rows and doubles when, near the solution (measure < 0.05), a full step reduces the decrement by
        less than a factor 4.
        """
        rng = np.random.RandomState(random_state) if not isinstance(
            random_state, np.random.RandomState) else random_state
        k, p = self.k, self.p
        n = self.n_samples
        tol = max(tol, 10.0 * float(np.finfo(self.dtype).eps))
        log = ProgressLogger("dask-newton", verbose, tol=tol)
        W = np.zeros(self.shape)
        if warm_start is not None:
            W[:] = self._shift(np.reshape(warm_start, self.shape), +1)
            if self.multinomial:
                drop_null_component(W, self.n_features)
        elif self.fit_intercept:
            W[:, self.n_features] = self._intercept_only()
        adaptive = sketch_size == "adaptive"
        m = 64 * math.ceil(8 * k * p / 64) if adaptive else int(sketch_size)
        exact = sketch == "exact"
        n_resketch = 0
        history = []
        converged = False
        lam_prev = None
        it = 0
        st = None
        reg = self.reg.copy()
        while it < max_iter:
            it += 1
            use_exact = exact or m * max(1, k) >= n
            hess = ("exact",) if use_exact else ("sketch", sketch, m, nnz_per_row)
            st = self._pass(W, hess, rng)
            g = st["grad"].ravel()
            H = st["H"] + np.diag(reg)
            # a jitter relative to each diagonal entry (the multinomial intercepts' null
            # direction); one relative to the mean entry swamped the coefficients of small
            # features next to one on a scale of 1e8 (the solver crept to max_iter)
            diag = H.diagonal().copy()
            H[np.diag_indices_from(H)] += 1e-12 * np.where(diag > 0, diag, 1.0)
            factor = sla.cho_factor(H, lower=True, check_finite=False)

            def solve(v):
                return sla.cho_solve(factor, v, check_finite=False)

            D = -(solve_lifted(solve, g, k, p, self.n_features) if self.multinomial
                  else solve(g))
            D = D.reshape(self.shape)
            if self.multinomial and self.fit_intercept:
                D[:, self.n_features] -= D[:, self.n_features].mean()
            lam = float(-g @ D.ravel())
            theta = W.ravel()
            quad = float(theta @ (H @ theta))
            measure = math.sqrt(max(lam, 0.0) / quad) if quad > 0 else np.inf
            history.append({"iter": it, "objective": st["loss"], "measure": measure,
                            "sketch_size": None if use_exact else m, "elapsed": log.elapsed})
            if measure <= tol or lam <= 0:
                W = W + D
                converged = True
                log.iteration(it, objective=st["loss"], measure=measure, step=1.0,
                              m=None if use_exact else m)
                break
            steps = [2.0 ** -j for j in range(8)]
            losses = np.array(sum(self._map(_b_logistic_losses, W, D, steps)))
            self.n_passes += 1.0
            losses += np.array([self.penalty(W + t * D) for t in steps])
            ok = np.flatnonzero(losses <= st["loss"] - 1e-4 * np.array(steps) * lam)
            t = steps[ok[0]] if ok.size else steps[int(np.argmin(losses))]
            W = W + t * D
            log.iteration(it, objective=st["loss"], measure=measure, step=t,
                          m=None if use_exact else m)
            # in the quadratic regime (full steps) the decrement should fall fast; when it
            # does not, the sketch is too small
            if adaptive and not use_exact and t == 1.0 and measure < 0.05 and \
                    lam_prev is not None and lam > 0.25 * lam_prev:
                m *= 2
                n_resketch += 1
                log.message(f"slow progress: sketch size -> {m}")
            lam_prev = lam
        final = self._pass(W)
        G = final["grad"]
        gap = None if self.fit_intercept else 0.5 * float(np.sum(G * G))
        objective = final["loss"]
        info = {"sketch_size": None if (exact or m * max(1, k) >= n) else m,
                "n_resketch": n_resketch, "effective_dim": None, "n_passes": self.n_passes}
        dual = None if gap is None else objective - gap
        return FitResult(self._shift(W, -1), objective, dual, it, converged, history, info,
                         gap=gap)


def logistic_problem(est, X, y, sample_weight=None):
    """The problem ``NewtonLESSLogistic.fit`` solves for a dask array ``X``."""
    _dask()
    _check_2d(X)
    n, d = X.shape
    if n < 2:
        raise ValueError(f"Found array with {n} sample(s) while a minimum of 2 is required.")
    if y is None:
        raise ValueError("requires y to be passed, but the target y is None.")
    y = _in_memory(y, "y", n)
    if np.ndim(y) != 1:
        y = np.ravel(y) if np.ndim(y) == 2 and np.shape(y)[1] == 1 else y
    check_classification_targets(y)
    enc = LabelEncoder()
    y_enc = enc.fit_transform(y)
    classes = enc.classes_
    if len(classes) < 2:
        raise ValueError(f"{type(est).__name__} needs samples of at least 2 classes in the "
                         f"data, but the data contain only one class: {str(classes[0])!r}.")
    sw = _check_weights(sample_weight, n)
    problem = DaskLogisticProblem(X, y_enc, est.C, n_classes=len(classes), sample_weight=sw,
                                  fit_intercept=est.fit_intercept)
    sums = DaskRowOperator(problem.X, problem.blocks, problem.offsets)._map(
        _b_sums, rows=(None,))
    if any(s is None for s in sums):
        raise ValueError("Input X contains NaN or infinity.")
    if problem.fit_intercept:
        # in the data's precision: the blocks are shifted by these values exactly, and the
        # parameters mapped back with the same (float32 data shifted by float32-rounded means
        # and mapped back with float64 ones ended 2e-5 off the optimum)
        problem.offset = (sum(sums) / n).astype(problem.dtype).astype(np.float64)
    est._classes_fit = classes
    _set_input_features(est, d)
    return problem

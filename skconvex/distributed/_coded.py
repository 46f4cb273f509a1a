"""Coded matrix-vector products: polar (computational polarization), MDS and uncoded.

All three share one interface. ``fit(A)`` splits ``A`` (M x d) row-wise into ``K`` data
blocks of ``ceil(M / K)`` rows (the last one zero-padded) and encodes them into ``N`` coded
blocks of the same size, one per worker; ``worker_tasks()`` returns them; worker ``i``
computes ``coded_blocks_[i] @ x``; ``decode(results, available)`` rebuilds ``A @ x`` from the
results of any sufficient set of workers, or raises :class:`UndecodableError`;
``completion_time(T)`` is the time at which a run with worker runtimes ``T`` becomes
decodable. Execution on a Dask cluster is in :mod:`skconvex.distributed._dask`.

Math: ``spec/p5_computational_polarization.md`` (M. Pilanci, "Computational Polarization:
An Information-theoretic Method for Resilient Computing", arXiv:2109.03877).
"""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted

from skconvex.distributed._delays import ExponentialDelay
from skconvex.distributed._kernels import (
    polar_encode,
    sc_decodable,
    sc_decode,
    virtual_times,
)


class UndecodableError(RuntimeError):
    """The results available cannot determine ``A @ x`` (too many stragglers)."""


def polarize_cdf(F_grid, n):
    """Virtual runtime CDFs of ``n`` levels of the polar split of i.i.d. workers.

    Each level maps every CDF ``F`` to the pair ``(F**2, 2F - F**2)``: the slow virtual worker
    (needs both results: ``max`` of two runtimes) and the fast one (either result: ``min``).
    The mean over the ``2**n`` outputs equals ``F`` at every level (conservation of the
    mean runtime; a functional martingale).

    Parameters
    ----------
    F_grid : array-like of shape (G,)
        The runtime CDF of one worker on a time grid (values in [0, 1]).
    n : int
        Number of levels (``N = 2**n`` workers).

    Returns
    -------
    virtual_cdfs : ndarray of shape (2**n, G)
        Row ``i`` is the CDF of virtual worker ``i`` (index bits MSB first: bit 0 = slow).

    Examples
    --------
    >>> import numpy as np
    >>> from skconvex.distributed import polarize_cdf
    >>> F = np.array([0.0, 0.5, 1.0])
    >>> polarize_cdf(F, 1)
    array([[0.  , 0.25, 1.  ],
           [0.  , 0.75, 1.  ]])
    """
    F = np.asarray(F_grid, dtype=np.float64)
    if F.ndim != 1:
        raise ValueError(f"F_grid must be one-dimensional, got shape {F.shape}.")
    if not np.all(np.isfinite(F)) or F.min(initial=0.0) < 0 or F.max(initial=0.0) > 1:
        raise ValueError("F_grid must hold CDF values in [0, 1].")
    if not isinstance(n, Integral) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}.")
    Fs = F[None]
    for _ in range(int(n)):
        F2 = Fs * Fs
        Fs = np.stack([F2, 2.0 * Fs - F2], axis=1).reshape(-1, F.size)
    return Fs


def _check_available(available, N):
    if available is None:
        return np.ones(N, dtype=bool)
    a = np.asarray(available)
    if a.dtype == bool:
        if a.shape != (N,):
            raise ValueError(f"available must be a boolean mask of shape ({N},), got shape "
                             f"{a.shape}.")
        return a.copy()
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"available must be a boolean mask or integer worker indices, got "
                         f"dtype {a.dtype}.")
    idx = a.astype(np.intp).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= N):
        raise ValueError(f"available holds worker indices outside [0, {N}).")
    mask = np.zeros(N, dtype=bool)
    mask[idx] = True
    return mask


class _CodedMatVec(BaseEstimator):
    """Shared part: block split, result collection, decode bookkeeping."""

    def _setup(self, N, K):
        self.n_workers_ = int(N)
        self.n_blocks_ = int(K)

    def fit(self, A):
        """Split ``A`` into data blocks and encode them (after designing the code).

        Parameters
        ----------
        A : array-like of shape (M, d)
            The matrix (float32 is kept in the coded blocks).

        Returns
        -------
        self : object
        """
        A = check_array(A, dtype=[np.float64, np.float32], ensure_2d=True)
        self._design()
        K = self.n_blocks_
        M, d = A.shape
        r = math.ceil(M / K)
        blocks = np.zeros((K, r, d), dtype=A.dtype)
        blocks.reshape(K * r, d)[:M] = A
        self.n_rows_, self.n_cols_, self.block_rows_ = M, d, r
        self.coded_blocks_ = self.encode(blocks)
        return self

    def fit_layout(self, n_rows, n_cols):
        """Design the code for an ``(n_rows, n_cols)`` matrix whose coded blocks are built
        elsewhere (e.g. encoded on a cluster by
        :func:`skconvex.distributed._dask.encode_futures`): :meth:`decode` works, there are
        no local ``coded_blocks_``."""
        self._design()
        K = self.n_blocks_
        self.n_rows_, self.n_cols_ = int(n_rows), int(n_cols)
        self.block_rows_ = math.ceil(self.n_rows_ / K)
        if hasattr(self, "coded_blocks_"):
            del self.coded_blocks_
        return self

    def worker_tasks(self):
        """The coded blocks, one per worker: worker ``i`` returns ``worker_tasks()[i] @ x``."""
        check_is_fitted(self, "coded_blocks_")
        return list(self.coded_blocks_)

    def _collect(self, results, available):
        """Stack the available results into a (N, L) float64 array and the mask."""
        N = self.n_workers_
        if len(results) != N:
            raise ValueError(f"results must have one entry per worker ({N}), got "
                             f"{len(results)}.")
        if available is None:
            mask = np.array([r is not None for r in results], dtype=bool)
        else:
            mask = _check_available(available, N)
        idx = np.flatnonzero(mask)
        sel = [results[i] for i in idx.tolist()]
        if any(r is None for r in sel):
            bad = next(i for i in idx if results[i] is None)
            raise ValueError(f"worker {bad} is marked available but its result is None.")
        if idx.size == 0:
            return np.zeros((N, self.block_rows_)), mask, (self.block_rows_,)
        shape = np.shape(sel[0])
        if len(shape) not in (1, 2) or shape[0] != self.block_rows_:
            raise ValueError(f"result of worker {idx[0]} has shape {shape}; a worker's result "
                             f"is its block times x: ({self.block_rows_},) or "
                             f"({self.block_rows_}, k).")
        try:
            # one conversion of the whole list (it also rejects results of unequal shapes)
            stacked = np.array(sel, dtype=np.float64)
        except ValueError:
            bad = next(i for i in idx if np.shape(results[i]) != shape)
            raise ValueError(f"result of worker {bad} has shape {np.shape(results[bad])}, "
                             f"expected {shape}.") from None
        Y = np.zeros((N, stacked[0].size))
        Y[idx] = stacked.reshape(idx.size, -1)
        return Y, mask, shape

    def _assemble(self, U_info, shape):
        """Data-block results (K, L) -> ``A @ x`` of shape (M,) or (M, k)."""
        K = self.n_blocks_
        out = U_info.reshape((K * shape[0],) + tuple(shape[1:]))
        return out[: self.n_rows_]

    def matvec(self, x, available=None):
        """``A @ x`` computed from the coded blocks of the ``available`` workers (all by
        default): the workers' products followed by :meth:`decode`."""
        check_is_fitted(self, "coded_blocks_")
        mask = _check_available(available, self.n_workers_)
        x = np.asarray(x)
        results = [self.coded_blocks_[i] @ x if mask[i] else None
                   for i in range(self.n_workers_)]
        return self.decode(results, mask)

    def _check_T(self, T):
        T = np.asarray(T, dtype=np.float64)
        if T.shape[-1] != self.n_workers_:
            raise ValueError(f"T must have {self.n_workers_} runtimes in its last axis, got "
                             f"shape {T.shape}.")
        return T


class PolarCodedMatVec(_CodedMatVec):
    """Straggler-resilient ``A @ x`` by computational polarization (polar coding over the
    reals).

    ``N = 2**n_levels`` workers each compute one coded block of ``ceil(M / K)`` rows, with
    ``K = round(rate * N)`` data blocks. The code is ``x = u G_N`` (``G_N`` the n-fold
    Kronecker power of ``[[1, 0], [1, 1]]``) with the data blocks at the ``K`` information
    positions of ``u`` and zeros elsewhere. Each split of two workers makes a slow virtual
    worker (needs both results, CDF ``F**2``) and a fast one (either result, ``2F - F**2``);
    recursively the virtual runtimes polarize. The design keeps the ``K`` virtual workers with
    the smallest expected runtime (or quantile) as information positions. Decoding is
    successive cancellation for erasures: ``O(N log N)`` additions/subtractions of block
    results, no multiplication, no linear solve (an MDS code solves a ``K x K`` system).

    Parameters
    ----------
    n_levels : int
        ``N = 2**n_levels`` workers (>= 1).
    rate : float in (0, 1]
        Fraction of workers that carry data: ``K = round(rate * N)`` data blocks.
    runtime_cdf : callable or object with a ``cdf`` method, default=None
        CDF of one worker's runtime (e.g. :class:`ShiftedExponentialDelay`, a frozen
        ``scipy.stats`` distribution or ``lambda t: ...``). None (and no samples): the unit
        exponential.
    runtime_samples : array-like of shape (n_samples,), default=None
        Observed runtimes; their empirical CDF designs the code (takes precedence over
        ``runtime_cdf``).
    design : "mean" or float in (0, 1), default="mean"
        Rank virtual workers by expected runtime ``int (1 - F_i) dt``, or by their
        ``design``-quantile.
    grid : array-like of shape (G,), default=None
        Increasing, non-negative time grid on which CDFs are evaluated. None: ``n_grid``
        points placed by quantiles of the runtime distribution (plus 0).
    n_grid : int, default=2001
        Grid size when ``grid`` is None.

    Attributes
    ----------
    n_workers_ : int
        ``N``.
    n_blocks_ : int
        ``K``.
    grid_ : ndarray of shape (G,)
    runtime_cdf_ : ndarray of shape (G,)
        Worker runtime CDF on ``grid_``.
    virtual_cdfs_ : ndarray of shape (N, G)
        CDFs of the virtual workers (see :func:`polarize_cdf`).
    expected_virtual_runtimes_ : ndarray of shape (N,)
    info_set_ : ndarray of int
        Information positions (sorted); data block ``j`` sits at ``info_set_[j]``.
    frozen_set_ : ndarray of int
    coded_blocks_ : ndarray of shape (N, ceil(M / K), d)
    decode_flops_ : int
        Additions and subtractions of the last :meth:`decode`.

    Notes
    -----
    Accuracy is normwise: a decoded block is recovered as sums and differences of coded results that mix
    it with the other blocks, so its rounding error is of the order of the largest blocks'
    products, ``eps * max ||A_j x||``. Rows far smaller than the largest lose their relative
    accuracy (rows spanning 1e-8..1e8 in float64: relative errors near 1e-2 on the small
    ones; float32 rows spanning 1e-4..1e4: errors larger than the values). Scale such rows
    to similar norms before coding, and scale the result back.

    See Also
    --------
    MDSCodedMatVec, UncodedMatVec, polarize_cdf

    Examples
    --------
    >>> import numpy as np
    >>> from skconvex.distributed import PolarCodedMatVec, ShiftedExponentialDelay
    >>> rng = np.random.default_rng(0)
    >>> A, x = rng.standard_normal((64, 5)), rng.standard_normal(5)
    >>> code = PolarCodedMatVec(4, 0.5, runtime_cdf=ShiftedExponentialDelay()).fit(A)
    >>> T = 1 + rng.exponential(size=16)              # runtimes of the 16 workers
    >>> t_done = code.completion_time(T)
    >>> finished = T <= t_done                         # results received by then
    >>> int(finished.sum()) < 16
    True
    >>> y = code.matvec(x, available=finished)
    >>> bool(np.allclose(y, A @ x))
    True
    """

    def __init__(self, n_levels, rate=0.5, *, runtime_cdf=None, runtime_samples=None,
                 design="mean", grid=None, n_grid=2001):
        self.n_levels = n_levels
        self.rate = rate
        self.runtime_cdf = runtime_cdf
        self.runtime_samples = runtime_samples
        self.design = design
        self.grid = grid
        self.n_grid = n_grid

    # -- design ---------------------------------------------------------------------------
    def _grid_and_cdf(self):
        G = self.n_grid
        if not isinstance(G, Integral) or G < 3:
            raise ValueError(f"n_grid must be an integer >= 3, got {G!r}.")
        if self.runtime_samples is not None:
            s = np.sort(np.asarray(self.runtime_samples, dtype=np.float64).ravel())
            if s.size == 0 or not np.all(np.isfinite(s)) or s[0] < 0:
                raise ValueError("runtime_samples must be a non-empty array of finite, "
                                 "non-negative runtimes.")
            def cdf(t):
                return np.searchsorted(s, t, side="right") / s.size
            ppf = None
            hi = float(s[-1])
        else:
            dist = self.runtime_cdf if self.runtime_cdf is not None else ExponentialDelay()
            cdf = dist.cdf if hasattr(dist, "cdf") else dist
            if not callable(cdf):
                raise TypeError("runtime_cdf must be callable or have a cdf method, got "
                                f"{type(dist).__name__}.")
            ppf = getattr(dist, "ppf", None)
            hi = None
        if self.grid is not None:
            t = np.asarray(self.grid, dtype=np.float64).ravel()
            if t.size < 3 or np.any(np.diff(t) <= 0) or t[0] < 0:
                raise ValueError("grid must be increasing, non-negative, with >= 3 points.")
        elif hi is not None:
            t = np.unique(np.r_[0.0, np.linspace(0.0, hi, G - 1)])
            t = np.unique(np.r_[t, s])  if s.size <= 20 * G else t
        else:
            t = _quantile_grid(cdf, ppf, G)
        F = np.clip(np.asarray(cdf(t), dtype=np.float64).reshape(t.shape), 0.0, 1.0)
        F = np.maximum.accumulate(F)
        return t, F

    def _design(self):
        n = self.n_levels
        if not isinstance(n, Integral) or n < 1 or n > 24:
            raise ValueError(f"n_levels must be an integer in [1, 24], got {n!r}.")
        if not isinstance(self.rate, Real) or not 0 < self.rate <= 1:
            raise ValueError(f"rate must be in (0, 1], got {self.rate!r}.")
        N = 1 << int(n)
        K = int(min(N, max(1, round(self.rate * N))))
        self._setup(N, K)
        t, F = self._grid_and_cdf()
        Fs = polarize_cdf(F, n)
        ET = t[0] + np.trapezoid(1.0 - Fs, t, axis=1)
        if isinstance(self.design, str):
            if self.design != "mean":
                raise ValueError(f"design must be 'mean' or a quantile in (0, 1), got "
                                 f"{self.design!r}.")
            score = ET
            order = np.argsort(score, kind="stable")
        elif isinstance(self.design, Real) and 0 < self.design < 1:
            q = float(self.design)
            # first grid time at which F_i reaches q (inf if never): ties broken by the mean
            reach = Fs >= q
            tq = np.where(reach.any(axis=1), t[np.argmax(reach, axis=1)], np.inf)
            order = np.lexsort((ET, tq))
        else:
            raise ValueError(f"design must be 'mean' or a quantile in (0, 1), got "
                             f"{self.design!r}.")
        info = np.sort(order[:K])
        frozen = np.ones(N, dtype=bool)
        frozen[info] = False
        self.grid_, self.runtime_cdf_ = t, F
        self.virtual_cdfs_ = Fs
        self.expected_virtual_runtimes_ = ET
        self.info_set_ = info
        self.frozen_set_ = np.flatnonzero(frozen)
        self._frozen = frozen

    # -- coding ---------------------------------------------------------------------------
    def encode(self, blocks):
        """Encode data blocks (K, ...) into coded blocks (N, ...) by the butterfly."""
        blocks = np.asarray(blocks)
        if blocks.shape[0] != self.n_blocks_:
            raise ValueError(f"expected {self.n_blocks_} data blocks, got {blocks.shape[0]}.")
        u = np.zeros((self.n_workers_,) + blocks.shape[1:],
                     dtype=np.result_type(blocks.dtype, np.float32))
        u[self.info_set_] = blocks
        return polar_encode(u).astype(u.dtype, copy=False)

    def generator_matrix(self):
        """``G_N`` restricted to the information rows, (K, N): coded block ``i`` is
        ``sum_j G[j, i] * data block j``."""
        check_is_fitted(self, "info_set_")
        return polar_encode(np.eye(self.n_workers_))[self.info_set_]

    def can_decode(self, available):
        """Whether the results of the ``available`` workers (mask or indices) determine
        ``A @ x``."""
        check_is_fitted(self, "info_set_")
        mask = _check_available(available, self.n_workers_)
        return bool(sc_decodable(mask, self._frozen) < 0)

    def decode(self, results, available=None):
        """``A @ x`` from the workers' results by successive cancellation.

        Parameters
        ----------
        results : sequence of length N
            ``results[i] = coded_blocks_[i] @ x`` for available workers; None (or anything,
            when ``available`` is given) for the others.
        available : array-like of bool of shape (N,) or of int, default=None
            Which workers answered; None means the entries of ``results`` that are not None.

        Returns
        -------
        y : ndarray of shape (M,) or (M, k)

        Raises
        ------
        UndecodableError
            If an information position can be recovered from neither combination of the
            available results.
        """
        check_is_fitted(self, "block_rows_")
        Y, mask, shape = self._collect(results, available)
        U, failed, flops = sc_decode(Y, mask, self._frozen)
        self.decode_flops_ = int(flops)
        if failed >= 0:
            raise UndecodableError(
                f"cannot decode: information position {failed} (virtual worker of expected "
                f"runtime {self.expected_virtual_runtimes_[failed]:.4g}) depends on results "
                f"that are missing ({int(mask.sum())} of {self.n_workers_} workers "
                "available). Wait for more workers.")
        return self._assemble(U[self.info_set_], shape)

    def virtual_times(self, T):
        """Virtual runtimes (..., N) of a run (or runs) with actual worker runtimes T."""
        check_is_fitted(self, "info_set_")
        return virtual_times(self._check_T(T))

    def completion_time(self, T):
        """Time at which a run with worker runtimes ``T`` (shape (N,) or (n_runs, N))
        becomes decodable: the largest virtual runtime over the information positions."""
        return self.virtual_times(T)[..., self.info_set_].max(axis=-1)


def _quantile_grid(cdf, ppf, G):
    """Time grid at quantiles of a distribution (dense in the bulk and the tail), from 0."""
    half = G // 2
    q = np.unique(np.r_[np.linspace(0.0, 1.0 - 1e-3, half),
                        1.0 - np.logspace(-3, -9, G - half - 1)])
    if ppf is not None:
        with np.errstate(all="ignore"):
            t = np.asarray(ppf(q), dtype=np.float64)
        if not np.all(np.isfinite(t)):
            ppf = None
    if ppf is None:
        # bracket the 1 - 1e-9 quantile by doubling/halving, then bisect all quantiles at once
        def F(v):
            return np.asarray(cdf(v), dtype=np.float64)
        hi = 1.0
        for _ in range(200):
            if F(hi) >= 1.0 - 1e-9:
                break
            hi *= 2.0
        else:
            raise ValueError("runtime_cdf does not reach 1 - 1e-9 below 2**200: give a grid.")
        for _ in range(200):
            if F(hi / 2.0) < 1.0 - 1e-9:
                break
            hi /= 2.0
        lo_v, hi_v = np.zeros_like(q), np.full_like(q, hi)
        for _ in range(80):
            mid = 0.5 * (lo_v + hi_v)
            Fm = F(mid)
            below = np.where(q > 0, Fm < q, Fm <= 0)  # q = 0: the end of the flat start
            lo_v = np.where(below, mid, lo_v)
            hi_v = np.where(below, hi_v, mid)
        t = hi_v
    t = np.unique(np.r_[0.0, np.maximum(t, 0.0)])
    return t


class MDSCodedMatVec(_CodedMatVec):
    """``A @ x`` with a real MDS-type code: any ``k`` of the ``n_workers`` results decode.

    Coded block ``i`` is ``sum_j G[j, i] A_j`` for a ``k x n_workers`` generator ``G``
    (i.i.d. Gaussian: every ``k`` columns are invertible with probability one; or a real
    Vandermonde matrix on Chebyshev nodes, badly conditioned beyond a few dozen blocks).
    Decoding solves a ``k x k`` linear system: ``O(k^3 + k^2 M / k)`` flops.

    Parameters
    ----------
    n_workers : int
    k : int
        Number of data blocks (``1 <= k <= n_workers``).
    generator : {"gaussian", "vandermonde"}, default="gaussian"
    random_state : int, RandomState instance or None, default=None
        Seed of the Gaussian generator.

    Attributes
    ----------
    n_workers_, n_blocks_ : int
    generator_ : ndarray of shape (k, n_workers)
    coded_blocks_ : ndarray of shape (n_workers, ceil(M / k), d)
    decode_flops_ : int
        Flops of the last decode (LU of the ``k x k`` system plus the solves).

    Notes
    -----
    Accuracy is normwise, as for :class:`PolarCodedMatVec` (see its Notes): a decoded block
    is a linear combination of coded results that mix it with the larger blocks, so rows
    far smaller than the largest lose their relative accuracy; scale rows to similar norms
    before coding.

    Examples
    --------
    >>> import numpy as np
    >>> from skconvex.distributed import MDSCodedMatVec
    >>> rng = np.random.default_rng(0)
    >>> A, x = rng.standard_normal((40, 3)), rng.standard_normal(3)
    >>> code = MDSCodedMatVec(8, 4, random_state=0).fit(A)
    >>> y = code.matvec(x, available=[0, 2, 5, 7])     # any 4 of the 8 workers
    >>> bool(np.allclose(y, A @ x))
    True
    """

    def __init__(self, n_workers, k, *, generator="gaussian", random_state=None):
        self.n_workers = n_workers
        self.k = k
        self.generator = generator
        self.random_state = random_state

    def _design(self):
        N, K = self.n_workers, self.k
        if not isinstance(N, Integral) or N < 1:
            raise ValueError(f"n_workers must be a positive integer, got {N!r}.")
        if not isinstance(K, Integral) or not 1 <= K <= N:
            raise ValueError(f"k must be an integer in [1, n_workers={N}], got {K!r}.")
        self._setup(N, K)
        if self.generator == "gaussian":
            G = check_random_state(self.random_state).standard_normal((K, N))
        elif self.generator == "vandermonde":
            nodes = np.cos(np.pi * (np.arange(N) + 0.5) / N)
            G = nodes[None, :] ** np.arange(K)[:, None]
        else:
            raise ValueError(f"generator must be 'gaussian' or 'vandermonde', got "
                             f"{self.generator!r}.")
        self.generator_ = G

    def encode(self, blocks):
        """Encode data blocks (K, ...) into coded blocks (N, ...): a dense combination."""
        blocks = np.asarray(blocks)
        if blocks.shape[0] != self.n_blocks_:
            raise ValueError(f"expected {self.n_blocks_} data blocks, got {blocks.shape[0]}.")
        flat = blocks.reshape(self.n_blocks_, -1)
        dtype = np.result_type(blocks.dtype, np.float32)
        out = (self.generator_.T.astype(dtype) @ flat.astype(dtype, copy=False))
        return out.reshape((self.n_workers_,) + blocks.shape[1:])

    def generator_matrix(self):
        check_is_fitted(self, "generator_")
        return self.generator_

    def can_decode(self, available):
        check_is_fitted(self, "generator_")
        return int(_check_available(available, self.n_workers_).sum()) >= self.n_blocks_

    def decode(self, results, available=None):
        """``A @ x`` from any ``k`` available results (the first ``k`` in worker order):
        a ``k x k`` solve. Raises :class:`UndecodableError` with fewer than ``k``."""
        check_is_fitted(self, "block_rows_")
        Y, mask, shape = self._collect(results, available)
        K = self.n_blocks_
        idx = np.flatnonzero(mask)
        if idx.size < K:
            raise UndecodableError(
                f"cannot decode: {idx.size} of {self.n_workers_} workers available, the MDS "
                f"code needs any {K}. Wait for more workers.")
        idx = idx[:K]
        U = np.linalg.solve(self.generator_[:, idx].T, Y[idx])
        L = Y.shape[1]
        self.decode_flops_ = int(2 * K ** 3 // 3 + 2 * K * K * L)
        return self._assemble(U, shape)

    def completion_time(self, T):
        """The ``k``-th smallest runtime: the information-theoretic lower bound of any scheme
        in which each worker does ``1/k`` of the work."""
        T = self._check_T(T)
        return np.sort(T, axis=-1)[..., self.n_blocks_ - 1][()]


class UncodedMatVec(_CodedMatVec):
    """The uncoded baseline: ``n_workers`` data blocks, one per worker; every result is
    needed (the run waits for the slowest worker).

    Parameters
    ----------
    n_workers : int

    Examples
    --------
    >>> import numpy as np
    >>> from skconvex.distributed import UncodedMatVec
    >>> A, x = np.arange(12.0).reshape(6, 2), np.ones(2)
    >>> UncodedMatVec(3).fit(A).matvec(x)
    array([ 1.,  5.,  9., 13., 17., 21.])
    """

    def __init__(self, n_workers):
        self.n_workers = n_workers

    def _design(self):
        N = self.n_workers
        if not isinstance(N, Integral) or N < 1:
            raise ValueError(f"n_workers must be a positive integer, got {N!r}.")
        self._setup(N, N)

    def encode(self, blocks):
        blocks = np.asarray(blocks)
        if blocks.shape[0] != self.n_blocks_:
            raise ValueError(f"expected {self.n_blocks_} data blocks, got {blocks.shape[0]}.")
        return blocks.copy()

    def generator_matrix(self):
        check_is_fitted(self, "n_blocks_")
        return np.eye(self.n_workers_)

    def can_decode(self, available):
        check_is_fitted(self, "block_rows_")
        return bool(_check_available(available, self.n_workers_).all())

    def decode(self, results, available=None):
        """Concatenate the results; raises :class:`UndecodableError` if any is missing."""
        check_is_fitted(self, "block_rows_")
        Y, mask, shape = self._collect(results, available)
        if not mask.all():
            raise UndecodableError(
                f"cannot decode: uncoded computation needs every worker; missing "
                f"{np.flatnonzero(~mask)[:10].tolist()}"
                f"{'...' if (~mask).sum() > 10 else ''}.")
        self.decode_flops_ = 0
        return self._assemble(Y, shape)

    def completion_time(self, T):
        """The largest runtime."""
        return self._check_T(T).max(axis=-1)

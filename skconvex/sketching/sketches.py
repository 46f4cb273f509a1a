"""Random embeddings S (m x n) applied as ``S @ diag(w) @ A`` without forming S.

Every kind satisfies E[S^T S] = I_n (math: ``spec/sketching.md`` section 1):

``gaussian``
    i.i.d. N(0, 1/m) entries, generated block by block (``_dense_block_size(m)`` columns of
    S at a time, block ``b`` from its own seeded generator), so S is never held whole and
    every ``apply`` regenerates exactly the same S. A reference, not a default: it costs a
    GEMM with m rows plus the generation of m*n normals.
``rademacher``
    i.i.d. +-1/sqrt(m) entries, same blocking.
``srht``
    S = (1/sqrt(m)) P H D: D random signs (n), H the unnormalized Walsh-Hadamard matrix of
    order N = 2^ceil(log2 n) acting on the zero-padded columns of A, P picks m of the N rows
    without replacement. Equivalently sqrt(N/m) times the normalized Hadamard. Requires
    m <= N.
``sjlt``
    Each column of S has s = ``nnz_per_row`` (default 1: CountSketch) nonzeros +-1/sqrt(s) in
    s distinct uniformly random rows (Floyd's algorithm). Cost O(s nnz(A)).
``less_uniform``
    Each row of S has s nonzeros in columns drawn uniformly with replacement, values
    +-sqrt(n/(m s)); repeated draws of a column add up (each with its own sign).
``less``
    As ``less_uniform`` but column j is drawn with probability p_j (``probabilities``,
    normalized to sum 1), value +-1/sqrt(s m p_j) per draw. Unbiasedness: for one row,
    E[S_rj^2] = sum_k P(draw k = j) / (s m p_j) = 1/m, and distinct columns j != j' only meet
    through distinct draws with independent signs, so E[S^T S] = I. (The spec's variant,
    one sign and value sqrt(c_j/(s m p_j)) for c_j repeats, is unbiased too; independent
    signs per draw keep the sketch a plain sum of rank-one terms.)

Default nnz_per_row for the LESS kinds is the Newton-LESS choice s = d (number of columns of
A), capped at n. ``sketch`` knows d; a ``Sketch`` built with ``nnz_per_row=None`` takes
s = min(n, d) from the first ``A`` given to ``apply`` and keeps it, so that the same S is
then applied to other arrays (e.g. the right-hand side). Likewise ``Sketch(kind="less")``
without ``probabilities`` takes the approximate leverage scores of the first ``A`` (times
``row_weights``) and keeps them.

random_state: None, an int, a ``np.random.RandomState`` (sklearn convention, see
``sklearn.utils.check_random_state``) or a ``np.random.Generator``. It is turned into one
integer of entropy at construction; all random draws are derived from it through
``np.random.default_rng([entropy, tag, ...])``, so the randomness of a Sketch is fixed.
An int seed is used as is, so ``Sketch(..., random_state=0)`` is reproducible.
"""

import numbers

import numba
import numpy as np
import scipy.sparse as sp
from sklearn.utils import assert_all_finite, check_array, check_random_state

from skconvex.sketching import _kernels as K
from skconvex.utils._parallel import run_tasks as _run_tasks

SKETCH_KINDS = ("gaussian", "rademacher", "srht", "sjlt", "less_uniform", "less")

_SPARSE_KINDS = ("sjlt", "less_uniform", "less")
_LESS_KINDS = ("less_uniform", "less")

# tags separating the random streams derived from one entropy value
_TAG_DENSE = 1
_TAG_SRHT = 2
_TAG_SJLT = 3
_TAG_LESS = 4
_TAG_LEVERAGE = 5


# --------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------


def _check_kind(kind):
    if not isinstance(kind, str) or kind not in SKETCH_KINDS:
        raise ValueError(f"kind must be one of {SKETCH_KINDS}; got {kind!r}.")
    return kind


def _check_int(value, name, minimum=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}.")
    return value


def _entropy(random_state):
    """One non-negative integer of entropy from an int / RandomState / Generator / None."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int; got {random_state}.")
        return int(random_state)
    rs = check_random_state(random_state)  # None -> numpy's global RandomState
    return int(rs.randint(0, 2**31 - 1))


def _rng(entropy, *tags):
    return np.random.default_rng([entropy, *tags])


def _check_A(A, *, finite=True):
    """Validate A: dense 1-D/2-D or sparse CSR/CSC (other sparse formats -> CSR);
    float64/float32 kept, other real numbers -> float64, complex rejected.

    ``finite=False`` skips the NaN/inf scan (a full pass over A); callers then check
    finiteness themselves (``Sketch._apply_checked``).
    """
    if sp.issparse(A):
        if np.iscomplexobj(A.data if hasattr(A, "data") else A):
            raise ValueError("A must be real; got complex data.")
    else:
        if not hasattr(A, "ndim"):
            A = np.asarray(A)
        if A.ndim not in (1, 2):
            raise ValueError(f"A must be a 1-D or 2-D array; got a {A.ndim}-D array.")
        if np.iscomplexobj(A):
            raise ValueError("A must be real; got complex data.")
    return check_array(
        A,
        accept_sparse=("csr", "csc"),
        dtype=(np.float64, np.float32),
        ensure_all_finite=finite,
        ensure_2d=False,
        allow_nd=False,
        input_name="A",
    )


def _assert_finite_A(A):
    assert_all_finite(A.data if sp.issparse(A) else A, input_name="A")


def _check_row_weights(row_weights, n, dtype):
    if row_weights is None:
        return None
    w = np.asarray(row_weights)
    if np.iscomplexobj(w):
        raise ValueError("row_weights must be real.")
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(
            f"row_weights must be a 1-D array of length n={n}; got shape {w.shape}."
        )
    w = w.astype(dtype, copy=False)
    if not np.all(np.isfinite(w)):
        raise ValueError("row_weights must be finite.")
    return w


def _check_probabilities(probabilities, n):
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 1 or p.shape[0] != n:
        raise ValueError(
            f"probabilities must be a 1-D array of length n={n}; got shape {p.shape}."
        )
    if not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(
            "probabilities must be finite, non-negative and have a positive sum."
        )
    return p / p.sum()


def _dense_block_size(m):
    """Columns of S generated at once by gaussian/rademacher: about 2**22 entries."""
    return int(min(4096, max(64, (1 << 22) // m)))


def _num_threads():
    """Threads the kernels may use: numba's NUMBA_NUM_THREADS (default: the cores)."""
    return max(1, int(numba.config.NUMBA_NUM_THREADS))


# Below this many multiply-adds a kernel runs on the calling thread only (starting a
# thread costs ~0.1 ms).
_PARALLEL_MIN_WORK = 1 << 21


def _threads_for(work):
    return _num_threads() if work >= _PARALLEL_MIN_WORK else 1


def _split(total, parts, align=1, cap=None):
    """Split points of range(total) into about ``parts`` pieces, multiples of ``align``
    (except the end) and at most ``cap`` long."""
    size = -(-total // max(1, parts))
    size = -(-size // align) * align
    if cap is not None:
        size = max(align, min(size, cap))
    return list(range(0, total, max(1, size))) + [total]


def _scatter_plan(nt, d, dtype, c_order, updates_per_row):
    """Split points of the output columns for ``_kernels.scatter_dense`` on nt threads.

    One block per thread, aligned to 64 bytes; one block for one thread, a narrow A, or a
    C-ordered A with fewer than 4 output-row updates per row of A (the scatter then
    streams A at memory speed on one thread, and a second thread reading the other half
    of each row only adds traffic). F-ordered A (``scatter_dense_f``) is always split:
    each thread then reads its own columns, contiguously.
    Measured on 2 cores, n=1e5, d=1000, m=1600, float64 (one BLAS A @ v: 0.019-0.025 s
    idle), with prange over the same blocks: sjlt s=1, C-ordered: serial 0.041-0.050 s,
    2 column blocks 0.047 s, row chunks with a private output buffer per thread
    0.034-0.050 s (memory-bound: parallelism barely pays; the buffers were dropped);
    less_uniform s=d=1000 (1.6e6 row updates), C-ordered: serial 0.46 s, 2 column
    blocks 0.27 s, 4-8 blocks 0.28-0.38 s (the older row-gather kernel: 0.77 s).
    """
    align = 64 // np.dtype(dtype).itemsize
    if nt == 1 or d < align * nt or (c_order and updates_per_row < 4):
        return [0, d]
    return _split(d, nt, align)


_SRHT_BUFFER_BYTES = 1 << 26  # per task


def _pow2_floor(x):
    return 1 << max(0, int(x).bit_length() - 1)


def _srht_plan(nt, N, d, itemsize, c_order):
    """(P, L, T, bounds) of the srht kernels on nt threads (see ``_kernels``); bounds are
    the split points of the panels among the threads.

    Panels of P columns: 32 for C-ordered A (256-byte row segments keep the copy-in
    streaming), 8 for F-ordered or CSC A (one stream per column), fewer when the N x P
    buffer would pass ``_SRHT_BUFFER_BYTES``; chunks of L rows of about 128 KiB and tiles
    of T offsets of about 256 KiB (L2 is 1 MiB per core here). Measured, one thread,
    n=1e5 (N=2^17), d=1000, float64: C-ordered 0.80 / 0.56 / 0.43 / 0.45 s for
    P = 8 / 16 / 32 / 64, F-ordered 0.29 / 0.34 / 0.39 / 0.45 s.
    """
    P = 32 if c_order else 8
    P = min(P, 8 * -(-d // 8))
    while P > 8 and N * P * itemsize > _SRHT_BUFFER_BYTES:
        P //= 2
    row_bytes = P * itemsize
    L = min(N, _pow2_floor(max(1, (1 << 17) // row_bytes)))
    T = min(L, _pow2_floor(max(1, (1 << 18) // ((N // L) * row_bytes))))
    npanels = -(-d // P)
    return P, L, T, _split(npanels, nt)


# --------------------------------------------------------------------------------------
# Sketch
# --------------------------------------------------------------------------------------


class Sketch:
    """A random embedding S (m x n) with its randomness fixed at construction; never formed.

    Parameters
    ----------
    n : int
        Number of rows of the matrices the sketch is applied to.
    m : int
        Sketch size (rows of S). Any m >= 1 (m > n is allowed: it is an embedding) except
        for ``srht``, which needs m <= 2**ceil(log2 n).
    kind : {"gaussian", "rademacher", "srht", "sjlt", "less_uniform", "less"}
        See the module docstring.
    nnz_per_row : int or None
        s: nonzeros per column of S for ``sjlt`` (default 1, must be <= m), per row of S
        for the LESS kinds (default min(n, d), fixed by the first ``apply``). Ignored by
        the dense kinds.
    probabilities : array (n,) or None
        Column sampling probabilities of ``less`` (normalized to sum 1). Default: the
        approximate leverage scores of the first ``diag(row_weights) @ A`` passed to
        ``apply``.
    random_state : None, int, RandomState or Generator

    Attributes
    ----------
    n, m, kind : as given
    nnz : int or None
        s as resolved (None for the dense kinds, and for a LESS sketch built without
        ``nnz_per_row`` until its first ``apply``).
    probabilities : ndarray (n,) or None
        The sampling probabilities of ``less`` once known.
    entropy : int
        The integer all random draws derive from.
    """

    def __init__(
        self, n, m, kind="sjlt", *, nnz_per_row=None, probabilities=None, random_state=None
    ):
        self.n = _check_int(n, "n")
        self.m = _check_int(m, "m")
        if self.m >= 2**31:  # row indices of S are int32
            raise ValueError(f"m must be < 2**31; got m={self.m}.")
        self.kind = _check_kind(kind)
        if nnz_per_row is not None:
            nnz_per_row = _check_int(nnz_per_row, "nnz_per_row")
        if probabilities is not None and self.kind != "less":
            raise ValueError(
                f"probabilities is only used by kind='less'; got kind={self.kind!r}."
            )
        self.entropy = _entropy(random_state)
        self.nnz = None
        self.probabilities = None
        self._s_indptr = None  # CSC pattern of S for the sparse kinds
        n, m = self.n, self.m
        if self.kind == "srht":
            self._padded_n = 1 << max(0, int(np.ceil(np.log2(n))))
            if m > self._padded_n:
                raise ValueError(
                    f"m must be <= the padded size 2**ceil(log2(n)) = {self._padded_n} "
                    f"for kind='srht'; got m={m}."
                )
            rng = _rng(self.entropy, _TAG_SRHT)
            self._signs = rng.integers(0, 2, size=n, dtype=np.int8) * np.int8(2) - np.int8(1)
            self._rows = np.sort(rng.choice(self._padded_n, size=m, replace=False))
        elif self.kind == "sjlt":
            s = 1 if nnz_per_row is None else nnz_per_row
            if s > m:
                raise ValueError(
                    f"nnz_per_row must be <= m for kind='sjlt' (distinct rows); got "
                    f"nnz_per_row={s}, m={m}."
                )
            self.nnz = s
            rng = _rng(self.entropy, _TAG_SJLT)
            if s == 1:
                rows = rng.integers(0, m, size=n, dtype=np.int32)
            else:
                draws = rng.integers(0, m - s + 1 + np.arange(s), size=(n, s))
                rows = K.floyd_distinct_rows(draws.astype(np.intp), m).ravel()
                rows = rows.astype(np.int32)
            signs = rng.integers(0, 2, size=n * s, dtype=np.int8) * 2.0 - 1.0
            self._s_indptr = np.arange(0, n * s + 1, s, dtype=np.intp)
            self._s_rows = rows
            self._s_base = signs * (1.0 / np.sqrt(s))
        elif self.kind in _LESS_KINDS:
            if probabilities is not None:
                self.probabilities = _check_probabilities(probabilities, n)
            self.nnz = nnz_per_row
            if self.nnz is not None and (
                self.kind == "less_uniform" or self.probabilities is not None
            ):
                self._draw_less()

    # ------------------------------------------------------------------ LESS set-up
    def _draw_less(self):
        m, n, s = self.m, self.n, self.nnz
        rng = _rng(self.entropy, _TAG_LESS, s)
        if self.kind == "less_uniform":
            cols = rng.integers(0, n, size=(m, s))
        else:
            cols = rng.choice(n, size=(m, s), p=self.probabilities)
        indptr, rows = K.csc_pattern(cols.astype(np.intp, copy=False), n)
        del cols
        # the signs are i.i.d. and independent of the pattern: drawn in CSC order
        base = rng.integers(0, 2, size=m * s, dtype=np.int8) * 2.0 - 1.0
        if self.kind == "less_uniform":
            base *= np.sqrt(n / (m * s))
        else:
            with np.errstate(divide="ignore"):  # columns with p_j = 0 are never drawn
                scale = 1.0 / np.sqrt(s * m * self.probabilities)
            base *= np.repeat(scale, np.diff(indptr))
        self._s_indptr, self._s_rows, self._s_base = indptr, rows, base

    def _resolve_less(self, A, w):
        if self.nnz is None:
            d = 1 if A.ndim == 1 else A.shape[1]
            self.nnz = min(self.n, d)
        if self.kind == "less" and self.probabilities is None:
            lev = _leverage_scores(A, w, 5.0, _rng(self.entropy, _TAG_LEVERAGE))
            self.probabilities = _normalize_scores(lev)
        self._draw_less()

    # ------------------------------------------------------------------ apply
    def apply(self, A, *, row_weights=None, dense_output=True):
        """Return ``S @ diag(row_weights) @ A``.

        Parameters
        ----------
        A : ndarray (n, d) or (n,), C- or F-ordered (other strides are copied), or
            scipy.sparse (CSR/CSC used as is, other formats converted to CSR).
        row_weights : array (n,) or None
        dense_output : bool
            ``False`` returns a CSR matrix (array if A is a sparse array) when A is sparse
            and kind is one of ``sjlt``, ``less_uniform``, ``less``; in every other case
            the result is a C-ordered ndarray (as ``sklearn.utils.extmath.safe_sparse_dot``
            does).

        Returns
        -------
        ndarray (m, d) or (m,), float32 if A is float32 else float64; or a CSR matrix.
        """
        return self._apply_checked(_check_A(A, finite=False), row_weights, dense_output)

    def _apply_checked(self, A, row_weights, dense_output, finite_checked=False):
        """apply() for an A that went through ``_check_A(A, finite=False)``.

        NaN/inf in A: every column of S of the kinds sjlt, srht, gaussian and rademacher
        has nonzeros (a.s.), so S diag(w) A is finite if and only if A is (0 * inf = nan,
        and a sum with a non-finite term is non-finite). For them the O(m d) output is
        scanned and, only if it is not finite, A itself (to tell NaN/inf in A, which
        raises as check_array does, from an overflow, which is returned). This saves the
        full pass over A that check_array's scan costs. The LESS kinds and sparse output
        scan A up front.
        """
        if A.shape[0] != self.n:
            raise ValueError(
                f"A has {A.shape[0]} rows but this sketch was built for n={self.n}."
            )
        dtype = A.dtype
        w = _check_row_weights(row_weights, self.n, dtype)
        sparse_out = sp.issparse(A) and not dense_output and self.kind in _SPARSE_KINDS
        post_check = not finite_checked and not sparse_out and self.kind not in _LESS_KINDS
        if not finite_checked and not post_check:
            _assert_finite_A(A)
        if self.kind in _LESS_KINDS and self._s_indptr is None:
            self._resolve_less(A, w)

        if sparse_out:
            S = self._sparse_matrix(w, dtype)
            if not isinstance(A, sp.sparray):
                S = sp.csr_matrix(S)
            return (S @ A).tocsr()
        if sp.issparse(A):
            out = self._apply_sparse(A, w, dtype)
        else:
            one_d = A.ndim == 1
            A2 = A.reshape(self.n, 1) if one_d else A
            if not (A2.flags.c_contiguous or A2.flags.f_contiguous):
                A2 = np.ascontiguousarray(A2)
            out = self._apply_dense(A2, w, dtype)
            if one_d:
                out = out.reshape(self.m)
        if post_check and not np.isfinite(out).all():
            _assert_finite_A(A)
        return out

    # dense A ----------------------------------------------------------------------------
    def _apply_dense(self, A, w, dtype):
        n, d = A.shape
        m = self.m
        if self.kind in ("gaussian", "rademacher"):
            out = np.zeros((m, d), dtype=dtype)
            with np.errstate(invalid="ignore"):  # NaN in A: reported by _apply_checked
                for start, G in self._dense_blocks(w, dtype):
                    out += G @ A[start : start + G.shape[1]]
            return out
        if self.kind == "srht":
            out = np.empty((m, d), dtype=dtype)
            self._srht(A, w, dtype, out)
            return out
        out = np.zeros((m, d), dtype=dtype)
        nnz_s = self._s_rows.shape[0]
        c_order = A.flags.c_contiguous
        bounds = _scatter_plan(_threads_for(nnz_s * d), d, dtype, c_order, nnz_s / n)
        args = (A, self._s_indptr, self._s_rows, self._coef(dtype), self._weights(w, dtype))
        _run_tasks(K.scatter_dense if c_order else K.scatter_dense_f, args + (out,), bounds)
        return out

    # sparse A ---------------------------------------------------------------------------
    def _apply_sparse(self, A, w, dtype):
        n, d = A.shape
        m = self.m
        if self.kind in ("gaussian", "rademacher"):
            A = A.tocsr()  # row blocks of a CSC matrix are not cheap to slice
            out = np.zeros((m, d), dtype=dtype)
            for start, G in self._dense_blocks(w, dtype):
                out += (A[start : start + G.shape[1]].T @ G.T).T
            return out
        if self.kind == "srht":
            A = A.tocsc()  # the transform works column block by column block
            out = np.empty((m, d), dtype=dtype)
            self._srht(A, w, dtype, out)
            return out
        args = (self._s_indptr, self._s_rows, self._coef(dtype), self._weights(w, dtype))
        args = (A.indptr, A.indices, A.data) + args
        if A.format == "csr":
            out = np.zeros((m, d), dtype=dtype)
            K.scatter_csr(*args, out, 0, d)
            return out
        # multiply-adds: each nonzero of A meets the nonzeros of its column of S
        work = self._s_rows.shape[0] * (A.nnz / max(1, n))
        out = np.zeros((m, d), dtype=dtype, order="F")
        _run_tasks(K.scatter_csc, args + (out,), _split(d, _threads_for(work)))
        return np.ascontiguousarray(out)

    # pieces -----------------------------------------------------------------------------
    def _coef(self, dtype):
        return self._s_base.astype(dtype, copy=False)

    def _weights(self, w, dtype):
        return np.ones(self.n, dtype=dtype) if w is None else w

    def _dense_blocks(self, w, dtype):
        """Yield (start, S[:, start:start+b] @ diag(w[start:...])) in the dtype of A."""
        n, m = self.n, self.m
        bs = _dense_block_size(m)
        inv = 1.0 / np.sqrt(m)
        for b, start in enumerate(range(0, n, bs)):
            width = min(bs, n - start)
            rng = _rng(self.entropy, _TAG_DENSE, b)
            if self.kind == "gaussian":
                G = rng.standard_normal((m, width))
                G *= inv
            else:
                G = rng.integers(0, 2, size=(m, width), dtype=np.int8) * (2.0 * inv) - inv
            if w is not None:
                G *= w[start : start + width]
            yield start, G.astype(dtype, copy=False)

    def _srht(self, A, w, dtype, out):
        dw = self._signs.astype(dtype)
        if w is not None:
            dw *= w
        scale = dtype.type(1.0 / np.sqrt(self.m))
        N, d = self._padded_n, A.shape[1]
        c_order = not sp.issparse(A) and A.flags.c_contiguous
        nt = _threads_for(N * max(1, N.bit_length() - 1) * d)
        P, L, T, bounds = _srht_plan(nt, N, d, np.dtype(dtype).itemsize, c_order)
        args = (dw, self._rows, scale, out, N, P, L, T)
        if sp.issparse(A):
            _run_tasks(K.srht_csc, (A.indptr, A.indices, A.data) + args, bounds)
        else:
            _run_tasks(K.srht_dense, (A,) + args, bounds)

    def _sparse_matrix(self, w, dtype):
        """S @ diag(w) as a scipy CSR array (sparse kinds only)."""
        data = self._coef(dtype).copy()
        if w is not None:
            data *= np.repeat(w, np.diff(self._s_indptr))
        S = sp.csc_array((data, self._s_rows, self._s_indptr), shape=(self.m, self.n))
        return S.tocsr()

    # ------------------------------------------------------------------ toarray
    def toarray(self):
        """Form S explicitly as a dense (m, n) float64 array (tests and small problems)."""
        n, m = self.n, self.m
        if self.kind in ("gaussian", "rademacher"):
            S = np.empty((m, n))
            for start, G in self._dense_blocks(None, np.dtype(np.float64)):
                S[:, start : start + G.shape[1]] = G
            return S
        if self.kind == "srht":
            # H[i, j] = (-1)^popcount(i & j): formed directly, independent of the FWHT kernel
            parity = np.bitwise_count(self._rows[:, None] & np.arange(n)[None, :]) & 1
            return (1.0 - 2.0 * parity) * self._signs / np.sqrt(m)
        if self._s_indptr is None:
            raise ValueError(
                "This LESS sketch was built without nnz_per_row"
                + (" / probabilities" if self.kind == "less" else "")
                + "; they are fixed by the first apply(A). Pass nnz_per_row (and "
                "probabilities for kind='less') to form S before applying it."
            )
        S = np.zeros((m, n))
        cols = np.repeat(np.arange(n), np.diff(self._s_indptr))
        np.add.at(S, (self._s_rows, cols), self._s_base)
        return S

    def __repr__(self):
        return (
            f"Sketch(n={self.n}, m={self.m}, kind={self.kind!r}, nnz={self.nnz}, "
            f"entropy={self.entropy})"
        )


# --------------------------------------------------------------------------------------
# functional interface
# --------------------------------------------------------------------------------------


def sketch(
    A,
    m,
    kind="sjlt",
    *,
    nnz_per_row=None,
    row_weights=None,
    random_state=None,
    dense_output=True,
):
    """``S @ diag(row_weights) @ A`` without forming S.

    Equivalent to ``Sketch(A.shape[0], m, kind, nnz_per_row=s, probabilities=p,
    random_state=random_state).apply(A, row_weights=row_weights, dense_output=...)``
    where, for the LESS kinds, s defaults to min(n, d) (Newton-LESS) and, for ``less``,
    p are the approximate leverage scores of ``diag(row_weights) @ A``
    (:func:`approximate_leverage_scores`, seeded from ``random_state``) normalized to sum 1.
    With an int ``random_state`` that equivalence is exact.
    """
    kind = _check_kind(kind)
    m = _check_int(m, "m")
    A = _check_A(A, finite=False)
    n = A.shape[0]
    d = 1 if A.ndim == 1 else A.shape[1]
    entropy = _entropy(random_state)
    probabilities = None
    finite_checked = False
    if kind in _LESS_KINDS:
        _assert_finite_A(A)
        finite_checked = True
        if nnz_per_row is None:
            nnz_per_row = min(n, d)
        if kind == "less":
            w = _check_row_weights(row_weights, n, A.dtype)
            lev = _leverage_scores(A, w, 5.0, _rng(entropy, _TAG_LEVERAGE))
            probabilities = _normalize_scores(lev)
    S = Sketch(
        n, m, kind, nnz_per_row=nnz_per_row, probabilities=probabilities,
        random_state=entropy,
    )
    return S._apply_checked(A, row_weights, dense_output, finite_checked)


# --------------------------------------------------------------------------------------
# leverage scores
# --------------------------------------------------------------------------------------


def _normalize_scores(lev):
    total = lev.sum()
    if not np.isfinite(total) or total <= 0:
        return np.full(lev.shape[0], 1.0 / lev.shape[0])
    return lev / total


def _row_blocks(n, ncols):
    """Row blocks so that a block of an (n, ncols) product holds about 2**22 entries."""
    bs = max(256, (1 << 22) // max(1, ncols))
    return [(start, min(n, start + bs)) for start in range(0, n, bs)]


def _leverage_scores(A, w, oversampling, rng):
    """Approximate leverage scores of diag(w) @ A (A already validated)."""
    if A.ndim == 1:
        A = A.reshape(-1, 1)
    n, d = A.shape
    m_sk = int(np.ceil(oversampling * d)) + 10
    seed = int(rng.integers(0, 2**63 - 1))
    if m_sk >= n:
        # the sketch would not be smaller than A: exact scores from a thin SVD
        B = A.toarray() if sp.issparse(A) else np.asarray(A)
        B = B.astype(np.float64, copy=False)
        if w is not None:
            B = B * w[:, None]
        U, sv, _ = np.linalg.svd(B, full_matrices=False)
        if sv.size == 0 or sv[0] == 0:
            return np.zeros(n)
        r = int(np.sum(sv > sv[0] * max(n, d) * np.finfo(np.float64).eps))
        return np.einsum("ij,ij->i", U[:, :r], U[:, :r])
    # two nonzeros per column (OSNAP): with one (CountSketch) a few heavy rows colliding
    # in a bucket inflated their scores up to 8x on a coherent test matrix, with two 2x
    SA = Sketch(n, m_sk, "sjlt", nnz_per_row=min(2, m_sk), random_state=seed)._apply_checked(
        A, w, True, finite_checked=True
    )
    R = np.linalg.qr(SA.astype(np.float64, copy=False), mode="r")
    _, sv, Vt = np.linalg.svd(R)
    if sv.size == 0 or sv[0] == 0:
        return np.zeros(n)
    r = int(np.sum(sv > sv[0] * max(m_sk, d) * np.finfo(np.float64).eps))
    M = Vt[:r].T / sv[:r]  # (d, r): A M has orthonormal-ish columns
    k = max(40, int(np.ceil(4.0 * np.log(n))))
    if k < r:
        # Johnson-Lindenstrauss projection of the rows of A M (Drineas et al., 2012)
        G = np.random.default_rng(seed + 1).standard_normal((r, k)) / np.sqrt(k)
        M = M @ G
    M = M.astype(A.dtype, copy=False)
    lev = np.empty(n)
    if sp.issparse(A):
        A = A.tocsr()
    for start, stop in _row_blocks(n, M.shape[1]):
        P = A[start:stop] @ M
        lev[start:stop] = np.einsum("ij,ij->i", P, P)
    if w is not None:
        lev *= w.astype(np.float64) ** 2
    # ||A R^-1||_F^2 = tr((U^T S^T S U)^-1) is biased up by about m / (m - r - 1) (the mean
    # of an inverse Wishart matrix; measured the same for CountSketch): undo it so that
    # the scores sum to about rank(A)
    lev *= max(m_sk - r - 1, 1) / m_sk
    return np.minimum(lev, 1.0, out=lev)  # leverage scores never exceed 1


def approximate_leverage_scores(A, *, oversampling=5.0, random_state=None):
    """Approximate row leverage scores of A, shape (n,), summing to about rank(A).

    An sjlt sketch SA with 2 nonzeros per column and m = ceil(oversampling * d) + 10 rows,
    a QR of SA followed by an SVD of its d x d factor (rank revealing, rank r) gives
    M = V_r diag(1/sigma_r) with A M close to orthonormal; the scores are ||(A M)_i||^2,
    computed by row blocks, after a Gaussian JL projection of M to
    k = max(40, ceil(4 log n)) columns when r > k (Drineas, Magdon-Ismail, Mahoney &
    Woodruff 2012), which keeps the cost at O(nnz(A) k) instead of O(nnz(A) d). The scores
    are then multiplied by (m - r - 1)/m (the upward bias of the inverse of a sketched
    Gram matrix) and clipped at 1. Each score carries a relative error of about
    sqrt(2/k) (JL, ~0.2) times the distortion of the sketch; the sum is within a few
    percent of rank(A). When the sketch would have at least n rows the scores are exact
    (thin SVD). Dense and sparse A. Cost: ~2 scatter passes over A, O(m d^2) for the QR,
    one product of A with a d x k matrix.

    Parameters
    ----------
    A : array (n, d) or sparse matrix
    oversampling : float > 0
        Sketch rows per column of A.
    random_state : None, int, RandomState or Generator
    """
    if isinstance(oversampling, bool) or not isinstance(oversampling, numbers.Real) or not (
        oversampling > 0 and np.isfinite(oversampling)
    ):
        raise ValueError(f"oversampling must be a positive number; got {oversampling!r}.")
    A = _check_A(A)
    entropy = _entropy(random_state)
    return _leverage_scores(A, None, float(oversampling), _rng(entropy, _TAG_LEVERAGE))

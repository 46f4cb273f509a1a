"""Implicit data operators shared by problems and solvers.

``AffineOperator`` represents ``M = diag(r) @ B @ diag(c) - u @ o.T`` without forming it: the
centred and sample-weighted design matrix ``diag(sqrt(w)) @ (X - 1 x_mean^T)`` of a linear
model is one (so neither centring nor weighting copies ``X``, dense or sparse), and so is its
sketch ``S @ M = (S diag(r) B) diag(c) - (S u) o^T``. Products with blocks of vectors are BLAS-3.
"""

import contextlib

import numpy as np
import scipy.sparse as sp

# Dense kernels below this many flops run on one BLAS thread: they are latency bound, and a
# threaded LAPACK factorization of a few-hundred-square matrix spends more time synchronizing
# than computing (measured on a 2-core machine: a 2000 x 2000 Cholesky took 0.12 s on one
# thread and 3-4 s on two). Larger kernels keep the caller's BLAS threading.
SMALL_KERNEL_FLOPS = 2e10
_blas_libs = None


class _OneBlasThread:
    """Pin every loaded BLAS to one thread for the ``with`` block, restoring the previous
    counts after. Cheaper than ``threadpoolctl.threadpool_limits`` (which re-queries every
    library on entry): the library handles are looked up once, and nothing is changed when
    the BLAS already runs on one thread (the usual case inside benchmarks and joblib workers)."""

    __slots__ = ("_saved",)

    def __enter__(self):
        self._saved = []
        for lib in _blas_libs:
            n = lib.num_threads
            if n != 1:
                lib.set_num_threads(1)
                self._saved.append((lib, n))
        return self

    def __exit__(self, *exc):
        for lib, n in self._saved:
            lib.set_num_threads(n)
        return False


def weighted_moments(A, sample_weight=None):
    """``(mean, scale)`` of the columns of ``A`` (n, k): (weighted) means and standard
    deviations, with the scale of a constant column set to 1.

    A column counts as constant when its variance is within the rounding error of computing
    it (scikit-learn's ``StandardScaler`` test: ``var <= n eps var + (n eps mean)^2``), a
    test relative to each column's own mean: a feature of standard deviation 1e-4 next to
    one of mean 1e9, or a feature of standard deviation 1e-13, is scaled like any other."""
    mean = np.average(A, axis=0, weights=sample_weight)
    var = np.average((A - mean) ** 2, axis=0, weights=sample_weight)
    scale = np.sqrt(var)
    scale[constant_columns(mean, var, A.shape[0])] = 1.0
    return mean, scale


def constant_columns(mean, var, n):
    """Which columns of ``n`` rows with these means and variances are constant: variance
    within the rounding error of computing it (see :func:`weighted_moments`)."""
    eps = np.finfo(np.float64).eps
    return ~(var > n * eps * var + (n * eps * mean) ** 2)


def small_kernel(flops):
    """Context manager: one BLAS thread if the kernel costs fewer than ``SMALL_KERNEL_FLOPS``."""
    global _blas_libs
    if flops >= SMALL_KERNEL_FLOPS:
        return contextlib.nullcontext()
    if _blas_libs is None:
        from threadpoolctl import ThreadpoolController

        _blas_libs = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _OneBlasThread()


def _as_2d(V):
    return V[:, None] if V.ndim == 1 else V


class AffineOperator:
    """``M = diag(row_scale) @ B @ diag(col_scale) - u @ offset.T`` (each part optional).

    Parameters
    ----------
    B : ndarray or scipy.sparse matrix of shape (n, d)
    row_scale : ndarray of shape (n,) or None
    col_scale : ndarray of shape (d,) or None
    u : ndarray of shape (n,) or None
        Left factor of the rank-one correction.
    offset : ndarray of shape (d,) or None
        Right factor of the rank-one correction (both or neither of ``u``/``offset``).
    """

    def __init__(self, B, *, row_scale=None, col_scale=None, u=None, offset=None):
        if (u is None) != (offset is None):
            raise ValueError("u and offset must be given together")
        self.B = B
        self.row_scale = row_scale
        self.col_scale = col_scale
        self.u = u
        self.offset = offset
        self.shape = B.shape
        self.dtype = B.dtype
        self.issparse = sp.issparse(B)

    # -- products ---------------------------------------------------------------------------
    def matvec(self, V):
        """``M @ V`` for V of shape (d,) or (d, k)."""
        orig = self._heavy_transpose()
        if orig is not None:
            return orig.rmatvec(V)
        V = np.asarray(V)
        W = V * (self.col_scale[:, None] if V.ndim == 2 else self.col_scale) \
            if self.col_scale is not None else V
        heavy = self._heavy()
        if heavy is not None:  # those columns' part from their centred dense copy
            W = np.array(W)
            V = np.array(V)
            Vh = V[heavy[0]].copy()
            W[heavy[0]] = 0
            V[heavy[0]] = 0
        out = self.B @ W.astype(self.dtype, copy=False)
        out = np.asarray(out)
        if self.row_scale is not None:
            out = out * (self.row_scale[:, None] if out.ndim == 2 else self.row_scale)
        if self.u is not None:
            out = out - (np.outer(self.u, self.offset @ V) if V.ndim == 2
                         else self.u * (self.offset @ V))
        if heavy is not None:
            out = out + heavy[1] @ Vh
        return out

    def rmatvec(self, U):
        """``M.T @ U`` for U of shape (n,) or (n, k)."""
        orig = self._heavy_transpose()
        if orig is not None:
            return orig.matvec(U)
        U = np.asarray(U)
        W = U * (self.row_scale[:, None] if U.ndim == 2 else self.row_scale) \
            if self.row_scale is not None else U
        out = np.asarray(self.B.T @ W.astype(self.dtype, copy=False))
        if self.col_scale is not None:
            out = out * (self.col_scale[:, None] if out.ndim == 2 else self.col_scale)
        if self.u is not None:
            out = out - (np.outer(self.offset, self.u @ U) if U.ndim == 2
                         else self.offset * (self.u @ U))
        heavy = self._heavy()
        if heavy is not None:
            out = np.array(out, dtype=np.float64)
            out[heavy[0]] = heavy[1].T @ U
        return out

    def gram_matvec(self, V):
        """``M.T @ (M @ V)`` reading ``B`` once when it is dense and C-ordered.

        The product runs over blocks of rows small enough to stay in cache between the two
        products (``B_b @ v`` then ``B_b.T @ t``), so a pass over the data costs one read of
        ``B`` instead of two; otherwise it is ``rmatvec(matvec(V))``.
        """
        V = np.asarray(V, dtype=np.float64)
        B = self.B
        if self.issparse or not B.flags.c_contiguous or B.shape[0] < 4096:
            return np.asarray(self.rmatvec(self.matvec(V)), dtype=np.float64)
        vec = V.ndim == 1
        V2 = V[:, None] if vec else V
        n, d = B.shape
        Vc = V2 * self.col_scale[:, None] if self.col_scale is not None else V2
        Vc = Vc.astype(B.dtype, copy=False)
        s0 = self.offset @ V2 if self.u is not None else None
        acc = np.zeros((d, V2.shape[1]))
        su = np.zeros(V2.shape[1])
        rows = max(8, (1 << 17) // max(d, 1))
        r, u = self.row_scale, self.u
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            t = B[start:stop] @ Vc
            if r is not None:
                t = t * r[start:stop, None]
            if u is not None:
                t = t - np.outer(u[start:stop], s0)
                su += u[start:stop] @ t
            if r is not None:
                t = t * r[start:stop, None]
            acc += B[start:stop].T @ t.astype(B.dtype, copy=False)
        if self.col_scale is not None:
            acc *= self.col_scale[:, None]
        if u is not None:
            acc -= np.outer(self.offset, su)
        return acc[:, 0] if vec else acc

    def column_sq_norms(self):
        """``diag(M.T @ M)``: squared column norms (one pass over ``B``)."""
        B, r, c, u, o = self.B, self.row_scale, self.col_scale, self.u, self.offset
        w2 = np.ones(self.shape[0]) if r is None else r * r
        if self.issparse:
            sq = np.asarray(B.multiply(B).T @ w2, dtype=np.float64).ravel()
        else:
            sq = np.einsum("ij,ij,i->j", B, B, w2.astype(B.dtype), dtype=np.float64)
        if c is not None:
            sq = sq * c * c
        if u is not None:
            q = self._scaled_rmatvec_B(np.asarray(u, dtype=np.float64))
            sq = sq - 2.0 * o * q + o * o * float(u @ u)
        return np.maximum(sq, 0.0)

    @property
    def T(self):
        """The transpose, again an ``AffineOperator`` (no copy of ``B``)."""
        T = AffineOperator(self.B.T, row_scale=self.col_scale, col_scale=self.row_scale,
                           u=self.offset, offset=self.u)
        # heavy columns of M are rows of M^T: the transpose's products and Gram matrices go
        # through M's (:meth:`_heavy`), where they are formed densely at a column's cost
        T._transpose_of = self
        return T

    def _heavy_transpose(self):
        """The operator this one is the transpose of, when that one has heavy columns."""
        orig = getattr(self, "_transpose_of", None)
        return orig if orig is not None and orig._heavy() is not None else None

    def scale_columns(self, c):
        """``M @ diag(c)``, again an ``AffineOperator`` (no copy of ``B``)."""
        c = np.asarray(c, dtype=np.float64)
        col = c if self.col_scale is None else self.col_scale * c
        off = None if self.offset is None else self.offset * c
        return AffineOperator(self.B, row_scale=self.row_scale, col_scale=col, u=self.u,
                              offset=off)

    # -- Gram matrices ----------------------------------------------------------------------
    def _scaled_B_blocks(self, block=8192):
        """Yield row blocks of ``diag(r) B diag(c)`` as dense arrays (bounded memory)."""
        n = self.shape[0]
        for start in range(0, n, block):
            Bb = self.B[start:start + block]
            Bb = Bb.toarray() if sp.issparse(Bb) else np.asarray(Bb)
            if self.row_scale is not None:
                Bb = Bb * self.row_scale[start:start + block, None].astype(Bb.dtype, copy=False)
            if self.col_scale is not None:
                Bb = Bb * self.col_scale.astype(Bb.dtype, copy=False)
            yield Bb

    # columns whose rank-one part leaves fewer digits than this ratio of squared norms
    # (uncentred over centred) are formed densely by the sparse Gram matrices
    _HEAVY_RATIO = 1e4

    def _heavy_columns(self):
        """Columns of a sparse ``M = B' - u o^T`` (``B' = diag(r) B diag(c)``) that the
        expanded Gram ``B'^T B' - q o^T - o q^T + (u.u) o o^T`` would get wrong: those whose
        squared norm in ``B'`` exceeds that in ``M`` by ``_HEAVY_RATIO`` (a sparse feature of
        mean 1e6 and spread 1: the expansion cancelled 12 digits, and the ridge coefficients
        came out wrong by 1e-2 to 1 without a warning, or the solvers failed). The squared
        norm in ``M`` is a sum of nonnegative terms, over the stored entries and the zeros."""
        u = np.asarray(self.u, dtype=np.float64)
        o = np.asarray(self.offset, dtype=np.float64)
        # a necessary condition first, from the columns' norms in B' alone (no copy of the
        # structure): by the triangle inequality a column with |o_j| ||u|| < 0.99 ||B'_j||
        # keeps at least 1e-4 of its squared norm once centred
        r2 = None if self.row_scale is None else np.asarray(self.row_scale, float) ** 2
        sq = np.asarray(self.B.power(2).T @ (np.ones(self.shape[0]) if r2 is None else r2),
                        dtype=np.float64).ravel()
        if self.col_scale is not None:
            sq = sq * np.asarray(self.col_scale, float) ** 2
        cand = np.flatnonzero(np.abs(o) * np.sqrt(float(u @ u)) >= 0.99 * np.sqrt(sq))
        cand = cand[sq[cand] > 0]
        if not cand.size:
            return cand
        Bs = self._scaled_B_sparse()[:, cand]
        o = o[cand]
        C = Bs.tocsc()
        rows = C.indices
        cols = np.repeat(np.arange(C.shape[1]), np.diff(C.indptr))
        diff = np.asarray(C.data, dtype=np.float64) - u[rows] * o[cols]
        on_nz = np.bincount(cols, weights=diff * diff, minlength=C.shape[1])
        u_nz = np.bincount(cols, weights=u[rows] ** 2, minlength=C.shape[1])
        centred = on_nz + o * o * np.maximum(float(u @ u) - u_nz, 0.0)
        raw = np.bincount(cols, weights=np.asarray(C.data, dtype=np.float64) ** 2,
                          minlength=C.shape[1])
        return cand[np.flatnonzero(raw > self._HEAVY_RATIO * centred)]

    def _heavy(self):
        """``(columns, their centred dense copy)`` for a sparse operator with a rank-one part
        whose heavy columns (:meth:`_heavy_columns`) fit in memory beside ``B``, else None.
        Products use the copy for those columns: through the expansion ``B' x - u (o . x)``
        a column of mean 1e8 left rounding errors of 1e-8 relative in every product, a floor
        the iterative solvers' measures could not get under."""
        if not (self.issparse and self.u is not None) or \
                getattr(self, "_transpose_of", None) is not None:
            return None
        if not hasattr(self, "_heavy_cache"):
            cols = self._heavy_columns()
            n = self.shape[0]
            ok = cols.size and n * cols.size <= max(4 * self.B.nnz, 1 << 20)
            self._heavy_cache = (cols, self._dense_columns(cols)) if ok else None
        return self._heavy_cache

    def _scaled_B_sparse(self):
        Bs = self.B
        if self.row_scale is not None:
            Bs = sp.diags(self.row_scale) @ Bs
        if self.col_scale is not None:
            Bs = Bs @ sp.diags(self.col_scale)
        return sp.csr_matrix(Bs)

    def _dense_columns(self, cols):
        """Columns ``cols`` of ``M`` as a dense (n, len(cols)) float64 array."""
        Bc = self._scaled_B_sparse()[:, cols].toarray().astype(np.float64)
        return Bc - np.outer(self.u, np.asarray(self.offset, dtype=np.float64)[cols])

    def gram(self):
        """``M.T @ M`` as a dense (d, d) float64 array."""
        orig = self._heavy_transpose()
        if orig is not None:
            return orig.outer_gram()
        d = self.shape[1]
        if self.issparse:
            Bs = self.B
            if self.row_scale is not None:
                Bs = sp.diags(self.row_scale) @ Bs
            if self.col_scale is not None:
                Bs = Bs @ sp.diags(self.col_scale)
            G = np.asarray((Bs.T @ Bs).toarray(), dtype=np.float64)
        elif self.u is not None:
            # dense and centred: the Gram of the centred row blocks. B^T B minus the rank-one
            # terms cancels catastrophically for features of a large mean (a shift of 1e6:
            # coefficients off by 1e-2)
            G = np.zeros((d, d))
            o = np.asarray(self.offset)
            start = 0
            for Bb in self._scaled_B_blocks():
                Mb = Bb - np.outer(self.u[start:start + Bb.shape[0]], o).astype(Bb.dtype)
                G += Mb.T @ Mb
                start += Bb.shape[0]
            return G
        elif self.row_scale is None and self.col_scale is None:
            G = np.asarray(self.B.T @ self.B, dtype=np.float64)
        else:
            G = np.zeros((d, d))
            for Bb in self._scaled_B_blocks():
                G += Bb.T @ Bb
        if self.u is not None:
            # (B' - u o^T)^T (B' - u o^T) = B'^T B' - q o^T - o q^T + (u.u) o o^T, q = B'^T u
            q = self._scaled_rmatvec_B(self.u)
            o = np.asarray(self.offset, dtype=np.float64)
            G -= np.outer(q, o) + np.outer(o, q)
            G += float(self.u @ self.u) * np.outer(o, o)
            cached = self._heavy()
            if cached is not None:
                # their rows and columns from the centred columns: M^T M_h = B'^T M_h -
                # o (u^T M_h), with u^T M_h small (centred), and M_h^T M_h directly
                heavy, Mh = cached
                cross = np.asarray(self._scaled_B_sparse().T @ Mh) - np.outer(o, self.u @ Mh)
                G[:, heavy] = cross
                G[heavy, :] = cross.T
                G[np.ix_(heavy, heavy)] = Mh.T @ Mh
        return G

    def outer_gram(self):
        """``M @ M.T`` as a dense (n, n) float64 array."""
        orig = self._heavy_transpose()
        if orig is not None:
            return orig.gram()
        cached = self._heavy()
        if cached is None:
            return self.T.gram()
        heavy, Mh = cached
        # M M^T is a sum over columns: the heavy ones from their centred dense columns, the
        # others by the expansion (no large offsets left in it)
        light = np.setdiff1d(np.arange(self.shape[1]), heavy)
        Bs = self._scaled_B_sparse()
        rest = AffineOperator(Bs[:, light], u=self.u,
                              offset=np.asarray(self.offset, dtype=np.float64)[light])
        return rest.T.gram() + Mh @ Mh.T

    def _scaled_rmatvec_B(self, U):
        """``(diag(r) B diag(c)).T @ U`` (no rank-one part), float64."""
        W = U * self.row_scale if self.row_scale is not None else U
        out = np.asarray(self.B.T @ W.astype(self.dtype, copy=False), dtype=np.float64)
        if self.col_scale is not None:
            out = out * self.col_scale
        return out

    def toarray(self):
        """Form M densely (tests and small problems only)."""
        Bd = self.B.toarray() if self.issparse else np.asarray(self.B)
        M = np.array(Bd, dtype=np.float64)
        if self.row_scale is not None:
            M *= self.row_scale[:, None]
        if self.col_scale is not None:
            M *= self.col_scale
        if self.u is not None:
            M -= np.outer(self.u, self.offset)
        return M

    def sketched(self, sketch):
        """``S @ M`` for a :class:`skconvex.sketching.Sketch` ``S``, again an operator.

        ``S diag(r) B`` is computed by the sketch kernel with row weights (no copy of ``B``);
        a sparse ``B`` keeps a sparse sketch where the sketch kind allows it.
        """
        dense_output = not (self.issparse and sketch.kind in ("sjlt", "less_uniform", "less"))
        SB = sketch.apply(self.B, row_weights=self.row_scale, dense_output=dense_output)
        Su = None if self.u is None else sketch.apply(np.asarray(self.u, dtype=np.float64))
        return AffineOperator(SB, col_scale=self.col_scale, u=Su, offset=self.offset)

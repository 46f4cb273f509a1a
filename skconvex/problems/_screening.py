"""Skipping the cone projections of a group prox whose result is known to be zero.

The prox of ``step * (alpha ||u|| + indicator of a cone C)`` is ``P_C(z)`` shrunk by
``thr = step * alpha``: zero when ``||P_C(z)|| <= thr``. The projection onto a closed convex
set is 1-Lipschitz, so for any earlier point ``z0`` of the same column,

    ||P_C(z)|| <= ||P_C(z0)|| + ||z - z0||,

and a column whose bound is ``<= thr`` is zero without being projected. Along a converging
proximal-gradient run the points of a column move less and less while most columns stay at
zero with room to spare (their dual constraint is not tight), and the bound decides those;
the columns near the support (bound above ``thr``) are still projected exactly. The
result is the prox itself, not an approximation: a skipped column is zero either way.

The working-set solvers already leave most zero columns out of the prox, so the columns it
sees are the likely support and their neighbours; the bound skipped 30% of their projections
on the default ``PathRegularizedReLUClassifier`` on 800 rows of digits (fit 112 s -> 95 s, one
thread) and halved the ReLU ``ConvexThreeLayerClassifier``'s fit on 500 rows (37 s -> 20 s);
the two-layer ReLU projections are cheap, and its fits did not change (digits, 27 s).
"""

import numpy as np

# the projections are exact to about 1e-12 relative (their active-set stopping test); the
# recorded norms are trusted to this much more, relative to the recorded point's norm
_REL_MARGIN = 1e-9


class ProjectionScreen:
    """The last projected point of every (column, output) and the norm of its projection.

    Parameters
    ----------
    n_columns : int
        Number of column ids (``col_id`` values of the program and its restrictions).
    n_outputs : int
    dim : int
        Length of a column.
    """

    def __init__(self, n_columns, n_outputs, dim):
        self.ref = np.zeros((n_columns, n_outputs, dim))
        self.ref_norm = np.zeros((n_columns, n_outputs))
        self.proj_norm = np.full((n_columns, n_outputs), np.inf)  # inf: nothing recorded
        self.n_skipped = 0
        self.n_projected = 0

    def bounds(self, U, col_id, candidates):
        """(Q, K): an upper bound on the norm of the projection of each of the
        ``candidates`` columns of ``U`` (dim, Q, K) (``col_id`` (Q,) their ids); ``inf``
        elsewhere and where nothing is recorded."""
        out = np.full(candidates.shape, np.inf)
        q, k = np.nonzero(candidates)
        if q.size == 0:
            return out
        g = col_id[q]
        known = np.isfinite(self.proj_norm[g, k])
        q, k, g = q[known], k[known], g[known]
        if q.size == 0:
            return out
        dist = np.linalg.norm(U[:, q, k].T - self.ref[g, k], axis=1)
        out[q, k] = self.proj_norm[g, k] + dist + _REL_MARGIN * self.ref_norm[g, k]
        return out

    def surely_within(self, U, col_id, candidates, thr):
        """Boolean (Q, K): the columns among ``candidates`` whose projection provably has
        norm ``<= thr`` (counted as skipped projections)."""
        out = self.bounds(U, col_id, candidates) <= thr
        self.n_skipped += int(out.sum())
        return out

    def record(self, U, col_id, projected, proj_norms):
        """Remember the points ``U[:, q, k]`` of the ``projected`` columns and the norms of
        their projections (``proj_norms`` (Q, K))."""
        q, k = np.nonzero(projected)
        if q.size == 0:
            return
        g = col_id[q]
        pts = U[:, q, k].T
        self.ref[g, k] = pts
        self.ref_norm[g, k] = np.linalg.norm(pts, axis=1)
        self.proj_norm[g, k] = proj_norms[q, k]
        self.n_projected += int(q.size)

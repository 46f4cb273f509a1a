"""Gated three-layer networks as a gated two-layer group lasso over pattern pairs.

The gated relaxation of the three-layer program (spec p1_three_layer.md, section 4(b)) keeps the
sampled patterns as fixed gates and drops the cone constraints. A gated sub-network
``x -> g2(x) ((x W1) * g1(x)) w2 w3`` (first-layer gates ``g1_r(x) = 1[x . g_r >= 0]``, one
second-layer gate ``g2(x) = 1[(x V1)_+ v2 >= 0]``) gates every first-layer neuron by a pattern
pair ``D1_i D2_j``. For one pair the four sign variables ``u, v, u', v'`` of the ReLU program
enter the output only through ``w = u - v - u' + v'`` and cost ``||u|| + ||v|| + ||u'|| +
||v'||``, whose minimum over the decompositions of ``w`` is ``||w||`` (the triangle inequality;
attained with ``u = w``). So the gated three-layer program is exactly the gated two-layer group
lasso

    min  L( sum_{(i, j)} D1_i D2_j X w_ij + c, y ) + alpha sum_{(i, j)} ||w_ij||

whose patterns are the elementwise products ``D1_i D2_j`` (:class:`TwoLayerReLUProblem` with
``relu=False``). Pairs whose product is empty or equal to an earlier pair's are dropped (they
change neither the optimum nor the model).
"""

import numpy as np

from skconvex.arrangements import _pattern_keys
from skconvex.problems.group_lasso_relu import TwoLayerReLUProblem


def pair_masks(mask1, mask2, *, sample_weight=None, dedupe=True):
    """Products of first- and second-layer patterns.

    Parameters
    ----------
    mask1 : ndarray of bool, shape (n, P1)
    mask2 : ndarray of bool, shape (n, P2)
    sample_weight : ndarray of shape (n,) or None
        Rows with zero weight do not count when telling pairs apart.
    dedupe : bool, default=True
        Drop empty pairs and pairs equal to an earlier one (on the rows that count).

    Returns
    -------
    mask : ndarray of bool, shape (n, n_pairs)
        Column ``q`` is ``mask1[:, first[q]] & mask2[:, second[q]]``; pairs sorted by second-layer
        pattern, then first-layer pattern.
    first, second : ndarray of int, shape (n_pairs,)
    """
    mask1 = np.asarray(mask1, dtype=bool)
    mask2 = np.asarray(mask2, dtype=bool)
    n, P1 = mask1.shape
    P2 = mask2.shape[1]
    mask = (mask2[:, :, None] & mask1[:, None, :]).reshape(n, P2 * P1)
    first = np.tile(np.arange(P1), P2)
    second = np.repeat(np.arange(P2), P1)
    if dedupe and mask.shape[1]:
        rows = slice(None) if sample_weight is None else np.asarray(sample_weight) > 0
        sub = mask[rows]
        keep, seen = [], set()
        for q, key in enumerate(_pattern_keys(sub)):
            if key not in seen and sub[:, q].any():
                seen.add(key)
                keep.append(q)
        keep = np.asarray(keep, dtype=np.intp)
        mask, first, second = mask[:, keep], first[keep], second[keep]
    return np.ascontiguousarray(mask), first, second


class GatedThreeLayerProblem(TwoLayerReLUProblem):
    """The gated three-layer program over sampled pattern pairs (see the module docstring).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    Y : ndarray of shape (n, K)
    mask1 : ndarray of bool, shape (n, P1)
        First-layer patterns ``1[X g_i >= 0]``.
    mask2 : ndarray of bool, shape (n, P2)
        Second-layer patterns (gates of the sub-networks' output units).
    alpha : float
        Weight of ``sum |w3|`` in the normalized form (N) (the group-lasso weight).
    loss : {"squared", "logistic", "cross_entropy"}
    sample_weight : ndarray of shape (n,) or None
    fit_intercept : bool
    pairs : (first, second) or None
        Use exactly these pairs (index arrays into the columns of ``mask1`` and ``mask2``);
        by default every distinct non-empty product (:func:`pair_masks`).

    Attributes
    ----------
    pair_first, pair_second : ndarray of int, shape (Q,)
        The first- and second-layer pattern of every column.
    n_first, n_second : int
        ``P1`` and ``P2``.
    mask1, mask2 : ndarray of bool
        The first- and second-layer patterns on the samples of the program (those of
        positive weight).
    """

    def __init__(self, X, Y, mask1, mask2, alpha, loss="squared", *, sample_weight=None,
                 fit_intercept=True, pairs=None):
        mask1 = np.asarray(mask1, dtype=bool)
        mask2 = np.asarray(mask2, dtype=bool)
        if pairs is None:
            mask, first, second = pair_masks(mask1, mask2, sample_weight=sample_weight)
        else:
            first, second = (np.asarray(v, dtype=np.intp) for v in pairs)
            mask = mask1[:, first] & mask2[:, second]
        super().__init__(X, Y, mask, alpha, loss, sample_weight=sample_weight,
                         fit_intercept=fit_intercept, relu=False)
        self.pair_first, self.pair_second = first, second
        self.n_first, self.n_second = mask1.shape[1], mask2.shape[1]
        # the layers' patterns on the samples of the program (weight > 0): column q's mask is
        # mask1[:, pair_first[q]] & mask2[:, pair_second[q]] (structured Gram matrices)
        if sample_weight is not None:
            keep = np.asarray(sample_weight) > 0
            mask1, mask2 = mask1[keep], mask2[keep]
        self.mask1, self.mask2 = mask1, mask2


def pair_dual_norms(X, mask1, mask2, Lam):
    """Dual constraint values ``||X^T (D1_i D2_j Lam_k)||`` of every pair (i, j) and output k,
    without forming the pair masks (one GEMM per second-layer pattern): shape (P1, P2, K)."""
    n, d = X.shape
    K = Lam.shape[1]
    M1 = np.asarray(mask1, dtype=np.float64)
    out = np.empty((M1.shape[1], mask2.shape[1], K))
    for j in range(mask2.shape[1]):
        L = Lam * mask2[:, j, None]
        A = (X[:, :, None] * L[:, None, :]).reshape(n, d * K)
        R = (M1.T @ A).reshape(-1, d, K)
        out[:, j] = np.sqrt(np.einsum("pdk,pdk->pk", R, R))
    return out

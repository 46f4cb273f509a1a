"""Path-regularized parallel deep ReLU networks as a convex group-sparse program over sampled
cells (Ergen & Pilanci, NeurIPS 2021; spec ``p2_path_regularized_deep.md``).

**The network.** A parallel network ``f(x) = sum_k f_k(x) + c`` of depth-``L`` sub-networks. Each
sub-network is a *tree*: the single unit of the last hidden layer has ``m_{L-2}`` children, each of
them ``m_{L-3}`` children, and so on down to ``m_1`` first-layer units per second-layer unit, so a
sub-network has ``l = m_1 ... m_{L-2}`` first-layer units (one per path) and is the usual layered
network with block-diagonal weight matrices. (A layered sub-network whose first-layer units feed
several units is "untied" into such a tree without changing its function or path norm; the tree
of branching ``widths`` contains every layered network of widths ``widths``.) Inputs ``x`` carry a
ones entry for first-layer biases; deeper layers have no biases. The regularizer is the l2 path
norm of each sub-network, not squared:
``R_k = sqrt(sum_{paths} prod_{edges} w_e^2)`` (the first-layer "edge" is the norm of the unit's
input weights), and the training problem is ``min loss(f(X), y) + alpha sum_k R_k``.

**Cells.** A cell fixes the activation pattern of every unit on the training data and the sign of
every edge above the first layer: with ``Z = [z_p]`` (one ``d``-vector per path ``p``) the unit
pre-activations are ``h_p = X z_p`` at the leaves and ``h_u = sum_{v child of u} s_v D_v h_v``
above (``D_v = diag(mask_v)``), and the cone constraints ``(2 D_u - I) h_u >= 0`` make every
``D_u h_u`` equal to the ReLU of ``h_u``. The cell's output is ``+- D_root h_root`` (both outer signs
are columns of the program), linear in ``Z``: ``sum_p sign_p M_p X z_p`` with ``M_p`` the product
of the masks on the path and ``sign_p`` the product of its signs.

**The program** (derived in the spec and checked there and in the tests against cvxpy and against
the recovered networks):
``min_Z loss(sum_{cells} +- sum_p sign_p M_p X z_{c,p} + c) + alpha sum_{cells} ||Z_c||_F``
subject to every cell's cone constraints: a group lasso with one Frobenius group per (cell,
outer sign, output). Over *all* cells it equals the non-convex problem; over sampled cells it is a
restriction whose optimum is attained by a network (an upper bound of the full optimum).

**Recovery** (exact, spec section 3): a nonzero ``Z_c`` with ``t = ||Z_c||_F`` gives a
sub-network with first-layer columns ``z_p / ||z_p||``, edge weight ``s_v rho_v / rho_u`` from
child ``v`` into ``u`` where ``rho_u`` is the Frobenius norm of the ``z_p`` below ``u``, and output
weight ``+- t``: its path norm is ``t`` and its output ``+- D_root h_root``, so the network's
regularized loss equals the convex objective.

**Operators.** Layout of the variables: ``U`` of shape ``(d * l, Q, K)``, column ``(q, k)`` is cell
``col_cell[q]`` with outer sign ``col_sign[q]`` feeding output ``k``, entry ``j * l + p`` is
coordinate ``j`` of path ``p``. Forward and adjoint are the two-layer program's BLAS-3 operators
(:class:`~skconvex.problems.group_lasso_relu.TwoLayerReLUProblem`) on the ``Q * l`` path columns
with masks ``M_p`` and signs; the prox is the exact projection onto each cell's cone
(:mod:`skconvex.problems._path_kernels`) followed by group soft-thresholding, so every iterate of
proximal gradient is feasible; the certificate is the two-layer one (the dual norm of a column is
the norm of the projection of ``-gradient`` onto its cone), which is exact for the constrained
program.
"""

import numba
import numpy as np
from sklearn.utils import check_random_state

from skconvex.arrangements import _pattern_keys, merge_rows
from skconvex.problems._losses import cvxpy_loss
from skconvex.problems._cone_kernels import row_norms
from skconvex.problems._path_kernels import (max_cell_violation, project_cell_columns_screened,
                                              screening_classes)
from skconvex.problems.group_lasso_relu import (TwoLayerReLUProblem, assign_factor_slots,
                                                 factor_pool)
from skconvex.utils._parallel import run_tasks


class CellTree:
    """The tree shape of a sub-network with branching ``widths = (m_1, ..., m_{L-2})``.

    Nodes: leaves (first-layer units) ``0 .. l-1``, then each layer's units, the root (the last
    hidden unit) last. ``parent``, ``child_lo/hi`` (children of internal nodes, contiguous),
    ``leaf_lo/hi`` (leaves below each node, contiguous), ``layer_nodes`` (node ranges per hidden
    layer, layer 1 first).
    """

    def __init__(self, widths):
        widths = tuple(int(m) for m in widths)
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be a non-empty tuple of positive ints, got {widths}")
        self.widths = widths
        counts = [int(np.prod(widths[i:])) for i in range(len(widths))] + [1]
        self.layer_sizes = counts  # units per hidden layer, layer 1 .. L-1
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.layer_nodes = [(int(starts[i]), int(starts[i + 1])) for i in range(len(counts))]
        N = int(starts[-1])
        self.n_nodes = N
        self.n_leaves = counts[0]
        parent = -np.ones(N, dtype=np.int64)
        child_lo = np.zeros(N, dtype=np.int64)
        child_hi = np.zeros(N, dtype=np.int64)
        leaf_lo = np.arange(N, dtype=np.int64)
        leaf_hi = np.arange(N, dtype=np.int64) + 1
        for layer in range(1, len(counts)):
            lo, hi = self.layer_nodes[layer]
            clo, _ = self.layer_nodes[layer - 1]
            m = widths[layer - 1]
            for t, u in enumerate(range(lo, hi)):
                child_lo[u] = clo + t * m
                child_hi[u] = clo + (t + 1) * m
                parent[child_lo[u]:child_hi[u]] = u
                leaf_lo[u] = leaf_lo[child_lo[u]]
                leaf_hi[u] = leaf_hi[child_hi[u] - 1]
        self.parent, self.child_lo, self.child_hi = parent, child_lo, child_hi
        self.leaf_lo, self.leaf_hi = leaf_lo, leaf_hi
        self.root = N - 1
        # path of every leaf: the nodes from the leaf up to the root
        self.paths = []
        for p in range(self.n_leaves):
            path, v = [], p
            while v >= 0:
                path.append(v)
                v = int(parent[v])
            self.paths.append(path)

    @property
    def depth(self):
        return len(self.widths) + 2

    def arrays(self):
        return (self.parent, self.child_lo, self.child_hi, self.leaf_lo, self.leaf_hi,
                self.n_leaves)

    def path_masks(self, masks, sigs):
        """Per cell and path: the product of the masks on the path (n, C, l) and of the edge
        signs below the root (C, l)."""
        n, C, _ = masks.shape
        M = np.ones((n, C, self.n_leaves), dtype=bool)
        S = np.ones((C, self.n_leaves))
        for p, path in enumerate(self.paths):
            for v in path:
                M[:, :, p] &= masks[:, :, v]
                if v != self.root:
                    S[:, p] *= sigs[:, v]
        return M, S

    def forward_random(self, X, W1, E):
        """Pre-activations (n, B, N) of B random trees: leaf weights ``W1`` (d, B, l), edge
        weights ``E`` (B, N) (the root's entry unused)."""
        n = X.shape[0]
        B = W1.shape[1]
        h = np.empty((n, B, self.n_nodes))
        h[:, :, :self.n_leaves] = (X @ W1.reshape(X.shape[1], -1)).reshape(n, B, self.n_leaves)
        for u in range(self.n_leaves, self.n_nodes):
            lo, hi = self.child_lo[u], self.child_hi[u]
            h[:, :, u] = np.einsum("nbv,bv->nb", np.maximum(h[:, :, lo:hi], 0.0), E[:, lo:hi])
        return h


def _canonical(tree, b, keys, sig):
    """Canonical node order of random tree ``b`` (children sorted by their subtree keys): a
    permutation of the nodes that respects the layout of :class:`CellTree`, and the tree's key
    (equal keys: the same cell up to reordering of children, the same program)."""

    def canon(u):
        if u < tree.n_leaves:
            return (int(sig[b, u]), keys[u]), [[u]]
        kids = [canon(v) for v in range(tree.child_lo[u], tree.child_hi[u])]
        kids.sort(key=lambda kv: kv[0])
        layers = [sum((kv[1][i] for kv in kids), []) for i in range(len(kids[0][1]))]
        s = 0 if u == tree.root else int(sig[b, u])
        return (s, keys[u], tuple(kv[0] for kv in kids)), layers + [[u]]

    key, layers = canon(tree.root)
    return key, np.array(sum(layers, []), dtype=np.int64)


def sample_cells(X, n_cells, tree, *, sample_weight=None, max_rounds=20, random_state=None):
    """Sample distinct cells from random sub-networks of the tree shape.

    Each draw is a tree with Gaussian first-layer weights and Gaussian edge weights; its unit
    activation patterns on ``X`` and edge signs define a cell (the draw itself lies in the
    cell's cone, so the cone has an interior). Draws are put in a canonical order (children
    sorted) and de-duplicated by hashing the packed pattern bits (rows of zero weight do not
    count). Cells whose last hidden unit is never active are dropped (their output is zero).

    Returns
    -------
    masks : ndarray of bool, shape (n_samples, n_found, n_nodes)
    sigs : ndarray of shape (n_found, n_nodes)
        Edge signs (+-1; the root's entry is +1, its sign is the program's outer sign).
    """
    rng = check_random_state(random_state)
    n, d = X.shape
    rows = np.ones(n, dtype=bool) if sample_weight is None else np.asarray(sample_weight) > 0
    N, ell = tree.n_nodes, tree.n_leaves
    seen, out_m, out_s = set(), [], []
    for _ in range(max_rounds):
        need = n_cells - len(out_m)
        if need <= 0:
            break
        B = max(2 * need, 16)
        W1 = rng.standard_normal((d, B, ell))
        E = rng.standard_normal((B, N))
        masks, sigs = cells_of_networks(X, tree, W1, E, rows, seen, limit=need)
        out_m.extend(masks)
        out_s.extend(sigs)
    if not out_m:
        return np.zeros((n, 0, N), dtype=bool), np.zeros((0, N))
    return np.ascontiguousarray(np.stack(out_m, axis=1)), np.stack(out_s)


def cells_of_networks(X, tree, W1, E, rows, seen, limit=None):
    """The cells of sub-networks (leaf weights ``W1`` (d, B, l), edge weights ``E`` (B, N)) that
    are not in ``seen``, in canonical node order (:func:`_canonical`), at most ``limit``:
    ``(masks, sigs)``, lists of (n, N) masks on every row of ``X`` and (N,) edge signs. Their
    keys (over the rows ``rows``) are added to ``seen``; a network whose last hidden unit is
    inactive on those rows has no cell (its output is zero)."""
    B, N = E.shape
    h = tree.forward_random(X, W1, E)
    masks = h >= 0
    sig = np.where(E >= 0, 1.0, -1.0)
    sig[:, tree.root] = 1.0
    live = masks[rows][:, :, tree.root].any(axis=0)
    keys = _pattern_keys(masks[rows].reshape(int(rows.sum()), B * N))
    out_m, out_s = [], []
    for b in np.flatnonzero(live):
        key, order = _canonical(tree, b, keys[b * N:(b + 1) * N], sig)
        if key in seen:
            continue
        seen.add(key)
        out_m.append(masks[:, b, order])
        out_s.append(sig[b, order])
        if limit is not None and len(out_m) == limit:
            break
    return out_m, out_s


def cell_keys(tree, masks, sigs, rows):
    """The keys of cells in canonical order (as :func:`cells_of_networks` adds them to its
    ``seen``): masks (n, C, N) and signs (C, N); ``rows`` the rows that count."""
    C, N = sigs.shape
    keys = _pattern_keys(masks[rows].reshape(int(rows.sum()), C * N))
    return {_canonical(tree, b, keys[b * N:(b + 1) * N], sigs)[0] for b in range(C)}


def _normalize_blocks(tree, W1, E):
    """Every leaf's input weights and every internal node's vector of child edges to unit norm
    (in place). Each is a positive rescaling of a unit against the edge above it, which leaves
    the network's function up to a positive factor and its dual value unchanged; the path norm
    of the result is 1."""
    W1 /= np.maximum(np.linalg.norm(W1, axis=0), 1e-300)
    for u in range(tree.n_leaves, tree.n_nodes):
        lo, hi = tree.child_lo[u], tree.child_hi[u]
        E[:, lo:hi] /= np.maximum(np.linalg.norm(E[:, lo:hi], axis=1), 1e-300)[:, None]


def _dual_values(tree, X, W1, E, Lam):
    """``Lam^T f(X)`` (B, K) of B sub-networks of unit path norm."""
    h = tree.forward_random(X, W1, E)
    return np.maximum(h[:, :, tree.root], 0.0).T @ Lam


def _signed_value_grad(tree, X, W1, E, lam):
    """``v_b = lam_b^T f_b(X)`` for B sub-networks (``lam`` (n, B)) and its gradients in
    ``W1`` (d, B, l) and ``E`` (B, N) (the root's entry zero): back-propagation through the
    tree, parents before children (ReLU derivative ``1[h > 0]``)."""
    ell, root = tree.n_leaves, tree.root
    h = tree.forward_random(X, W1, E)
    a = np.maximum(h, 0.0)
    v = np.einsum("nb,nb->b", lam, a[:, :, root])
    delta = np.zeros_like(h)
    delta[:, :, root] = lam * (h[:, :, root] > 0)
    gE = np.zeros_like(E)
    for u in range(root, ell - 1, -1):
        lo, hi = tree.child_lo[u], tree.child_hi[u]
        du = delta[:, :, u]
        gE[:, lo:hi] = np.einsum("nb,nbv->bv", du, a[:, :, lo:hi])
        delta[:, :, lo:hi] = du[:, :, None] * E[None, :, lo:hi] * (h[:, :, lo:hi] > 0)
    gW = (X.T @ delta[:, :, :ell].reshape(X.shape[0], -1)).reshape(W1.shape)
    return v, gW, gE


def ascend_subnetworks(X, tree, W1, E, Lam, *, n_steps=100, step=0.5):
    """Gradient ascent of sub-networks on their dual constraint value.

    The dual constraint of a cell is ``max_k sup_theta |Lam_k^T f_theta(X)| / R(theta)`` over
    the sub-networks ``theta`` in the cell (``f_theta`` the output of the last hidden unit,
    ``R`` the path norm; this is the projected norm the certificate computes). The value is
    invariant under positive rescaling of a unit, so each network is kept in the form where
    every leaf's input weights and every internal node's child edges have unit norm (then
    ``R = 1``), and moved by projected gradient steps on that product of spheres towards a
    larger ``s Lam_k^T f(X)`` (the output ``k`` and sign ``s`` of its largest value at the
    start). The network's function is piecewise linear in its weights, so the gradient exists
    almost everywhere (back-propagation through the tree); the iterate of the largest value
    met is returned (so no value decreases) and its cell holds it: the cell's constraint value
    is at least the returned one.

    The ascent depends on the data only through the merged rows (:func:`merge_rows`), and its
    steps have a fixed scale per network (the first step is ``step`` long, later ones are
    proportional to the gradient, at most ``step`` long, shrinking linearly), as in
    :func:`~skconvex.arrangements.ascend_gates`: data repeated instead of reweighted end on the
    same networks.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    tree : CellTree
    W1 : ndarray of shape (n_features, B, n_leaves)
        Starting leaf weights.
    E : ndarray of shape (B, n_nodes)
        Starting edge weights (each node's edge into its parent; the root's entry is unused).
    Lam : ndarray of shape (n_samples, K)
        The dual point (sample weights included).
    n_steps : int, default=100
    step : float, default=0.5

    Returns
    -------
    W1, E : ndarrays
        The networks of the largest values met, normalized (path norm 1).
    values : ndarray of shape (B,)
        Their values ``s Lam_k^T f(X)``.
    """
    X, _, Lam = merge_rows(X, None, Lam)
    W1, E = np.array(W1, dtype=np.float64), np.array(E, dtype=np.float64)
    _normalize_blocks(tree, W1, E)
    ell, root = tree.n_leaves, tree.root
    V = _dual_values(tree, X, W1, E, Lam)
    pick = np.argmax(np.abs(V), axis=1)
    B = E.shape[0]
    sign = np.where(V[np.arange(B), pick] >= 0, 1.0, -1.0)
    lam = Lam[:, pick] * sign  # (n, B): each network's signed dual direction
    best_W, best_E, best = W1.copy(), E.copy(), np.full(B, -np.inf)
    eta = None
    for t in range(n_steps + 1):
        v, gW, gE = _signed_value_grad(tree, X, W1, E, lam)
        better = v > best
        best_W[:, better], best_E[better], best[better] = W1[:, better], E[better], v[better]
        if t == n_steps:
            break
        # the spheres' tangent spaces
        gW -= W1 * np.sum(gW * W1, axis=0)
        for u in range(ell, tree.n_nodes):
            lo, hi = tree.child_lo[u], tree.child_hi[u]
            gE[:, lo:hi] -= E[:, lo:hi] * np.sum(gE[:, lo:hi] * E[:, lo:hi], axis=1)[:, None]
        gE[:, root] = 0.0
        norm = np.sqrt(np.sum(gW * gW, axis=(0, 2)) + np.sum(gE * gE, axis=1))
        if eta is None:  # each network's step scale, fixed by its first gradient
            eta = np.where(norm > 0, step / np.where(norm > 0, norm, 1.0), 0.0)
        moving = (norm > 0) & np.isfinite(norm) & (eta > 0)
        if not moving.any():
            break
        length = np.minimum(eta * norm, step) * (1.0 - t / n_steps)
        scale = np.where(moving, length / np.where(moving, norm, 1.0), 0.0)
        W1 += gW * scale[None, :, None]
        E += gE * scale[:, None]
        _normalize_blocks(tree, W1, E)
    return best_W, best_E, best


def path_norm(weights):
    """The l2 path norm of a layered ReLU network with one output unit.

    ``weights = [W1 (d, m1), W2 (m1, m2), ..., w_L (m_{L-1},) or scalar]``:
    ``sqrt(sum over input-to-output paths of prod w_e^2)`` where the first-layer "edge" is the
    norm of the unit's input weights (bias included): ``||W1[:, j]||^2`` is propagated through the
    squared weight matrices. Invariant under rescaling any hidden unit's input weights by
    ``a > 0`` and its output weights by ``1 / a``.
    """
    v = np.sum(np.asarray(weights[0], dtype=np.float64) ** 2, axis=0)
    for W in weights[1:]:
        W = np.asarray(W, dtype=np.float64)
        v = v @ (W.reshape(W.shape[0], -1) ** 2 if W.ndim else np.full((v.size, 1), W ** 2))
    return float(np.sqrt(np.sum(v)))


# length of each node's list of near constraints (screened feasibility tests): this many per
# input dimension, at least _NEAR_MIN
_NEAR_PER_DIM, _NEAR_MIN = 5, 16
# ... used only with at least _LIST_ROWS samples per listed constraint (all classes together),
# else lists of one: checking a list entry (a dot product per live leaf) costs about as much
# as several samples of a full pass, whose leaf pre-activations are one matrix product.
# Measured with one thread: breast cancer (n = 426, d = 31, 200 columns) 4.5 s with lists of
# 155, 2.7 s with lists of one; the planted n = 10,000, d = 11 program 77 s with lists of 55,
# 83 s with lists of one
_LIST_ROWS = 8


class PathDeepProblem(TwoLayerReLUProblem):
    """The path-regularized program over sampled cells (see the module docstring).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The data the network sees (a ones column appended for first-layer biases).
    Y : ndarray of shape (n, K)
    masks : ndarray of bool, shape (n, C, N)
        Activation patterns of the ``N`` units of each of the ``C`` cells (see
        :func:`sample_cells`).
    sigs : ndarray of shape (C, N)
        Edge signs of each cell (the root's entry ignored).
    tree : CellTree
    alpha : float
        Weight of the path norm.
    loss, sample_weight, fit_intercept
        As for :class:`~skconvex.problems.group_lasso_relu.TwoLayerReLUProblem`.
    """

    mixed_precision = False  # its own products, in float64 only

    def __init__(self, X, Y, masks, sigs, tree, alpha, loss="squared", *, sample_weight=None,
                 fit_intercept=True):
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        masks = np.asarray(masks, dtype=bool)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            keep = sample_weight > 0
            if not keep.all():
                X, Y, masks, sample_weight = X[keep], Y[keep], masks[keep], sample_weight[keep]
        self.tree = tree
        self.masks = np.ascontiguousarray(masks)
        self.sigs = np.ascontiguousarray(np.asarray(sigs, dtype=np.float64))
        self.n_cells = self.masks.shape[1]
        ell = tree.n_leaves
        M, S = tree.path_masks(self.masks, self.sigs)
        self._leaf_sign = S.reshape(-1)
        # the linear operator: the two-layer (gated) program's, one column per path
        self._op_base = TwoLayerReLUProblem(X, Y, M.reshape(X.shape[0], -1), alpha, loss,
                                            sample_weight=sample_weight,
                                            fit_intercept=fit_intercept, relu=False)
        op = self._op_base
        self.X, self.Y, self.s, self.loss, self.loss_name = op.X, op.Y, op.s, op.loss, op.loss_name
        self.y_offset = op.y_offset  # centred targets (TwoLayerReLUProblem)
        self.alpha, self.fit_intercept, self.n, self.d, self.K = (op.alpha, op.fit_intercept,
                                                                   op.n, op.d, op.K)
        self.relu = True
        self.mask = None
        self.n_leaves = ell
        self.n_patterns = self.n_cells
        C = self.n_cells
        self._set_columns(np.tile(np.arange(C), 2),
                          np.concatenate([np.ones(C), -np.ones(C)]), np.arange(2 * C))
        # per column and output, for the prox's projections (the iterates) and for the other
        # projections (certificates): the last active set (warm starts) and the screening
        # state of the feasibility tests (:func:`project_cell_columns_screened`); shared with
        # the restricted programs of working-set solvers (keyed by ``col_id``)
        self._proj_state = {}
        self._n_column_ids, self._screens = 2 * C, {}  # see TwoLayerReLUProblem._screen
        self._classes = screening_classes(tree.leaf_lo, tree.leaf_hi)
        self._xnorm = row_norms(self.X)

    def kernel_flops(self):
        """Flops of ``forward`` over every column (each column a path per leaf)."""
        return 2.0 * self.n * self.d * self.Q * self.n_leaves * self.K

    def _set_columns(self, col_pattern, col_sign, col_id):
        # col_pattern: the cell of each column (the name the shared machinery uses)
        self.col_id = np.asarray(col_id, dtype=np.intp)
        self.col_cell = self.col_pattern = np.asarray(col_pattern, dtype=np.intp)
        self.col_sign = np.asarray(col_sign, dtype=np.float64)
        self.Q = self.col_cell.size
        ell = self.n_leaves
        self.shape = (self.d * ell, self.Q, self.K)
        pat = (self.col_cell[:, None] * ell + np.arange(ell)[None, :]).ravel()
        sgn = (self.col_sign[:, None] * self._leaf_sign[pat].reshape(self.Q, ell)).ravel()
        op = self._op_base.restrict(np.arange(0))
        op._set_columns(pat, sgn, np.arange(pat.size))
        self._op = op
        self._S = None
        self._lip = None
        self._cvxpy_cons = None

    @property
    def sign_mask(self):
        return self._op.sign_mask

    # -- layout --------------------------------------------------------------------------
    def _to_op(self, U):
        d, ell = self.d, self.n_leaves
        Q, K = U.shape[1], U.shape[2]
        return U.reshape(d, ell, Q, K).transpose(0, 2, 1, 3).reshape(d, Q * ell, K)

    def _from_op(self, V):
        d, ell = self.d, self.n_leaves
        Q, K = V.shape[1] // ell, V.shape[2]
        return np.ascontiguousarray(
            V.reshape(d, Q, ell, K).transpose(0, 2, 1, 3).reshape(d * ell, Q, K))

    def forward(self, U):
        return self._op.forward(self._to_op(U))

    def adjoint(self, G):
        return self._from_op(self._op.adjoint(G))

    def lipschitz(self, n_iter=20, random_state=0):
        if self._lip is None:
            self._lip = self._op.lipschitz(n_iter, random_state)
        return self._lip

    # -- cones -----------------------------------------------------------------------------
    def _leaf_preacts(self, U):
        """``X z_p`` of every column: (n, l, Q, K)."""
        d, ell = self.d, self.n_leaves
        Q, K = U.shape[1], U.shape[2]
        return (self.X @ U.reshape(d, ell * Q * K)).reshape(self.n, ell, Q, K)

    def _chunks(self, U):
        # columns per GEMM chunk: about 32 MB of leaf pre-activations
        per = max(1, int(4e6 // max(1, self.n * self.n_leaves * self.K)))
        return range(0, U.shape[1], per), per

    def _state(self, slot):
        """Warm starts and screening lists of every column for the projections of ``slot``
        ("prox": the iterates; "other": certificates and the rest), created on first use."""
        if slot not in self._proj_state:
            G, K, D = 2 * self.n_cells, self.K, self.d * self.n_leaves
            B = int(self._classes[0][-1])
            m = int(min(self.n, max(_NEAR_MIN, _NEAR_PER_DIM * self.d)))
            if self.n < _LIST_ROWS * B * m:
                m = 1
            # and kept Cholesky factors of the columns' active sets (successive points of a
            # slot keep most of their active sets): digits, 500 rows, one thread: prox 62 s
            # -> 30 s, certificates 20.5 s -> 17.6 s, fit 88 s -> 52 s
            self._proj_state[slot] = (
                np.zeros((G, K, D + 1), dtype=np.int64), np.zeros((G, K, D + 1), dtype=np.int64),
                np.zeros((G, K), dtype=np.int64), np.zeros((G, K, D)),
                np.zeros((G, K, B, m), dtype=np.int64), np.full((G, K, B), -np.inf),
                np.zeros((G, K, B), dtype=np.int64), *factor_pool(G, K, D))
        return self._proj_state[slot]

    def project(self, U, selected=None, slot="other"):
        """Every column (or those with ``selected[q, k]``) onto its cell's cone: exact
        Lawson-Hanson projections, warm-started from the column's last active set, whose
        feasibility tests are screened by its list of near constraints (see
        :mod:`skconvex.problems._path_kernels`). ``slot`` picks the warm starts ("prox" for
        the iterates, whose successive points are close)."""
        if selected is None:
            selected = np.ones(U.shape[1:], dtype=bool)
        selected = np.ascontiguousarray(selected)
        U = np.ascontiguousarray(U, dtype=np.float64)
        out = U.copy()
        if not selected.any():
            return out
        # threads only pay off beyond a few milliseconds of work (about a pass over every
        # constraint of every selected column)
        work = float(selected.sum()) * self.n * (self.tree.n_nodes + self.shape[0])
        n_threads = max(1, min(numba.get_num_threads(), int(work // 2e6)))
        cum = np.cumsum(selected.sum(axis=1))
        bounds = [0] + [int(np.searchsorted(cum, cum[-1] * t / n_threads, side="right"))
                        for t in range(1, n_threads)] + [U.shape[1]]
        state = self._state(slot)
        assign_factor_slots(state[7:], self.col_id, selected)
        run_tasks(project_cell_columns_screened,
                  (self.X, self._xnorm, self.masks, self.sigs, *self.tree.arrays(),
                   *self._classes, self.col_cell, self.col_id, U, *state, selected, out),
                  sorted(set(bounds)))
        return out

    def _prox_project(self, U, selected):
        """The prox's projections (the inherited prox: a column skipped when its own norm or
        its last projection's norm plus its distance to that point shows it zero), with the
        warm starts of the iterates (slot "prox")."""
        return self.project(U, selected, slot="prox")

    def _path_coefs(self, c):
        """``coef[i, u, p]``: the coefficient of ``X z_p`` in node ``u``'s pre-activation at
        sample ``i`` for cell ``c`` (products of ``sig * mask`` below ``u``): (n, N, l)."""
        tree, ell = self.tree, self.n_leaves
        m, sg = self.masks[:, c, :], self.sigs[c]
        coef = np.zeros((self.n, tree.n_nodes, ell))
        for u in range(tree.n_nodes):
            for p in range(tree.leaf_lo[u], tree.leaf_hi[u]):
                col = np.ones(self.n)
                v = p
                while v != u:
                    col = col * m[:, v] * sg[v]
                    v = int(tree.parent[v])
                coef[:, u, p] = col
        return coef

    def cone_rows(self, q):
        """Every cone constraint of column ``q`` as a row (``rows @ u >= 0``): (n N, d l)."""
        c = self.col_cell[q]
        coef = self._path_coefs(c)
        sign = np.where(self.masks[:, c, :], 1.0, -1.0)
        rows = (sign[:, :, None, None] * self.X[:, None, :, None]) * coef[:, :, None, :]
        return rows.reshape(-1, self.shape[0])

    def column_jacobian(self, q):
        """The output's Jacobian with respect to column ``q``: ``[sign_p M_p x_i]`` (n, d l)."""
        ell = self.n_leaves
        S = self.sign_mask[:, q * ell:(q + 1) * ell]
        return (self.X[:, :, None] * S[:, None, :]).reshape(self.n, -1)

    def max_violation(self, U):
        """Largest violation of the cone constraints at ``U`` (absolute, in pre-activation
        units of the standardized data)."""
        if U.size == 0:
            return 0.0
        worst = 0.0
        starts, per = self._chunks(U)
        for lo in starts:
            Uc = np.ascontiguousarray(U[:, lo:lo + per])
            worst = max(worst, max_cell_violation(
                self.X, self.masks, self.sigs, self.tree.child_lo, self.tree.child_hi,
                self.n_leaves, np.ascontiguousarray(self.col_cell[lo:lo + per]), Uc,
                self._leaf_preacts(Uc)))
        return float(worst)

    # -- recovery --------------------------------------------------------------------------
    def subnetworks(self, U, rtol=1e-12):
        """The sub-networks of the nonzero columns of ``U`` (spec section 3).

        Returns a list of ``(k, t, weights)``: output ``k``, path norm ``t`` and the layered
        weights ``[W1 (d, l), W2 (l, l / m1), ..., W_{L-1} (m_{L-2}, 1), w_L (scalar)]`` in the
        problem's input space (block-diagonal matrices; zero paths keep zero columns).
        """
        tree, d, ell = self.tree, self.d, self.n_leaves
        norms = self.group_norms(U)
        tol = rtol * float(norms.max()) if norms.size else 0.0
        out = []
        for q, k in zip(*np.nonzero(norms > tol)):
            c, t = self.col_cell[q], float(norms[q, k])
            Z = U[:, q, k].reshape(d, ell)
            rho = np.zeros(tree.n_nodes)
            rho[:ell] = np.linalg.norm(Z, axis=0)
            for u in range(ell, tree.n_nodes):
                lo, hi = tree.child_lo[u], tree.child_hi[u]
                rho[u] = np.sqrt(np.sum(rho[lo:hi] ** 2))
            W1 = np.where(rho[:ell] > 0, Z / np.where(rho[:ell] > 0, rho[:ell], 1.0), 0.0)
            weights = [W1]
            for layer in range(1, len(tree.layer_nodes)):
                lo, hi = tree.layer_nodes[layer]
                clo, chi = tree.layer_nodes[layer - 1]
                W = np.zeros((chi - clo, hi - lo))
                for u in range(lo, hi):
                    for v in range(tree.child_lo[u], tree.child_hi[u]):
                        if rho[u] > 0:
                            W[v - clo, u - lo] = self.sigs[c, v] * rho[v] / rho[u]
                weights.append(W)
            weights.append(float(self.col_sign[q]) * t)
            out.append((int(k), t, weights))
        return out

    # -- reference -------------------------------------------------------------------------
    def to_cvxpy(self):
        """The same program in cvxpy (small problems): one (d, Q l) variable per output, the
        Frobenius groups and every node's cone constraints batched over the cells; the
        variables in the units of :meth:`target_unit`."""
        import cvxpy as cp

        d, ell, Q, K, n = self.d, self.n_leaves, self.Q, self.K, self.n
        tree = self.tree
        S = self.sign_mask  # (n, Q l)
        cells = self.col_cell
        leaf_sign = np.where(self.masks[:, cells, :ell], 1.0, -1.0).reshape(n, Q * ell)
        # coefficient of path p in the pre-activation of internal node u, per sample and column
        Bsum = np.kron(np.eye(Q), np.ones((ell, 1)))  # (Q l, Q): sums the paths of a column
        internal = []
        for u in range(ell, tree.n_nodes):
            coef = np.zeros((n, Q, ell))
            for p in range(tree.leaf_lo[u], tree.leaf_hi[u]):
                c = np.ones((n, Q))
                v = p
                while v != u:
                    c = c * self.masks[:, cells, v] * self.sigs[cells, v][None, :]
                    v = int(tree.parent[v])
                coef[:, :, p] = c
            internal.append((coef.reshape(n, Q * ell),
                             np.where(self.masks[:, cells, u], 1.0, -1.0)))
        u = self._cvxpy_unit = self.target_unit()  # the variables' unit (from_cvxpy)
        Vs = [cp.Variable((d, Q * ell)) for _ in range(K)]
        c = cp.Variable(K) if self.fit_intercept else np.zeros(K)
        cols, cons, reg = [], [], 0
        for k in range(K):
            XV = self.X @ Vs[k]
            ck = c[k] if self.fit_intercept else 0.0
            cols.append(cp.sum(cp.multiply(S, XV), axis=1) + ck)
            cons.append(cp.multiply(leaf_sign, XV) >= 0)
            for coef, sign in internal:
                cons.append(cp.multiply(sign, cp.multiply(coef, XV) @ Bsum) >= 0)
            reg = reg + cp.sum(cp.norm(cp.reshape(Vs[k], (d * ell, Q), order="F"), 2, axis=0))
        Z = cp.vstack(cols).T if K > 1 else cp.reshape(cols[0], (n, 1), order="F")
        data = cvxpy_loss(self.loss_name, Z, self.Y / u, self.s)
        self._cvxpy_cons = cons
        return cp.Problem(cp.Minimize(data + (self.alpha / u) * reg), cons), (Vs, c)

    def from_cvxpy(self, variables):
        Vs, c = variables
        u = getattr(self, "_cvxpy_unit", 1.0)
        V = u * np.stack([np.asarray(Vk.value) for Vk in Vs], axis=-1)  # (d, Q l, K)
        U = self._from_op(V)
        c = u * np.asarray(c.value).ravel() if self.fit_intercept else np.zeros(self.K)
        return U, c

"""The prox of the cone-constrained group programs skips columns it can prove are zero
(:mod:`skconvex.problems._screening`); the result must be the prox itself."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skconvex.arrangements import (gate_mask, sample_gates, sample_subnetwork_gates,
                                   subnetwork_mask)
from skconvex.problems._screening import ProjectionScreen
from skconvex.problems.group_lasso_relu import TwoLayerReLUProblem
from skconvex.problems.path_deep import CellTree, PathDeepProblem, sample_cells
from skconvex.problems.three_layer import ThreeLayerReLUProblem


def _problem(kind, K, seed=0):
    rng = np.random.RandomState(seed)
    n = 120
    X = np.hstack([rng.randn(n, 3), np.ones((n, 1))])
    Y = rng.randn(n, K)
    if kind == "two_layer":
        return TwoLayerReLUProblem(X, Y, gate_mask(X, sample_gates(X, 10, random_state=seed)),
                                   1e-2, relu=True)
    if kind == "three_layer":
        G = sample_gates(X, 4, random_state=seed)
        W1, w2 = sample_subnetwork_gates(X, 3, width=2, first_layer=G, random_state=seed + 1)
        return ThreeLayerReLUProblem(X, Y, gate_mask(X, G), subnetwork_mask(X, W1, w2), 1e-2)
    tree = CellTree((2,))
    masks, sigs = sample_cells(X, 8, tree, random_state=seed)
    return PathDeepProblem(X, Y, masks, sigs, tree, 1e-2)


def _plain_prox(p, Z, step):
    """Every column projected (a fresh program: no warm starts, no screen), then shrunk."""
    ref = type(p).__new__(type(p))
    ref.__dict__.update(p.__dict__)
    if isinstance(p, PathDeepProblem):
        ref._proj_state = {}
        P = ref.project(Z, slot="other")
    else:
        ref._new_warm_starts(p.shape[1])
        P = ref.project(Z)
    norms = np.sqrt(np.einsum("dqk,dqk->qk", P, P))
    return P * np.maximum(0.0, 1.0 - step * p.alpha / np.maximum(norms, 1e-300))[None]


@pytest.mark.parametrize("K", [1, 2])
@pytest.mark.parametrize("kind", ["two_layer", "three_layer", "path"])
def test_screened_prox_equals_the_prox(kind, K):
    """Along points that move by large and tiny steps, the prox that skips the columns its
    bound proves zero equals the prox with every column projected; the bound decides some
    columns (the threshold lies between the projections' norms and the columns' own norms,
    where only the bound can skip them) and leaves others to the projection."""
    p = _problem(kind, K)
    rng = np.random.RandomState(1)
    Z = rng.randn(*p.shape)
    P0 = _plain_prox(p, Z, 0.0)  # step 0: the projections themselves
    raw = np.sqrt(np.einsum("dqk,dqk->qk", Z, Z))
    proj = np.sqrt(np.einsum("dqk,dqk->qk", P0, P0))
    # a threshold above most projections' norms but below their columns' own norms
    gap = proj < 0.9 * raw
    assert gap.sum() >= 4
    step = float(np.median(0.5 * (proj[gap] + raw[gap]))) / p.alpha
    screen = p._screen("prox")
    for t in range(24):
        Z = Z + [0.3, 1e-3, 1e-6, 1e-9][t % 4] * rng.randn(*Z.shape)
        out = p.prox(Z, step)
        expect = _plain_prox(p, Z, step)
        assert_allclose(out, expect, rtol=0, atol=1e-9 * max(1.0, np.abs(expect).max()))
    assert screen.n_skipped > 0
    assert screen.n_projected > 0
    assert (expect != 0).any() and (expect == 0).any()


def test_bound_is_the_projections_lipschitz_bound():
    """``surely_within`` holds a column exactly when its last projection's norm plus the
    distance to that point (and the rounding margin) is at most the threshold."""
    s = ProjectionScreen(3, 1, 2)
    col_id = np.array([2, 0])
    U0 = np.array([[[1.0], [0.0]], [[0.0], [2.0]]])  # columns (1, 0) and (0, 2)
    everything = np.ones((2, 1), dtype=bool)
    assert not s.surely_within(U0, col_id, everything, 1e9).any()  # nothing recorded yet
    s.record(U0, col_id, everything, np.array([[0.5], [1.0]]))
    U1 = U0.copy()
    U1[0, 0, 0] += 0.3  # column 0 moved by 0.3, column 1 did not
    assert_allclose(s.surely_within(U1, col_id, everything, 0.8 + 1e-8).ravel(), [True, False])
    # 0.5 + 0.3 exactly: the margin (1e-9 of the recorded point's norm) keeps it
    assert_allclose(s.surely_within(U1, col_id, everything, 0.8).ravel(), [False, False])
    assert_allclose(s.surely_within(U1, col_id, everything, 1.0 + 1e-8).ravel(), [True, True])
    # only candidates are decided
    assert not s.surely_within(U1, col_id, np.zeros((2, 1), dtype=bool), 10.0).any()


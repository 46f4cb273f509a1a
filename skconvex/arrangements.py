"""Sampling and de-duplicating hyperplane-arrangement (activation) patterns.

A pattern is ``D_i = diag(1[X g_i >= 0])`` for a generator ``g_i``. The convex programs of two- and
deeper-layer ReLU networks have one group of variables per pattern; sampling a budget of distinct
patterns gives a restriction of the full program (an upper bound on its optimum, attained by a
feasible network). The generators are kept so new data are gated the same way.
"""

import warnings

import numpy as np
from sklearn.utils import check_random_state


def gate_mask(X, G):
    """Boolean activation masks ``X @ G >= 0`` of shape (n_samples, n_patterns)."""
    return np.asarray(X @ G) >= 0


def _pattern_keys(mask):
    """One bytes key per column of a boolean mask (its packed bits)."""
    packed = np.packbits(mask, axis=0)  # (ceil(n/8), P)
    return [packed[:, j].tobytes() for j in range(packed.shape[1])]


def sample_gates(X, n_patterns, *, generator="gaussian", max_rounds=20, sample_weight=None,
                 random_state=None, warn=True, initial=None):
    """Sample generators whose activation patterns on ``X`` are distinct.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The (preprocessed) data the network sees, including a bias column if any.
    n_patterns : int
        Budget of distinct patterns.
    generator : {"gaussian", "data", "mixed"}, default="gaussian"
        ``"gaussian"``: ``g ~ N(0, I)`` (independent of the rows: repeated or reweighted rows give
        the same patterns); ``"data"``: ``g`` = differences of random pairs of rows (hyperplanes
        through the data, useful when the data are concentrated); ``"mixed"``: half each.
    max_rounds : int, default=20
        Sampling rounds before giving up on reaching the budget.
    sample_weight : ndarray of shape (n_samples,) or None
        Rows with zero weight do not count when telling patterns apart (so zero-weighted rows
        and removed rows give the same patterns).
    random_state : int, RandomState instance or None
    warn : bool, default=True
        Warn when fewer than ``n_patterns`` distinct patterns were found. Off for the
        candidate patterns of dual checks and searches, whose callers report what they used.
    initial : ndarray of shape (n_features, m) or None
        Generators to start from: kept first, as they are, and fresh ones (of patterns
        distinct from theirs) added up to ``n_patterns`` in all (a warm start with a larger
        budget).

    Returns
    -------
    G : ndarray of shape (n_features, n_found)
        Generators, one per distinct non-empty pattern, in the order found.

    Warns
    -----
    UserWarning
        When fewer than ``n_patterns`` distinct patterns were found (small or low-rank data):
        the patterns that exist are used (``warn=True``).
    """
    rng = check_random_state(random_state)
    n, d = X.shape
    rows = slice(None) if sample_weight is None else np.asarray(sample_weight) > 0
    keys, gens = set(), []
    if initial is not None and initial.shape[1]:
        gens = list(np.asarray(initial, dtype=np.float64).T)
        keys.update(_pattern_keys(gate_mask(X, initial)[rows]))
    for _ in range(max_rounds):
        need = n_patterns - len(gens)
        if need <= 0:
            break
        batch = max(2 * need, 16)
        if generator == "gaussian":
            C = rng.standard_normal((d, batch))
        else:
            n_data = batch if generator == "data" else batch // 2
            i, j = rng.randint(0, n, n_data), rng.randint(0, n, n_data)
            C = (X[i] - X[j]).T + 1e-6 * rng.standard_normal((d, n_data))
            if generator == "mixed":
                C = np.hstack([C, rng.standard_normal((d, batch - n_data))])
        mask = gate_mask(X, C)[rows]
        nonempty = mask.any(axis=0)
        for col, key in zip(np.flatnonzero(nonempty), _pattern_keys(mask[:, nonempty])):
            if key not in keys:
                keys.add(key)
                gens.append(C[:, col])
                if len(gens) == n_patterns:
                    break
    if warn and len(gens) < n_patterns:
        warnings.warn(
            f"n_patterns={n_patterns} exceeds the {len(gens)} distinct activation patterns found "
            f"on these data after {max_rounds} sampling rounds; using {len(gens)}.",
            UserWarning,
        )
    return np.column_stack(gens) if gens else np.zeros((d, 0))


def refine_gates(X, G, score, *, n_trials=10, step=0.3, exclude=(), random_state=None):
    """Local search on generators for patterns of a high score (column generation).

    Each generator (a column of ``G``) is perturbed ``n_trials`` times by Gaussian noise of
    relative size ``step`` (generators are kept at unit norm), and a perturbation is kept when
    ``score`` rises: a stochastic hill climb on each pattern's score, all generators scored in
    one call. The result has distinct patterns on ``X`` that are not in ``exclude`` (pattern
    keys, see :func:`_pattern_keys`), ordered by decreasing score.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    G : ndarray of shape (n_features, m)
        Starting generators.
    score : callable
        ``score(G) -> ndarray (m,)`` for generators of shape (n_features, m).
    n_trials, step : int, float
    exclude : iterable of bytes
    random_state : int, RandomState instance or None

    Returns
    -------
    G : ndarray of shape (n_features, m')
    scores : ndarray of shape (m',)
    """
    rng = check_random_state(random_state)
    G = np.array(G, dtype=np.float64)
    G /= np.maximum(np.linalg.norm(G, axis=0), 1e-300)
    s = np.asarray(score(G), dtype=np.float64).copy()
    scale = step / np.sqrt(G.shape[0])
    for _ in range(n_trials):
        C = G + scale * rng.standard_normal(G.shape)
        C /= np.maximum(np.linalg.norm(C, axis=0), 1e-300)
        sc = score(C)
        better = sc > s
        G[:, better], s[better] = C[:, better], sc[better]
    keys = _pattern_keys(gate_mask(X, G))
    seen, keep = set(exclude), []
    for j in np.argsort(-s, kind="stable"):
        if keys[j] not in seen:
            seen.add(keys[j])
            keep.append(j)
    keep = np.asarray(keep, dtype=np.intp)
    return G[:, keep], s[keep]


def merge_rows(X, weights=None, *R):
    """Merge identical rows of ``X`` into one, summing their weights and the rows of ``R``.

    The unique rows come sorted, so repeated rows and rows of integer weight give the same
    merged data (up to the rounding of the sums).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    weights : ndarray of shape (n_samples,) or None
        Row weights; None: one per row.
    *R : ndarrays of shape (n_samples, ...)
        Arrays whose rows are summed over each group of identical rows of ``X``.

    Returns
    -------
    X_unique : ndarray of shape (n_unique, n_features)
    weights : ndarray of shape (n_unique,)
        The summed weights (the multiplicities when ``weights`` is None).
    *R_merged : ndarrays of shape (n_unique, ...)

    Examples
    --------
    >>> import numpy as np
    >>> from skconvex.arrangements import merge_rows
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> Xu, w, r = merge_rows(X, None, np.array([1.0, 2.0, 3.0]))
    >>> Xu.tolist(), w.tolist(), r.tolist()
    ([[0.0, 1.0], [1.0, 0.0]], [1.0, 2.0], [2.0, 4.0])
    """
    X = np.asarray(X, dtype=np.float64)
    Xu, inv = np.unique(X, axis=0, return_inverse=True)
    inv = inv.ravel()
    w = np.ones(X.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    distinct = Xu.shape[0] == X.shape[0]  # nothing to sum: a permutation of the rows
    merged = [np.bincount(inv, weights=w, minlength=Xu.shape[0])]
    for A in R:
        A = np.asarray(A, dtype=np.float64)
        S = np.zeros((Xu.shape[0],) + A.shape[1:])
        if distinct:
            S[inv] = A
        else:
            np.add.at(S, inv, A)
        merged.append(S)
    return (Xu, *merged)


def ascend_gates(X, G, R, *, weights=None, n_steps=30, step=0.5, temperature=0.1):
    """Smoothed gradient ascent on generators for patterns of a high dual value.

    Column ``j`` of ``G`` is moved on the unit sphere towards a larger
    ``s_j(g) = ||X^T (1[X g >= 0] * R[:, j])||``, the dual constraint value of a gated
    pattern along the fixed dual direction ``R[:, j]`` (column generation: the patterns the
    full program would use most). The indicator is replaced by the sigmoid
    ``sigma((X g) / tau)``, ``tau = temperature * std(X g)`` (the standard deviation weighted
    by ``weights``), whose gradient is followed for ``n_steps`` steps of decreasing size;
    the iterate of the largest exact ``s_j`` is returned, so no column's value decreases. All
    columns move at once in matrix products (three of shape (n, d) x (d, m) per step).

    The ascent depends on the data only through the merged rows (:func:`merge_rows`), and
    its steps are gradient steps of a fixed scale per column (the first step has length
    ``step``, later ones are proportional to the gradient, at most ``step`` long), not
    normalized ones: near a stationary point a normalized step would follow the rounding of
    the gradient, so data repeated instead of reweighted could end on other patterns.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    G : ndarray of shape (n_features, m)
        Starting generators.
    R : ndarray of shape (n_samples, m)
        The dual direction of each generator (sample weights included).
    weights : ndarray of shape (n_samples,) or None
        Sample weights of the spread ``std(X g)``; None: equal.
    n_steps : int, default=30
    step : float, default=0.5
        Length of the first step (the generators have unit norm).
    temperature : float, default=0.1
        Width of the sigmoid relative to the spread of ``X g``.

    Returns
    -------
    G : ndarray of shape (n_features, m)
        Unit-norm generators, each of the largest exact value met.
    scores : ndarray of shape (m,)
        Their exact values ``s_j``.
    """
    X, w, R = merge_rows(X, weights, R)
    w = w / np.sum(w)
    G = np.array(G, dtype=np.float64)
    G /= np.maximum(np.linalg.norm(G, axis=0), 1e-300)

    def exact(G):
        return np.linalg.norm(X.T @ (gate_mask(X, G) * R), axis=0)

    best, s_best = G.copy(), exact(G)
    eta = None
    for t in range(n_steps):
        Z = X @ G
        mean = w @ Z
        spread = np.sqrt(np.maximum(w @ (Z - mean) ** 2, 0.0))
        live = spread > 0  # 0: every sample on one side, no direction to follow
        tau = temperature * np.where(live, spread, 1.0)
        S = 0.5 * (1.0 + np.tanh(0.5 * Z / tau))  # sigmoid(Z / tau), overflow-free
        # d/dg of ||X^T (S * r)||^2 / 2 = X^T (S' * r * X X^T (S * r))
        grad = X.T @ (S * (1.0 - S) / tau * R * (X @ (X.T @ (S * R))))
        grad -= G * np.sum(grad * G, axis=0)  # the sphere's tangent space
        norm = np.linalg.norm(grad, axis=0)
        if eta is None:  # the scale of each column's steps, fixed by its first gradient
            eta = np.where(norm > 0, step / np.where(norm > 0, norm, 1.0), 0.0)
        moving = live & (norm > 0) & np.isfinite(norm) & (eta > 0)
        if not moving.any():
            break
        decay = 1.0 - t / n_steps
        length = np.minimum(eta * norm, step) * decay
        G[:, moving] += grad[:, moving] * (length[moving] / norm[moving])
        G /= np.maximum(np.linalg.norm(G, axis=0), 1e-300)
        s = exact(G)
        better = s > s_best
        best[:, better], s_best[better] = G[:, better], s[better]
    return best, s_best


def subnetwork_mask(X, W1, w2, *, chunk=64):
    """Second-layer activation patterns ``(X W1_b)_+ w2_b >= 0`` of sub-networks ``b``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    W1 : ndarray of shape (n_subnetworks, n_features, width)
    w2 : ndarray of shape (n_subnetworks, width)

    Returns
    -------
    mask : ndarray of bool, shape (n_samples, n_subnetworks)
    """
    X = np.asarray(X)
    out = np.empty((X.shape[0], W1.shape[0]), dtype=bool)
    for lo in range(0, W1.shape[0], chunk):  # bounded (n, chunk, width) temporaries
        hi = min(lo + chunk, W1.shape[0])
        H = np.maximum(np.einsum("nd,bdm->nbm", X, W1[lo:hi]), 0.0)
        out[:, lo:hi] = np.einsum("nbm,bm->nb", H, w2[lo:hi]) >= 0
    return out


def sample_subnetwork_gates(X, n_patterns, *, width, first_layer=None, max_rounds=20,
                            sample_weight=None, random_state=None):
    """Sample width-``width`` ReLU sub-networks whose second-layer patterns on ``X`` are
    distinct.

    A sub-network ``x -> (x W1)_+ w2`` (``W1`` of shape (n_features, width)) gates its output
    unit by ``1[(X W1)_+ w2 >= 0]``; these are the second-layer patterns of three-layer programs
    (spec p1_three_layer.md, section 2). Only patterns that a width-``width`` sub-network can
    reach are drawn.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The (preprocessed) data, including a bias column if any.
    n_patterns : int
        Budget of distinct second-layer patterns.
    width : int
        First-layer width of the random sub-networks.
    first_layer : ndarray of shape (n_features, n_gates) or None
        If given, the first-layer weights of every sub-network are columns of it drawn at
        random (the sampled first-layer generators: then every second-layer pattern is
        reachable with the sampled first-layer patterns); else Gaussian.
    max_rounds : int, default=20
    sample_weight : ndarray of shape (n_samples,) or None
        Rows with zero weight do not count when telling patterns apart.
    random_state : int, RandomState instance or None

    Returns
    -------
    W1 : ndarray of shape (n_found, n_features, width)
    w2 : ndarray of shape (n_found, width)
        One sub-network per distinct non-empty pattern, in the order found
        (:func:`subnetwork_mask` gives the patterns).

    Warns
    -----
    UserWarning
        When fewer than ``n_patterns`` distinct patterns were found.
    """
    rng = check_random_state(random_state)
    n, d = X.shape
    rows = slice(None) if sample_weight is None else np.asarray(sample_weight) > 0
    keys, found_W, found_w = set(), [], []
    for _ in range(max_rounds):
        need = n_patterns - len(found_W)
        if need <= 0:
            break
        batch = max(2 * need, 16)
        if first_layer is None or first_layer.shape[1] == 0:
            W1 = rng.standard_normal((batch, d, width))
        else:
            idx = rng.randint(0, first_layer.shape[1], (batch, width))
            W1 = np.ascontiguousarray(first_layer.T[idx].transpose(0, 2, 1))
        w2 = rng.standard_normal((batch, width))
        mask = subnetwork_mask(X, W1, w2)[rows]
        nonempty = mask.any(axis=0)
        for col, key in zip(np.flatnonzero(nonempty), _pattern_keys(mask[:, nonempty])):
            if key not in keys:
                keys.add(key)
                found_W.append(W1[col])
                found_w.append(w2[col])
                if len(found_W) == n_patterns:
                    break
    if len(found_W) < n_patterns:
        warnings.warn(
            f"n_patterns={n_patterns} exceeds the {len(found_W)} distinct second-layer "
            f"activation patterns found on these data after {max_rounds} sampling rounds; "
            f"using {len(found_W)}.", UserWarning)
    if not found_W:
        return np.zeros((0, d, width)), np.zeros((0, width))
    return np.stack(found_W), np.stack(found_w)

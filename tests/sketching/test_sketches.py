"""Tests of the random embeddings (skconvex.sketching.sketches)."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_limits

from skconvex.sketching import (
    SKETCH_KINDS,
    Sketch,
    approximate_leverage_scores,
    sketch,
)
from skconvex.sketching import sketches as sketches_module


@pytest.fixture(autouse=True)
def _single_threaded_blas():
    """The matrices here are small: one BLAS thread is as fast, and the timings do not
    collapse when other processes load the machine (OpenBLAS threads then spin)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _kwargs(kind, n, s=3, rng=None):
    """Constructor arguments that make every kind fully determined at construction."""
    if kind == "sjlt":
        return {"nnz_per_row": 2}
    if kind == "less_uniform":
        return {"nnz_per_row": s}
    if kind == "less":
        rng = np.random.default_rng(123) if rng is None else rng
        return {"nnz_per_row": s, "probabilities": rng.random(n) + 0.05}
    return {}


# --------------------------------------------------------------------------------------
# E[S^T S] = I
# --------------------------------------------------------------------------------------

_MC_CASES = [
    ("gaussian", 5, {}),
    ("rademacher", 5, {}),
    ("srht", 5, {}),
    ("srht", 6, {}),  # n = 6 is padded to 8
    ("sjlt", 4, {}),
    ("sjlt", 5, {"nnz_per_row": 3}),
    ("less_uniform", 5, {"nnz_per_row": 2}),
    ("less_uniform", 4, {}),  # default s = min(n, d) = n at the first apply
    ("less", 5, {"nnz_per_row": 3, "probabilities": np.arange(1.0, 9.0)}),
]


@pytest.mark.parametrize("kind, m, kw", _MC_CASES)
def test_expectation_of_StS_is_identity(kind, m, kw):
    n = 8 if kind != "srht" or m != 6 else 6
    kw = dict(kw)
    if "probabilities" in kw:
        kw["probabilities"] = kw["probabilities"][:n]
    draws = 2000
    eye = np.eye(n)
    samples = np.empty((draws, n, n))
    for k in range(draws):
        S = Sketch(n, m, kind, random_state=k, **kw).apply(eye)  # the kernels, not toarray
        samples[k] = S.T @ S
    mean = samples.mean(axis=0)
    # Monte Carlo tolerance from the measured spread of each entry: 5 standard errors
    # (over ~9 x 64 entries a false alarm has probability < 1e-3). Entries that do not
    # vary (e.g. the diagonal of rademacher / sjlt / srht, which is exactly 1) must match
    # to rounding.
    stderr = samples.std(axis=0) / np.sqrt(draws)
    tol = 5 * stderr + 1e-12
    assert np.all(np.abs(mean - np.eye(n)) <= tol), np.max(np.abs(mean - np.eye(n)) / tol)
    # the test has power: a 20 % error of scale would be caught on the diagonal
    assert np.all(tol[np.diag_indices(n)] < 0.2)


# --------------------------------------------------------------------------------------
# Subspace embedding
# --------------------------------------------------------------------------------------

_EMB_CASES = [
    ("gaussian", {}),
    ("rademacher", {}),
    ("srht", {}),
    ("sjlt", {}),
    ("sjlt", {"nnz_per_row": 4}),
    ("less_uniform", {}),
    ("less", {}),
]


@pytest.mark.parametrize("kind, kw", _EMB_CASES)
def test_subspace_embedding(kind, kw):
    # Band: for an m x d Gaussian embedding of a d-dim subspace the singular values of
    # S U lie in 1 +- sqrt(d/m) up to fluctuations of order m^(-2/3) (Davidson-Szarek /
    # Tracy-Widom); d = 20, m = 200 gives 1 +- 0.32. The other kinds behave like the
    # Gaussian on a random (incoherent) subspace: srht samples an orthogonal matrix,
    # CountSketch / LESS have Gram errors with the same variance ~ d/m. We allow 0.13 of
    # slack on each side for sampling fluctuations: [0.55, 1.45].
    n, d, m = 2000, 20, 200
    U, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((n, d)))
    eps = np.sqrt(d / m) + 0.13
    kw = dict(kw)
    if kind == "less":
        kw["probabilities"] = np.sum(U**2, axis=1)  # exact leverage scores of U
    for seed in range(3):
        sv = np.linalg.svd(Sketch(n, m, kind, random_state=seed, **kw).apply(U), compute_uv=False)
        assert 1 - eps <= sv.min() and sv.max() <= 1 + eps, (seed, sv.min(), sv.max())


def test_less_with_leverage_beats_uniform_on_coherent_subspace():
    # a subspace concentrated on a few rows: uniform sampling misses them, leverage
    # sampling does not (the reason the "less" kind exists)
    rng = np.random.default_rng(1)
    n, d, m = 2000, 10, 100
    B = rng.standard_normal((n, d)) * 0.01
    B[:d] += 10 * np.eye(d)
    U, _ = np.linalg.qr(B)
    p = np.sum(U**2, axis=1)
    worst = {}
    for kind, kw in [("less_uniform", {}), ("less", {"probabilities": p})]:
        dist = []
        for seed in range(5):
            sv = np.linalg.svd(
                Sketch(n, m, kind, nnz_per_row=d, random_state=seed, **kw).apply(U),
                compute_uv=False,
            )
            dist.append(max(abs(sv.max() - 1), abs(1 - sv.min())))
        worst[kind] = max(dist)
    assert worst["less"] < 0.6 < worst["less_uniform"]


# --------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SKETCH_KINDS)
def test_determinism(kind):
    n, d, m = 50, 4, 8
    A = np.random.default_rng(0).standard_normal((n, d))
    kw = _kwargs(kind, n)
    ref = Sketch(n, m, kind, random_state=7, **kw).apply(A)
    S = Sketch(n, m, kind, random_state=7, **kw)
    assert_array_equal(S.apply(A), ref)
    assert_array_equal(S.apply(A), ref)  # applying twice: same S
    assert_array_equal(S.toarray(), Sketch(n, m, kind, random_state=7, **kw).toarray())
    for make in (lambda: np.random.RandomState(3), lambda: np.random.default_rng(3)):
        rs = make()
        first = Sketch(n, m, kind, random_state=rs, **kw).apply(A)
        second = Sketch(n, m, kind, random_state=rs, **kw).apply(A)
        assert_array_equal(first, Sketch(n, m, kind, random_state=make(), **kw).apply(A))
        assert not np.allclose(first, second)  # a shared generator moves on
    assert not np.allclose(Sketch(n, m, kind, random_state=8, **kw).apply(A), ref)
    # int seeds are used as given
    assert Sketch(n, m, kind, random_state=2**40, **kw).entropy == 2**40


def test_global_random_state_is_used_for_none():
    np.random.seed(0)
    a = Sketch(30, 5, "sjlt").toarray()
    np.random.seed(0)
    b = Sketch(30, 5, "sjlt").toarray()
    assert_array_equal(a, b)


# --------------------------------------------------------------------------------------
# Layouts, formats, dtypes, weights: all give S diag(w) A for the same S
# --------------------------------------------------------------------------------------

# (n, d, m): small; enough work for 2 column blocks of the scatter kernel and several
# chunks / tiles of the FWHT; wide (several row chunks of the F-ordered scatter)
_SHAPES = [(37, 5, 12), (3000, 70, 50), (600, 530, 20)]


@pytest.fixture(params=[None, 1, 3], ids=["threads-auto", "plan-1", "plan-3"])
def thread_plan(request, monkeypatch):
    """Split the kernels' work for 1 or 3 threads, whatever the size."""
    if request.param is not None:
        monkeypatch.setattr(sketches_module, "_threads_for", lambda work: request.param)
    return request.param


@pytest.mark.parametrize("shape", _SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kind", SKETCH_KINDS)
def test_apply_matches_toarray_all_layouts(kind, shape, thread_plan):
    n, d, m = shape
    if thread_plan is not None and kind not in ("sjlt", "srht", "less_uniform"):
        pytest.skip("no work split in this kind, or the same kernel as less_uniform")
    rng = np.random.default_rng(1)
    A = rng.standard_normal((n, d))
    A[rng.random((n, d)) < 0.6] = 0.0  # some sparsity for the sparse formats
    w = rng.random(n) + 0.5
    S = Sketch(n, m, kind, random_state=3, **_kwargs(kind, n, rng=rng))
    M = S.toarray()
    assert M.shape == (m, n) and M.dtype == np.float64
    ref = M @ A
    ref_w = M @ (w[:, None] * A)
    scale = np.abs(ref).max()
    for X in (A, np.asfortranarray(A), sp.csr_matrix(A), sp.csc_matrix(A), sp.coo_matrix(A),
              sp.csr_array(A)):
        out = S.apply(X)
        assert isinstance(out, np.ndarray) and out.flags.c_contiguous
        assert out.dtype == np.float64 and out.shape == (m, d)
        assert_allclose(out, ref, rtol=1e-10, atol=1e-12 * scale)
        assert_allclose(S.apply(X, row_weights=w), ref_w, rtol=1e-10, atol=1e-12 * scale)
    # float32 in, float32 out, close to float64 (C-ordered and, for the sparse kinds, CSR:
    # every float32 kernel variant costs compile time on a cold cache)
    X32 = [A.astype(np.float32)]
    if kind in ("sjlt", "less_uniform", "less"):
        X32.append(sp.csr_matrix(A, dtype=np.float32))
    for X in X32:
        out = S.apply(X)
        assert out.dtype == np.float32
        assert_allclose(out, ref, rtol=1e-4, atol=1e-5 * scale)
    # a non-contiguous view is handled (copied)
    assert_allclose(S.apply(np.repeat(A, 2, axis=1)[:, ::2]), ref, rtol=1e-10, atol=1e-12 * scale)
    # integer input -> float64
    Ai = np.round(A * 3).astype(np.int64)
    assert_allclose(S.apply(Ai), M @ Ai, rtol=1e-10, atol=1e-10 * np.abs(M @ Ai).max())


@pytest.mark.parametrize("kind", ["less_uniform", "sjlt"])
def test_heavy_scatter_column_split(kind, thread_plan):
    # many output-row updates per row of A: C-ordered A is split by columns too
    n, d, m = 500, 70, 40
    A = np.random.default_rng(0).standard_normal((n, d))
    S = Sketch(n, m, kind, nnz_per_row=40, random_state=0)
    ref = S.toarray() @ A
    for X in (A, np.asfortranarray(A), A.astype(np.float32)):
        assert_allclose(S.apply(X), ref, rtol=1e-5 if X.dtype == np.float32 else 1e-10,
                        atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("kind", SKETCH_KINDS)
def test_srht_like_paths_with_tiny_cache_plan(kind, monkeypatch):
    """Force small chunks / tiles / panels in the FWHT (every stage split exercised)."""
    monkeypatch.setattr(
        sketches_module, "_srht_plan", lambda nt, N, d, isz, c: (8, 4, 2, [0, 1, 2, 3])
    )
    n, d, m = 100, 19, 16
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, d))
    S = Sketch(n, m, kind, random_state=0, **_kwargs(kind, n))
    ref = S.toarray() @ A
    for X in (A, np.asfortranarray(A), sp.csc_matrix(A), sp.csr_matrix(A)):
        assert_allclose(S.apply(X), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", SKETCH_KINDS)
def test_one_dimensional_input(kind):
    n, m = 300, 20
    rng = np.random.default_rng(2)
    b = rng.standard_normal(n)
    S = Sketch(n, m, kind, random_state=1, **_kwargs(kind, n))
    out = S.apply(b)
    assert out.shape == (m,)
    assert_allclose(out, S.toarray() @ b, rtol=1e-10, atol=1e-12)
    assert_allclose(out, S.apply(b[:, None])[:, 0], rtol=1e-12, atol=1e-14)
    assert S.apply(b.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("kind", ["sjlt", "less_uniform", "less"])
@pytest.mark.parametrize("fmt", ["csr_matrix", "csc_matrix", "csr_array"])
def test_sparse_output(kind, fmt):
    n, d, m = 400, 30, 25
    A = sp.random(n, d, density=0.1, format="csr", random_state=0)
    A = getattr(sp, fmt)(A)
    w = np.random.default_rng(0).random(n)
    S = Sketch(n, m, kind, random_state=0, **_kwargs(kind, n))
    for rw in (None, w):
        out = S.apply(A, row_weights=rw, dense_output=False)
        assert sp.issparse(out) and out.format == "csr" and out.shape == (m, d)
        assert isinstance(out, sp.sparray) == isinstance(A, sp.sparray)
        assert_allclose(out.toarray(), S.apply(A, row_weights=rw), rtol=1e-10, atol=1e-12)
    assert S.apply(A.astype(np.float32), dense_output=False).dtype == np.float32


@pytest.mark.parametrize("kind", ["gaussian", "rademacher", "srht"])
def test_dense_output_false_gives_ndarray_for_dense_kinds(kind):
    A = sp.random(64, 5, density=0.2, format="csr", random_state=0)
    out = Sketch(64, 8, kind, random_state=0).apply(A, dense_output=False)
    assert isinstance(out, np.ndarray)
    out = Sketch(64, 8, "sjlt", random_state=0).apply(A.toarray(), dense_output=False)
    assert isinstance(out, np.ndarray)


def test_large_m_is_an_embedding():
    n, m = 20, 50
    A = np.random.default_rng(0).standard_normal((n, 3))
    for kind in ("gaussian", "rademacher", "sjlt", "less_uniform"):
        S = Sketch(n, m, kind, random_state=0, **_kwargs(kind, n))
        assert_allclose(S.apply(A), S.toarray() @ A, atol=1e-12)


# --------------------------------------------------------------------------------------
# sketch(), lazily fixed LESS parameters, leverage scores
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SKETCH_KINDS)
def test_sketch_function_equals_sketch_object(kind):
    n, d, m = 500, 7, 30
    rng = np.random.default_rng(5)
    A = rng.standard_normal((n, d))
    w = rng.random(n)
    out = sketch(A, m, kind, row_weights=w, random_state=11)
    # LESS kinds: s = min(n, d) and (less) the leverage scores of diag(w) A, fixed by the
    # first apply of a Sketch built without them
    S = Sketch(n, m, kind, random_state=11)
    assert_allclose(out, S.apply(A, row_weights=w), rtol=1e-12)
    if kind in ("less_uniform", "less"):
        assert S.nnz == d
    # the same S is then applied to anything, e.g. a right-hand side
    b = rng.standard_normal(n)
    assert_allclose(S.apply(b), S.toarray() @ b, atol=1e-12)
    if kind == "sjlt":
        assert_allclose(sketch(A, m, kind, nnz_per_row=3, random_state=1),
                        Sketch(n, m, kind, nnz_per_row=3, random_state=1).apply(A))


def test_less_sketch_requires_parameters_for_toarray():
    S = Sketch(10, 3, "less_uniform", random_state=0)
    with pytest.raises(ValueError, match="nnz_per_row"):
        S.toarray()
    S.apply(np.ones((10, 4)))
    assert S.nnz == 4 and S.toarray().shape == (3, 10)
    S = Sketch(10, 3, "less", nnz_per_row=2, random_state=0)
    with pytest.raises(ValueError, match="probabilities"):
        S.toarray()


def test_approximate_leverage_scores():
    rng = np.random.default_rng(0)
    n, d = 3000, 30
    # coherent rows: scales spread over two orders of magnitude
    A = rng.standard_normal((n, d)) * np.exp(1.5 * rng.standard_normal((n, 1)))
    U, _, _ = np.linalg.svd(A, full_matrices=False)
    exact = np.sum(U**2, axis=1)
    lev = approximate_leverage_scores(A, random_state=0)
    assert lev.shape == (n,) and np.all(lev >= 0) and np.all(lev <= 1)
    assert abs(lev.sum() - d) < 0.1 * d
    ratio = lev / exact
    assert 0.5 < np.median(ratio) < 1.5
    assert np.percentile(ratio, 1) > 0.3 and np.percentile(ratio, 99) < 3
    # sparse input, same seed: same scores
    assert_allclose(approximate_leverage_scores(sp.csr_matrix(A), random_state=0), lev,
                    rtol=1e-8)
    assert_allclose(approximate_leverage_scores(sp.csc_matrix(A), random_state=0), lev,
                    rtol=1e-8)
    # JL path (rank > k) and rank deficiency
    B = rng.standard_normal((3000, 12)) @ rng.standard_normal((12, 80))
    levB = approximate_leverage_scores(B, random_state=1)
    assert abs(levB.sum() - 12) < 1.2
    C = rng.standard_normal((3000, 100))
    assert abs(approximate_leverage_scores(C, random_state=1).sum() - 100) < 10
    # small n: exact
    D = rng.standard_normal((40, 6))
    UD, _, _ = np.linalg.svd(D, full_matrices=False)
    assert_allclose(approximate_leverage_scores(D), np.sum(UD**2, axis=1), atol=1e-12)
    with pytest.raises(ValueError, match="oversampling"):
        approximate_leverage_scores(D, oversampling=0)


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def test_invalid_constructor_parameters():
    with pytest.raises(ValueError, match=r"kind must be one of \('gaussian'"):
        Sketch(10, 3, "countsketch")
    with pytest.raises(ValueError, match="kind must be one of"):
        sketch(np.ones((10, 2)), 3, "fjlt")
    for m in (0, -1, 2.5, 3.0, "3", None, True):
        with pytest.raises(ValueError, match="m must be an integer"):
            Sketch(10, m)
        with pytest.raises(ValueError, match="m must be an integer"):
            sketch(np.ones((10, 2)), m)
    with pytest.raises(ValueError, match="n must be an integer"):
        Sketch(0, 3)
    for s in (0, -2, 1.5):
        with pytest.raises(ValueError, match="nnz_per_row"):
            Sketch(10, 3, "sjlt", nnz_per_row=s)
        with pytest.raises(ValueError, match="nnz_per_row"):
            sketch(np.ones((10, 2)), 3, "less", nnz_per_row=s)
    with pytest.raises(ValueError, match="nnz_per_row must be <= m"):
        Sketch(10, 3, "sjlt", nnz_per_row=4)
    with pytest.raises(ValueError, match="m must be <= the padded size"):
        Sketch(10, 17, "srht")
    Sketch(10, 16, "srht")  # 10 is padded to 16
    with pytest.raises(ValueError, match="probabilities"):
        Sketch(10, 3, "less", probabilities=np.ones(9))
    with pytest.raises(ValueError, match="probabilities"):
        Sketch(10, 3, "less", probabilities=-np.ones(10))
    with pytest.raises(ValueError, match="probabilities is only used"):
        Sketch(10, 3, "sjlt", probabilities=np.ones(10))
    with pytest.raises(ValueError, match="random_state"):
        Sketch(10, 3, random_state=-1)
    with pytest.raises(ValueError):
        Sketch(10, 3, random_state="abc")


@pytest.mark.parametrize("kind", SKETCH_KINDS)
def test_invalid_inputs(kind):
    n = 16
    S = Sketch(n, 4, kind, random_state=0, **_kwargs(kind, n))
    A = np.random.default_rng(0).standard_normal((n, 3))
    with pytest.raises(ValueError, match="row_weights"):
        S.apply(A, row_weights=np.ones(n - 1))
    with pytest.raises(ValueError, match="row_weights"):
        S.apply(A, row_weights=np.ones((n, 1)))
    with pytest.raises(ValueError, match="row_weights"):
        S.apply(A, row_weights=np.full(n, np.nan))
    with pytest.raises(ValueError, match="row_weights"):
        sketch(A, 4, kind, row_weights=np.ones(n + 1))
    with pytest.raises(ValueError, match="A has 15 rows"):
        S.apply(A[:-1])
    with pytest.raises(ValueError, match="A must be a 1-D or 2-D"):
        S.apply(np.ones((n, 2, 2)))
    with pytest.raises(ValueError, match="A must be a 1-D or 2-D"):
        sketch(np.ones((n, 2, 2)), 4, kind)
    with pytest.raises((TypeError, ValueError), match="A must be real"):
        S.apply(A + 1j)
    with pytest.raises((TypeError, ValueError), match="A must be real"):
        S.apply(sp.csr_matrix(A + 1j))
    for bad in (np.nan, np.inf, -np.inf):
        B = A.copy()
        B[5, 1] = bad
        w = np.ones(n)
        w[5] = 0.0  # a zero weight must not hide the bad entry
        for X in (B, np.asfortranarray(B), sp.csr_matrix(B), sp.csc_matrix(B), B[:, 1]):
            with pytest.raises(ValueError, match="Input A contains"):
                S.apply(X)
            with pytest.raises(ValueError, match="Input A contains"):
                S.apply(X, row_weights=w)
            with pytest.raises(ValueError, match="Input A contains"):
                sketch(X, 4, kind, random_state=0)
        with pytest.raises(ValueError, match="Input A contains"):
            S.apply(sp.csr_matrix(B), dense_output=False)


def test_overflow_is_not_reported_as_bad_input():
    # finite A whose sketch overflows: returned (inf), not mistaken for NaN/inf in A
    S = Sketch(2, 1, "rademacher", random_state=0)
    with np.errstate(over="ignore"):
        out = S.apply(1e308 * np.sign(S.toarray()[0])[:, None])
    assert np.isinf(out).all()

"""Coded mat-vec: the checks of spec/p5_computational_polarization.md section 6."""

import math

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from scipy import stats

from skconvex.distributed import (
    ExponentialDelay,
    MDSCodedMatVec,
    ParetoDelay,
    PolarCodedMatVec,
    ShiftedExponentialDelay,
    UncodedMatVec,
    UndecodableError,
    polarize_cdf,
)
from skconvex.distributed._kernels import polar_encode, sc_decodable, sc_decode

SHIFTED = ShiftedExponentialDelay(shift=1.0, rate=1.0)


def _data(N, rng, d=3, k=None):
    A = rng.standard_normal((3 * N + 1, d))  # not a multiple of K: padding is exercised
    x = rng.standard_normal(d) if k is None else rng.standard_normal((d, k))
    return A, x


@pytest.mark.parametrize("dist", [SHIFTED, ParetoDelay(1.0, 1.5), ExponentialDelay(3.0)])
def test_martingale_mean_cdf_preserved_at_every_level(dist):
    t = np.linspace(0, 20, 801)
    F = dist.cdf(t)
    for n in range(1, 9):
        Fs = polarize_cdf(F, n)
        assert Fs.shape == (2 ** n, t.size)
        np.testing.assert_allclose(Fs.mean(axis=0), F, rtol=0, atol=1e-12)
        # one step of the martingale: the pair of children averages to the parent
        parent = polarize_cdf(F, n - 1)
        np.testing.assert_allclose(0.5 * (Fs[0::2] + Fs[1::2]), parent, atol=1e-12)


def test_polarize_cdf_one_level_by_hand():
    F = np.array([0.0, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(polarize_cdf(F, 1), [F ** 2, 2 * F - F ** 2])
    np.testing.assert_array_equal(polarize_cdf(F, 0), F[None])
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        polarize_cdf([0.0, 1.5], 2)


def test_monte_carlo_virtual_runtimes_match_virtual_cdfs():
    rng = np.random.default_rng(0)
    code = PolarCodedMatVec(4, 0.5, runtime_cdf=SHIFTED).fit(np.ones((16, 1)))
    T = SHIFTED.sample((4000, 16), random_state=rng)
    V = code.virtual_times(T)
    pvalues = []
    for i in range(16):
        Fi = code.virtual_cdfs_[i]
        pvalues.append(stats.kstest(V[:, i], lambda s, Fi=Fi: np.interp(s, code.grid_, Fi))
                       .pvalue)
        # and the expected runtime of the recursion equals the Monte Carlo mean
        se = V[:, i].std() / math.sqrt(len(V))
        assert abs(V[:, i].mean() - code.expected_virtual_runtimes_[i]) < 5 * se
    assert min(pvalues) > 1e-3 / 16, pvalues
    # a wrong assignment (fast and slow swapped) is rejected by the same test
    wrong = stats.kstest(V[:, 0], lambda s: np.interp(s, code.grid_, code.virtual_cdfs_[-1]))
    assert wrong.pvalue < 1e-10


def test_design_from_samples_matches_design_from_cdf():
    rng = np.random.default_rng(1)
    samples = SHIFTED.sample(200000, random_state=rng)
    a = PolarCodedMatVec(6, 0.5, runtime_cdf=SHIFTED).fit(np.ones((64, 1)))
    b = PolarCodedMatVec(6, 0.5, runtime_samples=samples).fit(np.ones((64, 1)))
    np.testing.assert_allclose(b.expected_virtual_runtimes_, a.expected_virtual_runtimes_,
                               rtol=0.02)
    # the information sets agree except perhaps near the boundary of the ranking
    assert len(np.intersect1d(a.info_set_, b.info_set_)) >= 30


@pytest.mark.parametrize("n", [1, 3, 6, 8])
@pytest.mark.parametrize("k", [None, 2])
def test_decode_exact_at_completion_time_and_fails_just_before(n, k):
    rng = np.random.default_rng(n)
    N = 2 ** n
    A, x = _data(N, rng, k=k)
    code = PolarCodedMatVec(n, 0.5, runtime_cdf=SHIFTED).fit(A)
    exact = A @ x
    n_fail = 0
    for _ in range(30):
        T = SHIFTED.sample(N, random_state=rng)
        tc = code.completion_time(T)
        done = T <= tc
        np.testing.assert_allclose(code.matvec(x, available=done), exact, rtol=0, atol=1e-10)
        # any superset decodes too
        more = done | (rng.random(N) < 0.3)
        np.testing.assert_allclose(code.matvec(x, available=more), exact, atol=1e-10)
        assert code.can_decode(done)
        # just before completion: the worker that finishes at tc is missing
        before = T < tc
        if before.sum() < done.sum():
            assert not code.can_decode(before)
            with pytest.raises(UndecodableError, match="cannot decode"):
                code.matvec(x, available=before)
            n_fail += 1
    if N > 2:
        assert n_fail > 0


def test_all_available_and_n2_by_hand():
    rng = np.random.default_rng(2)
    A, x = _data(16, rng)
    code = PolarCodedMatVec(4, 0.75, runtime_cdf=SHIFTED).fit(A)
    np.testing.assert_allclose(code.matvec(x), A @ x, atol=1e-12)
    # N = 2, K = 1: the data sits at the fast position u_2 (from either result);
    # worker 1 holds u_1 + u_2 = A, worker 2 holds u_2 = A
    A2 = np.array([[1.0, 2.0], [3.0, 4.0]])
    c2 = PolarCodedMatVec(1, 0.5, runtime_cdf=SHIFTED).fit(A2)
    np.testing.assert_array_equal(c2.info_set_, [1])
    np.testing.assert_array_equal(c2.frozen_set_, [0])
    np.testing.assert_allclose(c2.expected_virtual_runtimes_, [2.5, 1.5], atol=2e-3)
    np.testing.assert_array_equal(c2.coded_blocks_, [A2, A2])
    v = np.array([1.0, -1.0])
    for avail in ([True, False], [False, True]):
        np.testing.assert_allclose(c2.matvec(v, available=np.array(avail)), A2 @ v)
    assert c2.completion_time(np.array([3.0, 2.0])) == 2.0
    # N = 2, K = 2 (rate 1): the slow position needs both results (y_1 - y_2)
    c3 = PolarCodedMatVec(1, 1.0).fit(A2)
    np.testing.assert_allclose(c3.coded_blocks_[0], [[4.0, 6.0]])
    assert c3.completion_time(np.array([3.0, 2.0])) == 3.0
    with pytest.raises(UndecodableError):
        c3.matvec(v, available=np.array([True, False]))


def test_encode_is_kronecker_power_and_decoder_inverts_it():
    rng = np.random.default_rng(3)
    G2 = np.array([[1.0, 0.0], [1.0, 1.0]])
    G = np.ones((1, 1))
    for _ in range(4):
        G = np.kron(G2, G)
    u = rng.standard_normal((16, 3))
    np.testing.assert_allclose(polar_encode(u), G.T @ u)  # x = u G (row convention)
    U, failed, _ = sc_decode(G.T @ u, np.ones(16, bool), np.zeros(16, bool))
    assert failed == -1
    np.testing.assert_allclose(U, u, atol=1e-12)


def test_decode_flops_grow_as_n_log_n():
    rng = np.random.default_rng(4)
    L = 5
    ratios, mds_ratios = [], []
    for n in range(2, 11):
        N = 2 ** n
        code = PolarCodedMatVec(n, 0.5, runtime_cdf=SHIFTED).fit(np.ones((N, L)))
        y = rng.standard_normal((N, L))
        # all results available: N log2 N row operations exactly (f and combine steps)
        _, failed, flops = sc_decode(y, np.ones(N, bool), code._frozen)
        assert failed == -1 and flops == N * n * L
        # decodable runs with stragglers: at most 3/2 N log2 N row operations
        worst, Lres = 0, code.block_rows_ * L
        for _ in range(5):
            T = SHIFTED.sample(N, random_state=rng)
            code.matvec(np.eye(L), available=T <= code.completion_time(T))
            worst = max(worst, code.decode_flops_)
        assert worst <= 1.5 * N * n * Lres  # a result has Lres entries here
        ratios.append(worst / (N * n * Lres))
        mds = MDSCodedMatVec(N, N // 2, random_state=0).fit(np.ones((N, 1)))
        mds.matvec(np.ones(1), available=np.arange(N // 2))
        mds_ratios.append(mds.decode_flops_ / (N * n))
    # bounded ratio to N log N, from both sides
    assert max(ratios) <= 1.5 and min(ratios) >= 0.5
    # the MDS decode (a K x K solve) grows much faster than N log N
    assert mds_ratios[-1] > 1000 * mds_ratios[0]


def test_polar_completion_never_beats_the_kth_order_statistic():
    rng = np.random.default_rng(5)
    for n in (2, 5, 8):
        N = 2 ** n
        polar = PolarCodedMatVec(n, 0.5, runtime_cdf=SHIFTED).fit(np.ones((N, 1)))
        mds = MDSCodedMatVec(N, polar.n_blocks_, random_state=0).fit(np.ones((N, 1)))
        unc = UncodedMatVec(N).fit(np.ones((N, 1)))
        T = SHIFTED.sample((500, N), random_state=rng)
        tp, tm, tu = polar.completion_time(T), mds.completion_time(T), unc.completion_time(T)
        assert np.all(tp >= tm) and np.all(tu >= tp)
        # the K-th order statistic: exactly K workers done by then
        assert np.all((T <= tm[:, None]).sum(axis=1) == polar.n_blocks_)


def test_polarization_expected_runtimes_become_distributed_as_F():
    """Virtual runtimes become deterministic thresholds whose empirical distribution is F:
    the KS distance between the expected virtual runtimes and F decreases with n, the
    average variance of a virtual runtime halves every two levels, and the fraction of
    virtual workers faster than F^{-1}(R) + eps tends to F(F^{-1}(R) + eps) (about R)."""
    ks, var = [], []
    R, eps = 0.5, 0.05
    for n in (2, 4, 6, 8, 10, 12):
        c = PolarCodedMatVec(n, R, runtime_cdf=SHIFTED).fit(np.ones((2 ** n, 1)))
        ET = np.sort(c.expected_virtual_runtimes_)
        N = ET.size
        Fe = SHIFTED.cdf(ET)
        ks.append(max(np.max(np.abs(np.arange(1, N + 1) / N - Fe)),
                      np.max(np.abs(np.arange(N) / N - Fe))))
        second = 2.0 * np.trapezoid(c.grid_ * (1.0 - c.virtual_cdfs_), c.grid_, axis=1)
        var.append(np.mean(second - c.expected_virtual_runtimes_ ** 2))
        frac = np.mean(ET <= SHIFTED.ppf(R) + eps)
    assert all(a > b for a, b in zip(ks, ks[1:])) and ks[-1] < 0.01
    assert all(b < 0.6 * a for a, b in zip(var, var[1:]))
    assert abs(frac - SHIFTED.cdf(SHIFTED.ppf(R) + eps)) < 0.01


def test_decodability_check_matches_decoder():
    rng = np.random.default_rng(6)
    N = 64
    frozen = np.zeros(N, bool)
    frozen[rng.choice(N, 32, replace=False)] = True
    y = rng.standard_normal((N, 2))
    for _ in range(200):
        avail = rng.random(N) < rng.uniform(0.3, 0.9)
        a = sc_decodable(avail, frozen)
        b = sc_decode(y, avail, frozen)[1]
        assert a == b


def test_mds_and_uncoded():
    rng = np.random.default_rng(7)
    A, x = _data(8, rng, k=2)
    mds = MDSCodedMatVec(8, 4, random_state=0).fit(A)
    for _ in range(5):
        avail = rng.choice(8, 4, replace=False)
        np.testing.assert_allclose(mds.matvec(x, available=avail), A @ x, atol=1e-9)
    with pytest.raises(UndecodableError, match="needs any 4"):
        mds.matvec(x, available=[0, 1, 2])
    vdm = MDSCodedMatVec(8, 4, generator="vandermonde").fit(A)
    np.testing.assert_allclose(vdm.matvec(x, available=[1, 3, 5, 7]), A @ x, atol=1e-9)
    unc = UncodedMatVec(5).fit(A)
    np.testing.assert_allclose(unc.matvec(x), A @ x)
    with pytest.raises(UndecodableError, match="missing \\[2\\]"):
        unc.matvec(x, available=[0, 1, 3, 4])
    # results handed over as a list with None for stragglers
    res = [blk @ x for blk in mds.worker_tasks()]
    res[0] = res[5] = None
    np.testing.assert_allclose(mds.decode(res), A @ x, atol=1e-9)


def test_float32_blocks_kept():
    A = np.random.default_rng(8).standard_normal((32, 4)).astype(np.float32)
    code = PolarCodedMatVec(3, 0.5).fit(A)
    assert code.coded_blocks_.dtype == np.float32
    np.testing.assert_allclose(code.matvec(np.ones(4, np.float32)), A.sum(1), rtol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_levels": 0}, "n_levels"),
    ({"n_levels": 3, "rate": 0.0}, "rate"),
    ({"n_levels": 3, "design": "median"}, "design"),
    ({"n_levels": 3, "runtime_samples": [-1.0, 2.0]}, "non-negative"),
    ({"n_levels": 3, "runtime_cdf": 3.0}, "callable"),
    ({"n_levels": 3, "grid": [0.0, 2.0, 1.0]}, "increasing"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        PolarCodedMatVec(**kwargs).fit(np.ones((8, 2)))


def test_bad_inputs():
    code = PolarCodedMatVec(2, 0.5).fit(np.ones((8, 2)))
    with pytest.raises(ValueError, match="one entry per worker"):
        code.decode([np.ones(4)] * 3)
    with pytest.raises(ValueError, match="shape"):
        code.decode([np.ones(4), np.ones(3), np.ones(4), np.ones(4)])
    # results of the wrong length for every code (were decoded into a wrong-length A @ x)
    for c in (code, MDSCodedMatVec(4, 2, random_state=0).fit(np.ones((8, 2))),
              UncodedMatVec(4).fit(np.ones((8, 2)))):
        rows = c.block_rows_
        with pytest.raises(ValueError, match=rf"block times x: \({rows},\)"):
            c.decode([np.ones(rows - 1)] * 4)
        with pytest.raises(ValueError, match="block times x"):
            c.decode([1.0] * 4)
    with pytest.raises(ValueError, match="integer worker indices"):
        code.can_decode([0.5, 1.7, 2, 3])  # were truncated to workers 0 .. 3
    with pytest.raises(NotFittedError):
        UncodedMatVec(3).can_decode([0, 1, 2])
    with pytest.raises(ValueError, match="last axis"):
        code.completion_time(np.ones(5))
    with pytest.raises(ValueError, match="outside"):
        code.can_decode([7])
    with pytest.raises(ValueError, match="k must be"):
        MDSCodedMatVec(4, 5).fit(np.ones((8, 2)))


def test_quantile_design_and_grid():
    c = PolarCodedMatVec(5, 0.5, runtime_cdf=SHIFTED, design=0.9,
                         grid=np.linspace(0, 30, 3001)).fit(np.ones((32, 1)))
    assert c.info_set_.size == 16 and c.grid_.size == 3001
    m = PolarCodedMatVec(5, 0.5, runtime_cdf=SHIFTED).fit(np.ones((32, 1)))
    # the two rankings mostly agree on which virtual workers are fast
    assert len(np.intersect1d(c.info_set_, m.info_set_)) >= 13
    # a plain callable without ppf: grid found by bisection
    f = PolarCodedMatVec(5, 0.5, runtime_cdf=SHIFTED.cdf).fit(np.ones((32, 1)))
    np.testing.assert_allclose(f.expected_virtual_runtimes_, m.expected_virtual_runtimes_,
                               rtol=1e-4)

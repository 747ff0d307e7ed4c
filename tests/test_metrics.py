import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from ganzoo import metrics


def reference_fd(mu1, s1, mu2, s2, eps=1e-6):
    """The usual sqrtm route (as in pytorch-fid), written independently of metrics.py."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(s1)) * eps
        covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(np.real(covmean))


def gaussian_stats(rng, n, d, shift=0.0):
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + shift
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def test_frechet_distance_matches_sqrtm_reference():
    rng = np.random.default_rng(0)
    for d in (1, 5, 32):
        args = gaussian_stats(rng, 200, d) + gaussian_stats(rng, 200, d, shift=0.5)
        assert metrics.frechet_distance(*args) == pytest.approx(reference_fd(*args), rel=1e-8)


def test_frechet_distance_identical_is_zero():
    mu, sigma = gaussian_stats(np.random.default_rng(1), 100, 32)
    d = metrics.frechet_distance(mu, sigma, mu, sigma)
    assert 0 <= d < 1e-6


def test_frechet_distance_diagonal_closed_form():
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    a, b = rng.uniform(0.1, 3, size=8), rng.uniform(0.1, 3, size=8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)


@pytest.mark.parametrize("n, d", [(16, 32), (40, 64)])
def test_frechet_distance_rank_deficient(n, d):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.3
    args = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    fd = metrics.frechet_distance(*args)
    assert np.isfinite(fd) and fd >= 0
    assert fd == pytest.approx(reference_fd(*args), rel=1e-6)
    assert metrics.frechet_distance(args[0], args[1], args[0], args[1]) >= 0


def test_frechet_distance_shape_mismatch():
    with pytest.raises(ValueError):
        metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def stream(x, sizes, **kwargs):
    stats = metrics.FeatureStats(**kwargs)
    for part in np.split(x, np.cumsum(sizes)[:-1]):
        stats.update(part)
    return stats


def test_feature_stats_streaming_matches_numpy():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(600, 12)) * 0.01 + 1000  # large mean, small spread
    stats = stream(x, [1, 7, 0, 250, 3, 339])
    assert stats.count == 600
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=1e-6, atol=1e-12)
    assert stats.mean.dtype == stats.cov.dtype == np.float64


def test_feature_stats_reservoir():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(500, 4)).astype(np.float32)
    sizes = [10, 90, 3, 197, 200]
    stats = stream(x, sizes, keep=50, seed=7)
    kept = stats.features
    assert kept.shape == (50, 4) and kept.dtype == np.float32
    rows = {tuple(r) for r in x}
    assert all(tuple(r) in rows for r in kept)
    assert len({tuple(r) for r in kept}) == 50  # without replacement
    np.testing.assert_array_equal(kept, stream(x, sizes, keep=50, seed=7).features)
    assert not np.array_equal(kept, stream(x, sizes, keep=50, seed=8).features)
    assert stream(x[:20], [20], keep=50).features.shape == (20, 4)
    assert stream(x, sizes).features.shape == (0, 4)


def test_feature_stats_reservoir_is_uniform():
    # Inclusion frequency of every row should be keep / n, including rows of one batch
    # that compete for the same slot.
    n, keep, trials = 20, 5, 2000
    x = np.arange(n, dtype=np.float64)[:, None]
    counts = np.zeros(n)
    for seed in range(trials):
        counts[stream(x, [3, 9, 8], keep=keep, seed=seed).features[:, 0].astype(int)] += 1
    np.testing.assert_allclose(counts / trials, keep / n, atol=0.05)


def test_feature_stats_state_roundtrip(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(300, 6))
    stats = stream(x[:200], [100, 100])
    np.savez(tmp_path / "ref.npz", **stats.state())
    loaded = metrics.FeatureStats.from_state(np.load(tmp_path / "ref.npz"))
    assert loaded.count == 200
    np.testing.assert_allclose(loaded.mean, stats.mean)
    np.testing.assert_allclose(loaded.cov, stats.cov)
    loaded.update(x[200:])  # continues as if all rows had been streamed
    np.testing.assert_allclose(loaded.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(loaded.cov, np.cov(x, rowvar=False), rtol=1e-10)


def test_fid_of_feature_stats():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(300, 5)), rng.normal(size=(200, 5)) + 1
    expected = reference_fd(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert metrics.fid(stream(a, [300]), stream(b, [50, 150])) == pytest.approx(expected)


def direct_mmd2(x, y, degree=3, coef0=1.0):
    gamma = 1.0 / x.shape[1]
    k = lambda u, v: (gamma * np.dot(u, v) + coef0) ** degree
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return (xx + yy) / (m * (m - 1)) - 2 * xy / (m * m)


def test_kid_matches_direct_mmd():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4)) + 0.5
    mean, std = metrics.kid(x, y, num_subsets=3, subset_size=1000)  # clipped to 30: a permutation
    assert mean == pytest.approx(direct_mmd2(x, y), rel=1e-10)
    assert std == pytest.approx(0, abs=1e-12)


def test_kid_same_vs_shifted():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(500, 16)), rng.normal(size=(500, 16))
    same, _ = metrics.kid(a, b, num_subsets=5, subset_size=250)
    shifted, _ = metrics.kid(a, b + 0.3, num_subsets=5, subset_size=250)
    assert abs(same) < 0.03
    assert shifted > 0.2


def test_inception_score():
    uniform = np.full((100, 10), 0.1)
    assert metrics.inception_score(uniform) == pytest.approx((1.0, 0.0))
    confident = np.tile(np.eye(10), (50, 1))  # one split: every class 50 times
    assert metrics.inception_score(confident, splits=1) == pytest.approx((10.0, 0.0))
    score, _ = metrics.inception_score(logits=np.tile(50 * np.eye(10), (50, 1)), splits=1)
    assert score == pytest.approx(10.0, rel=1e-6)
    with pytest.raises(ValueError):
        metrics.inception_score()


def reference_precision_recall(real, fake, k):
    def radii(x):
        return np.sort(cdist(x, x), axis=1)[:, k]  # column 0 is the point itself
    d = cdist(fake, real)
    return (np.mean((d <= radii(real)[None, :]).any(1)),
            np.mean((d.T <= radii(fake)[None, :]).any(1)))


def test_precision_recall_matches_brute_force():
    rng = np.random.default_rng(10)
    real, fake = rng.normal(size=(150, 3)), rng.normal(size=(120, 3)) + 0.5
    result = metrics.precision_recall(real, fake, k=3, batch_size=32)
    precision, recall = reference_precision_recall(real, fake, 3)
    assert result["precision"] == pytest.approx(precision)
    assert result["recall"] == pytest.approx(recall)
    assert metrics.precision_recall(real, fake, k=3, batch_size=1000) == result


def test_precision_recall_toy_distributions():
    rng = np.random.default_rng(11)
    blob = rng.normal(size=(500, 2))
    assert metrics.precision_recall(blob, blob) == {"precision": 1.0, "recall": 1.0}
    assert metrics.precision_recall(blob, blob + 100) == {"precision": 0.0, "recall": 0.0}
    real = np.concatenate([blob, rng.normal(size=(500, 2)) + 10])
    fake = rng.normal(size=(500, 2))  # mode collapse onto the first blob
    result = metrics.precision_recall(real, fake)
    assert result["precision"] > 0.9
    assert 0.4 < result["recall"] <= 0.5


def test_classifier_accuracy():
    rng = np.random.default_rng(12)
    labels = rng.integers(0, 10, size=5000)
    logits = np.eye(10)[labels] + 0.1 * rng.normal(size=(5000, 10))
    assert metrics.classifier_accuracy(logits, labels) == 1.0
    assert metrics.classifier_accuracy(labels, labels) == 1.0
    assert metrics.classifier_accuracy(logits, rng.permutation(labels)) == pytest.approx(0.1, abs=0.02)


def test_inception_score_does_not_depend_on_row_order():
    c = 10
    sorted_by_class = np.repeat(np.eye(c), 50, axis=0)  # confident, grouped by class
    mean, _ = metrics.inception_score(sorted_by_class, splits=10)
    assert mean > 0.9 * c

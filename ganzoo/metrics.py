"""GAN evaluation metrics as pure numpy/scipy math on precomputed features.

Feature extraction (Inception etc.) lives elsewhere; everything here takes arrays:

    stats = FeatureStats(keep=10000)
    for batch in feature_batches:            # float [n, d]
        stats.update(batch)
    fid(stats, reference_stats)
    np.savez(path, **stats.state()); FeatureStats.from_state(np.load(path))
"""
import numpy as np
from scipy import special


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    |mu1 - mu2|^2 + tr(s1) + tr(s2) - 2 tr((s1 s2)^1/2)
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != mu1.shape * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape} {mu2.shape}, sigma {s1.shape} {s2.shape}")
    # s1 s2 is not symmetric, but sqrt(s1) s2 sqrt(s1) is similar to it and symmetric PSD, so
    # tr((s1 s2)^1/2) is the sum of square roots of its (real) eigenvalues. Unlike sqrtm this
    # stays real and accurate when the covariances are singular (fewer samples than dims).
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    d = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    return float(max(d, 0.0))  # round-off can leave a tiny negative for identical inputs


class FeatureStats:
    """Streaming mean/covariance of feature batches, plus a uniform reservoir of `keep` rows."""

    def __init__(self, keep=0, seed=0):
        self.keep = int(keep)
        self.count = 0
        self._rng = np.random.default_rng(seed)
        self._shift = self._sum = self._outer = self._reservoir = None

    def update(self, batch):
        batch = np.asarray(batch)
        if batch.ndim != 2:
            raise ValueError(f"expected a [n, d] batch, got shape {batch.shape}")
        if self._shift is None:
            d = batch.shape[1]
            # Sums are taken around a shift (the first batch's mean) so that features with a
            # large mean don't lose the covariance to cancellation in S - n mu mu^T.
            self._shift = batch.mean(0, dtype=np.float64) if len(batch) else np.zeros(d)
            self._sum, self._outer = np.zeros(d), np.zeros((d, d))
            dtype = batch.dtype if np.issubdtype(batch.dtype, np.floating) else np.float64
            self._reservoir = np.empty((self.keep, d), dtype)
        x = batch.astype(np.float64) - self._shift
        self._sum += x.sum(0)
        self._outer += x.T @ x
        self._sample(batch)
        self.count += len(batch)

    def _sample(self, batch):
        # Algorithm R, vectorised: row i (global index) goes to slot i while the reservoir
        # fills, afterwards to a uniform slot j in [0, i] if j < keep.
        if self.keep == 0 or len(batch) == 0:
            return
        index = np.arange(self.count, self.count + len(batch))
        slot = np.where(index < self.keep, index, self._rng.integers(0, index + 1))
        rows = np.nonzero(slot < self.keep)[0]
        slot = slot[rows]
        # When several rows of one batch hit the same slot, the last one must win (as in the
        # sequential algorithm); numpy does not promise that for repeated fancy indices.
        _, last = np.unique(slot[::-1], return_index=True)
        pick = len(slot) - 1 - last
        self._reservoir[slot[pick]] = batch[rows[pick]]

    @property
    def mean(self):
        return self._shift + self._sum / self.count

    @property
    def cov(self):
        """Unbiased (N - 1) covariance, float64."""
        centred = self._sum / self.count
        return (self._outer - self.count * np.outer(centred, centred)) / (self.count - 1)

    @property
    def features(self):
        """The reservoir: min(count, keep) rows drawn uniformly without replacement."""
        if self._reservoir is None:
            return np.empty((0, 0))
        return self._reservoir[:min(self.count, self.keep)]

    def state(self):
        """count/mean/cov as a dict of arrays, e.g. for np.savez (the reservoir is not kept)."""
        return {"count": np.int64(self.count), "mean": self.mean, "cov": self.cov}

    @classmethod
    def from_state(cls, state):
        """Inverse of state(); accepts a dict or np.load's NpzFile. Further updates continue the
        mean/cov; there is no reservoir (keep=0), as the saved rows are gone."""
        stats = cls()
        stats.count = int(state["count"])
        mean, cov = np.asarray(state["mean"], np.float64), np.asarray(state["cov"], np.float64)
        # With the shift at the mean, the centred sum is 0 and the outer sum is (N - 1) cov.
        stats._shift, stats._sum, stats._outer = mean, np.zeros_like(mean), cov * (stats.count - 1)
        stats._reservoir = np.empty((0, len(mean)))
        return stats


def fid(stats_a, stats_b):
    """Frechet Inception Distance between two FeatureStats."""
    return frechet_distance(stats_a.mean, stats_a.cov, stats_b.mean, stats_b.cov)


def _polynomial_kernel(x, y, degree, gamma, coef0):
    return (gamma * (x @ y.T) + coef0) ** degree


def kid(features_a, features_b, num_subsets=100, subset_size=1000, degree=3, gamma=None,
        coef0=1.0, seed=0):
    """Kernel Inception Distance (Binkowski et al. 2018): (mean, std) over random subsets of the
    unbiased MMD^2 with kernel k(x, y) = (gamma x.y + coef0)^degree, gamma = 1/d by default."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected [n, d] feature sets, got {a.shape} and {b.shape}")
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("KID needs at least 2 samples per set")
    gamma = 1.0 / a.shape[1] if gamma is None else gamma
    rng = np.random.default_rng(seed)
    mmds = np.empty(num_subsets)
    for i in range(num_subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = _polynomial_kernel(x, x, degree, gamma, coef0)
        kyy = _polynomial_kernel(y, y, degree, gamma, coef0)
        kxy = _polynomial_kernel(x, y, degree, gamma, coef0)
        # Unbiased: the within-set sums leave out the diagonal k(x_i, x_i).
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        mmds[i] = within - 2 * kxy.mean()
    return float(mmds.mean()), float(mmds.std())


def softmax(logits):
    """Row-wise softmax in float64."""
    return special.softmax(np.asarray(logits, np.float64), axis=-1)


def inception_score(probs=None, splits=10, logits=None, seed=0):
    """Inception Score (mean, std) over `splits` chunks: exp(E_x KL(p(y|x) || p(y))).

    Pass class probabilities [n, classes], or `logits=` instead. Rows are shuffled (seeded)
    before splitting: images sorted by class (a class-folder test set) would otherwise give
    single-class chunks and a score near 1.
    """
    if (probs is None) == (logits is None):
        raise ValueError("pass exactly one of probs or logits")
    p = softmax(logits) if logits is not None else np.asarray(probs, np.float64)
    p = p[np.random.default_rng(seed).permutation(len(p))]
    scores = []
    for part in np.array_split(p, splits):
        kl = special.rel_entr(part, part.mean(0, keepdims=True)).sum(1)  # 0 log 0 = 0
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _squared_distances(x, y):
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * (x @ y.T)
    return np.maximum(d2, 0, out=d2)


def _knn_radii2(x, k, batch_size):
    """Squared distance from each row of x to its k-th nearest other row."""
    if k >= len(x):
        raise ValueError(f"k={k} needs more than {k} samples, got {len(x)}")
    radii = np.empty(len(x))
    for start in range(0, len(x), batch_size):
        d2 = _squared_distances(x[start:start + batch_size], x)
        rows = np.arange(len(d2))
        d2[rows, start + rows] = 0  # exact self-distance, so it sorts first and is skipped
        radii[start:start + len(d2)] = np.partition(d2, k, axis=1)[:, k]
    return radii


def _coverage(points, centres, radii2, batch_size):
    """Fraction of points inside at least one ball (centre, radius)."""
    inside = 0
    for start in range(0, len(points), batch_size):
        d2 = _squared_distances(points[start:start + batch_size], centres)
        inside += np.count_nonzero((d2 <= radii2[None, :]).any(1))
    return inside / len(points)


def precision_recall(real, fake, k=3, batch_size=1000):
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k-NN hyperspheres.

    Distances are computed in float64 blocks of batch_size x n, never n x n at once.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    real_r2 = _knn_radii2(real, k, batch_size)
    fake_r2 = _knn_radii2(fake, k, batch_size)
    return {"precision": _coverage(fake, real, real_r2, batch_size),
            "recall": _coverage(real, fake, fake_r2, batch_size)}


def classifier_accuracy(logits_or_predictions, labels):
    """Fraction of argmax(logits) (or the given int predictions) equal to labels."""
    pred = np.asarray(logits_or_predictions)
    if pred.ndim == 2:
        pred = pred.argmax(-1)
    labels = np.asarray(labels).reshape(-1)
    if pred.shape != labels.shape:
        raise ValueError(f"{pred.shape[0]} predictions for {labels.shape[0]} labels")
    return float(np.mean(pred == labels))

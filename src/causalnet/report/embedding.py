"""2-D embedding of features for the report: PCA to at most 50 dimensions, then t-SNE (scikit-learn)."""

from __future__ import annotations

import numpy as np

#: Dimensions kept by the PCA before t-SNE, and the largest perplexity used.
PCA_DIMS = 50
PERPLEXITY = 30.0


def tsne(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """``[n, F]`` -> ``[n, 2]``: standardised, PCA to ``min(50, n - 1, F)`` dimensions, t-SNE with
    perplexity ``min(30, (n - 1) / 3)``, PCA initialisation, automatic learning rate, fixed seed
    (Barnes-Hut, one thread)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # OpenMP/BLAS threads fight each other on shared cores: one is fastest
        return _tsne(np.asarray(features, np.float64), seed, PCA, TSNE)


def _tsne(x: np.ndarray, seed: int, PCA, TSNE) -> np.ndarray:
    if x.ndim != 2 or len(x) < 4:
        raise ValueError(f"t-SNE needs at least 4 feature rows [n, F], got shape {x.shape}")
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)
    dims = min(PCA_DIMS, len(x) - 1, x.shape[1])
    if dims < x.shape[1]:
        x = PCA(n_components=dims, random_state=seed).fit_transform(x)
    perplexity = max(1.0, min(PERPLEXITY, (len(x) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=seed).fit_transform(x)

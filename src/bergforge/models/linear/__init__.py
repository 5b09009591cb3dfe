"""The linear kind: out-of-core StandardScaler and PCA on feature shards, then OLS or per-target
ridge_cv from sufficient statistics.
"""

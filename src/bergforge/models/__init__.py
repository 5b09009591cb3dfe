"""Model kinds that map images or their features to brain responses: the kind registry and the
built-in kinds (linear: scaler, PCA and regression; cnn8: MOSAIC's multi-head CNN8).
"""

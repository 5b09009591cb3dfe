"""The ``mlp`` model kind: a small MLP from a split's PCA scores (or raw features) to all targets."""

"""Exported model trees: BERG's layout (weights, metadata, accuracy plots, model cards, file names
and keys as BERG writes them) and the SHA-256 manifest.
"""

"""Simulator of the embedded demo studies (raw files in the real formats, with known ground truth)."""

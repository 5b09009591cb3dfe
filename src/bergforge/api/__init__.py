"""Loading exported models and encoding new images: the BERG-compatible loader (bergforge.BERG),
selections, stimulus checks and the backbone of a loaded model.
"""

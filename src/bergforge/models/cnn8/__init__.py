"""The cnn8 kind: MOSAIC's CNN8 core with one factorized readout head per subject, trained end to
end on repetition-averaged betas.
"""

"""Raw recordings to prepared response stores: MNE recipes for MEG and EEG, GLMsingle betas and
prepared stores for fMRI, BOLD windows and the decoding split, the stimulus table, and the one
reader and writer of each prepared store (image-indexed and trial-indexed).
"""

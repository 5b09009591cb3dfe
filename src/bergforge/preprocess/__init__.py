"""Raw recordings to prepared response stores: MNE recipes for MEG and EEG, GLMsingle betas and
prepared stores for fMRI, the stimulus table, and the one reader and writer of the prepared
store.
"""

"""Dataset formats and facts: the format registry, remote catalogues and downloads, readers of the
raw formats (THINGS-MEG1 CTF/FIF runs, THINGS-EEG2 dicts, MOSAIC/NSD HDF5), sensor sets and the
HCP grayordinate space.
"""

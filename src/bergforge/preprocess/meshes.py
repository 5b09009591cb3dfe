"""The surface meshes bundled with nilearn's wheel (nothing else may be fetched at run time):
name → vertices per hemisphere. Light to import: the workflow checks a config's mesh with it."""

BUNDLED = {"fsaverage5": 10_242}

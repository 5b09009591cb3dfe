"""fmri stage of bergforge."""

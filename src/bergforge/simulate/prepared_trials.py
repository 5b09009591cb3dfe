"""How many simulated trials per test image the prepared-data truth draws (rule
``simulate_prepared_truth``'s param). A module of its own so that the Snakefile, which reads it
when parsed, need not import the simulator (scipy.signal: seconds on every Snakemake start)."""

#: simulated trials per test image, at least 4 × the repetitions the study has
DEFAULT_TRIALS = 32

"""Where every artifact of the workflow lives: the one owner of the paths under ``results/``.

Rules, target lists and input functions take their paths from here (patterns with Snakemake
wildcards in braces); scripts receive them from their rule and never walk up folders.
"""

from __future__ import annotations

RAW = "resources/raw/{dataset}"
RESULTS = "results"
# simulated studies only: the noise ceiling of each subject's prepared test responses
PREPARED_TRUTH = "results/truth/{dataset}/sub-{subject}.npz"

# stage 2: prepared responses and the stimulus table (docs/interfaces.md)
PREPARED_STORE = "results/prepared/{dataset}/sub-{subject}.zarr"
STIMULI = "results/prepared/{dataset}/stimuli.tsv"
# trial-indexed (decoding) datasets: every subject's trials with the task's split, one table
TRIALS = "results/prepared/{dataset}/trials.tsv"
# fMRI preprocessing on the way there: GLMsingle outputs and per-trial betas
GLMSINGLE_DIR = "results/fmri/{dataset}/glmsingle/sub-{subject}"
BETAS = "results/fmri/{dataset}/betas/sub-{subject}.npz"

# stage 3: feature shards
SHARD_PLAN = "results/features/{dataset}/shard_plan.json"
FEATURE_SHARD = "results/features/{dataset}/{backbone}/shard-{shard}-of-{n_shards}.zarr"
FEATURES = "results/features/{dataset}/{backbone}/features.json"

# stage 4: model folders; `{model}` is the kind's model name (the backbone for `linear`)
DATASET_MODEL_DIR = "results/models/{dataset}/{model}"
SUBJECT_MODEL_DIR = DATASET_MODEL_DIR + "/sub-{subject}/split-{split}"

# stage 5: evaluation of one subject's models
EVALUATION_DIR = "results/evaluation/{dataset}/{model}/sub-{subject}"
EVALUATION = EVALUATION_DIR + "/evaluation.npz"
EVALUATION_SUMMARY = EVALUATION_DIR + "/summary.json"
# a subject a model never saw (leave-one-subject-out; kinds with `unseen_subjects`, e.g. shared)
UNSEEN_EVALUATION_DIR = "results/evaluation/{dataset}/{model}/unseen/sub-{subject}"
UNSEEN_EVALUATION = UNSEEN_EVALUATION_DIR + "/unseen.npz"
UNSEEN_SUMMARY = UNSEEN_EVALUATION_DIR + "/summary.json"
# a decoding model (kinds with task "decode"): image retrieval over every subject's test trials
DECODER_EVALUATION_DIR = "results/evaluation/{dataset}/{model}"
RETRIEVAL = DECODER_EVALUATION_DIR + "/retrieval.json"
RETRIEVAL_RANKS = DECODER_EVALUATION_DIR + "/retrieval.npz"
# the noise-free retrieval of a simulated decoding study (rule decoding_oracle), per target backbone
DECODING_ORACLE = "results/evaluation/{dataset}/oracle-{backbone}/oracle.json"

# free viewing (avs_fixations datasets, workflow/rules/free_viewing.smk): fixation features per
# backbone × route × subject, models named by their training subjects, leave-one-subject-out
# scores and the challenge's prediction files of the held-out subjects
FREE_VIEWING = "results/free_viewing/{dataset}"
FIXATION_FEATURES = FREE_VIEWING + "/features/{backbone}/{route}/sub-{subject}.zarr"
FIXATION_MODEL_DIR = FREE_VIEWING + "/models/{backbone}/{route}-{stream}/{kind}/train-{train}"
FIXATION_EVALUATION = (
    FREE_VIEWING + "/evaluation/{backbone}/{route}-{stream}/{kind}/sub-{subject}.json"
)
CHALLENGE_DIR = FREE_VIEWING + "/challenge/{backbone}/{route}-{stream}/{kind}/sub-{subject}"
CHALLENGE_MARKER = CHALLENGE_DIR + "/sub-{subject}_challenge.json"

# stage 6 and 7: the exported tree and releases
EXPORT_ROOT = "results/berg"
EXPORT_MANIFEST = EXPORT_ROOT + "/SHA256SUMS"  # every exported file, written after all exports
RELEASE_DIR = "results/release/bergforge-models-{version}"
RELEASE_MANIFEST = RELEASE_DIR + "/SHA256SUMS"
RELEASE_ARCHIVE = RELEASE_DIR + ".tar.gz"
MODELS_ROOT = "results/models"

# the summary page (bergforge.report): one page, and per evaluated subject its section's numbers
# and the page's own figures; the page links the accuracy plots of the export stage where they exist
SUMMARY_PAGE = "results/summary/index.html"
SUMMARY_SECTION_DIR = "results/summary/{dataset}/{model}/sub-{subject}"
SUMMARY_SECTION = SUMMARY_SECTION_DIR + "/section.json"
SUMMARY_PREDICTIONS = SUMMARY_SECTION_DIR + "/predictions.png"
SUMMARY_NOISE_CEILING = SUMMARY_SECTION_DIR + "/noise_ceiling.png"
# the leaderboard over every evaluated model (bergforge.report.leaderboard), shown on the page
LEADERBOARD_JSON = "results/summary/leaderboard.json"
LEADERBOARD_TSV = "results/summary/leaderboard.tsv"
LEADERBOARD_PLOT = "results/summary/leaderboard.png"
# its decoding rows as TSV (written when the config has decoding models)
LEADERBOARD_DECODING_TSV = "results/summary/leaderboard_decoding.tsv"
# its free-viewing rows as TSV (written when the config has free-viewing datasets)
LEADERBOARD_FREE_VIEWING_TSV = "results/summary/leaderboard_free_viewing.tsv"


def fill(pattern: str, **values: object) -> str:
    """``pattern`` with its wildcards filled; integer subjects become two digits (``01``)."""
    subject = values.get("subject")
    if isinstance(subject, int):
        values["subject"] = f"{subject:02d}"
    return pattern.format(**values)

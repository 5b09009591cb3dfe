"""The CLIP loss and in-batch retrieval ranks of the decoders, in torch on the data's device
(research note decoding.md §1.8 and §1.9).

Scores S[b, o] = ⟨estimate_b, candidate_o / (‖candidate_o‖ + 1e-15)⟩: only the candidates (image
embeddings) are L2-normalised, so the norm of a brain estimate acts as an inverse temperature;
the scale is exactly 1 (no learned temperature). Row i's true candidate is column i; candidates
may outnumber estimates (the extra ones are negatives only).
"""

from __future__ import annotations

import torch
from torch.nn import functional

from bergforge.errors import DataError

#: added to every candidate's norm before dividing by it
NORM_EPS = 1e-15
#: the k of the top-k accuracies
TOPK = (1, 5, 10)


def scores(estimates: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """(B, N) dot products of the estimates with the L2-normalised candidates."""
    if estimates.ndim != 2 or candidates.ndim != 2 or estimates.shape[1] != candidates.shape[1]:
        raise DataError(
            "clip loss: expected estimates (B, D) and candidates (N, D) of the same D, got "
            f"{tuple(estimates.shape)} and {tuple(candidates.shape)}"
        )
    if candidates.shape[0] < estimates.shape[0]:
        raise DataError(
            f"clip loss: expected at least as many candidates as estimates (row i's true "
            f"candidate is row i), got {candidates.shape[0]} for {estimates.shape[0]}"
        )
    unit = candidates / (candidates.norm(dim=1, keepdim=True) + NORM_EPS)
    return estimates @ unit.T


def clip_loss(estimates: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each estimate's scores, its true candidate being the same row
    (brain → image only, scale 1)."""
    s = scores(estimates, candidates)
    target = torch.arange(s.shape[0], device=s.device)
    return functional.cross_entropy(s, target)


def true_ranks(estimates: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Zero-based rank of each row's true candidate among all candidates, ties averaged:
    (#scores > true + #scores ≥ true − 1) / 2 (float32, on the device)."""
    s = scores(estimates, candidates)
    true = s.diagonal().unsqueeze(1)
    above = (s > true).sum(dim=1)
    at_least = (s >= true).sum(dim=1)
    return (above + at_least - 1).to(torch.float32) / 2


def rank_sums(ranks: torch.Tensor) -> torch.Tensor:
    """(#rank < k for k in TOPK…, sum of ranks): what an epoch adds up (a tensor on the device)."""
    hits = [(ranks < k).sum().to(torch.float64) for k in TOPK]
    return torch.stack([*hits, ranks.sum(dtype=torch.float64)])


def metrics_of_sums(sums: torch.Tensor | list[float], n: int) -> dict[str, float]:
    """top1/top5/top10 accuracies and the mean rank from :func:`rank_sums` added over ``n``
    rows (read back to the host here)."""
    raw = sums.tolist() if isinstance(sums, torch.Tensor) else list(sums)
    values = [float(v) / n for v in raw]
    return {**{f"top{k}": v for k, v in zip(TOPK, values, strict=False)}, "mean_rank": values[-1]}

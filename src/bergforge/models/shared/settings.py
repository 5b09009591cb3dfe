"""The ``shared`` kind's settings (config ``models.shared``), importable without torch.

Every setting of the ``mlp`` kind (:class:`bergforge.models.mlp.settings.MlpConfig`: input, PCA,
network, optimiser, early stopping, seed, the runtime ``device``) plus how a subject the trunk
never saw gets its adapter: ``few_shot_k`` of its training images and the ridge penalties
``few_shot_alphas`` the fine-tuning chooses from (:mod:`bergforge.models.shared.unseen`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from bergforge.errors import ConfigError
from bergforge.models.mlp.settings import MlpConfig

#: settings only the unseen-subject evaluation reads: not the fit rule's params
UNSEEN_KEYS = ("few_shot_k", "few_shot_alphas")


@dataclass(frozen=True)
class SharedConfig(MlpConfig):
    """The trunk's and adapters' hyperparameters (as ``mlp``'s) and the unseen subject's
    few-shot fine-tuning."""

    SECTION: ClassVar[str] = "models.shared"

    few_shot_k: int = 20  # training images of an unseen subject its adapter is fitted on (0: none)
    #: ridge penalties towards the mean adapter, chosen by leave-one-out over the k images
    few_shot_alphas: tuple[float, ...] = (1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.few_shot_k < 0:
            raise ConfigError(f"{self.SECTION}: few_shot_k = {self.few_shot_k}; expected ≥ 0")
        alphas = tuple(self.few_shot_alphas)
        if not alphas or not all(isinstance(a, int | float) and a > 0 for a in alphas):
            raise ConfigError(
                f"{self.SECTION}: few_shot_alphas = {list(alphas)}; expected positive numbers"
            )

    def hyperparameters(self) -> dict[str, Any]:
        """What the trunk and adapters are trained with: everything but ``device`` and the
        unseen subject's settings (they change no trained weight)."""
        return {k: v for k, v in asdict(self).items() if k != "device" and k not in UNSEEN_KEYS}

    def unseen(self) -> dict[str, Any]:
        """The unseen subject's settings."""
        return {"few_shot_k": self.few_shot_k, "few_shot_alphas": list(self.few_shot_alphas)}

"""Which device every tensor a piece of training code makes lands on (for the cuda path's tests).

:class:`DeviceRecorder` is a ``TorchFunctionMode``: inside ``with DeviceRecorder() as rec:`` each
tensor returned by a torch function or tensor method is recorded with the function's name. Run on
PyTorch's ``meta`` device (no data, so any read-back to the host raises there too), it shows
whether a loop creates tensors off the chosen device — which on a GPU would be host tensors and
host-device copies inside the loop.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves


class DeviceRecorder(TorchFunctionMode):
    """Records (function name, tensor) of every tensor a torch call returns."""

    def __init__(self) -> None:
        super().__init__()
        self.made: list[tuple[str, torch.Tensor]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", str(func))
        self.made += [(name, t) for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        return out

    def off(self, device: torch.device, optimizer: Any) -> list[tuple[str, str]]:
        """(function, device) of each recorded tensor not on ``device``, leaving out the
        optimizer's step counters (PyTorch keeps those on the host unless ``capturable``)."""
        steps = [s["step"] for s in optimizer.state.values() if "step" in s]
        return [
            (name, str(t.device))
            for name, t in self.made
            if t.device != device and not any(t is s for s in steps)
        ]

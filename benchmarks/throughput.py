"""Shared parts of the training-throughput benchmarks (``mlp_throughput.py``,
``decoder_throughput.py``) and of ``features.py``: timing with the device drained, interleaved
rounds of each loop, and the samples/s table with each loop's ratio to the bare loop."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device | str) -> None:
    """Wait for the GPU's queued work (nothing on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(run: Callable[[], None], device: torch.device) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``run()``, the device drained before and after."""
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def rounds(
    loops: dict[str, Callable[[], Callable[[], None]]], repeats: int, device: torch.device
) -> dict[str, list[tuple[float, float]]]:
    """``repeats`` interleaved rounds; each round makes every loop afresh (a fresh network)."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in loops}
    for _ in range(repeats):
        for name, make in loops.items():
            times[name].append(timed(make(), device))
    return times


def report(
    times: dict[str, list[tuple[float, float]]],
    n_samples: int,
    device: torch.device,
    compared: tuple[str, ...],
    bar: float,
    width: int,
) -> None:
    """Samples/s of each loop (best round; CPU time too on the CPU) and ``[ok]``/``[FAIL]`` of
    each ``compared`` loop's ratio to ``bare`` against ``bar``."""
    clocks = ("wall", "cpu") if device.type == "cpu" else ("wall",)
    rates = {
        name: {c: n_samples / min(t[i] for t in runs) for i, c in enumerate(clocks)}
        for name, runs in times.items()
    }
    print(
        f"{'loop':<{width}}"
        + "".join(f"{c + ' samples/s':>18}" for c in clocks)
        + "   runs (wall s)"
    )
    for name, rate in rates.items():
        runs = ", ".join(f"{t[0]:.2f}" for t in times[name])
        print(f"{name:<{width}}" + "".join(f"{rate[c]:>18,.0f}" for c in clocks) + f"   {runs}")
    for name in compared:
        for c in clocks:
            ratio = rates[name][c] / rates["bare"][c]
            mark = "ok" if ratio >= bar else "FAIL"
            print(f"[{mark}] {name} / bare ({c}) = {ratio:.3f} (≥ {bar})")

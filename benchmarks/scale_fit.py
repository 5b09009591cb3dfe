"""The scale harness's fits: peak memory and time of a case, linear in its size (least squares)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: the issue's bar for a declared mem_mb: between the prediction and 1.5 × it + 1 GB
MARGIN_FACTOR, MARGIN_PAD_MB = 1.5, 1024.0


def fit_line(x: list[float], y: list[float]) -> tuple[float, float]:
    """(intercept, slope): the least-squares slope (0 if negative: noise on a flat curve is not
    extrapolated), with the intercept raised until the line lies on or above every measured point
    (and at least 0).

    A plain least-squares line runs below about half of the points it fits; a memory limit set
    from it would be exceeded at those sizes. One point, or points of one size, give slope 0.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.size == 0:
        raise ValueError("no points to fit")
    slope = 0.0
    if xs.size > 1 and np.ptp(xs) > 0:
        slope = max(float(np.polyfit(xs, ys, 1)[0]), 0.0)
    return max(float(np.max(ys - slope * xs)), 0.0), slope  # no negative base


@dataclass
class Fit:
    """The fitted coefficients of one case and its full-size predictions."""

    n_points: int
    mem_base_mb: float
    mem_mb_per_unit: float
    fixed_mb: float  # of the measured points (all the same for a case)
    seconds_base: float
    seconds_per_work: float
    full_peak_mb: float
    full_seconds: float
    gpu_seconds: float | None = None  # full-size GPU runtime from FLOPs: an estimate
    gpu_seconds_per_work: float | None = None
    gpu_peak_mb: float | None = None  # host memory of the GPU variant (estimate)

    def as_dict(self) -> dict:
        return asdict(self)

    def rows(self, case, source: str) -> dict[str, str]:
        """``COEFFICIENTS`` rows (as Python source) of this fit: the measured variant, and an
        estimated GPU variant where the case has one."""
        real = f"Size({case.real.units!r}, {case.real.work!r}, {case.real.fixed_mb!r})"
        common = f"unit={case.unit!r}, work_unit={case.work_unit!r}, real={real}"
        rows = {
            f"{case.rule}/{case.variant}": (
                f"JobModel({common}, mem_base_mb={self.mem_base_mb:.0f}, "
                f"mem_mb_per_unit={self.mem_mb_per_unit:.6g}, seconds_base={self.seconds_base:.1f}, "
                f"seconds_per_work={self.seconds_per_work:.6g}, source={_py_text('measured ' + source)})"
            )
        }
        if case.gpu_variant and self.gpu_seconds_per_work is not None:
            gpu_real = case.gpu_real or case.real
            greal = f"Size({gpu_real.units!r}, {gpu_real.work!r}, {gpu_real.fixed_mb!r})"
            rows[f"{case.rule}/{case.gpu_variant}"] = (
                f"JobModel(unit={case.unit!r}, work_unit={case.work_unit!r}, real={greal}, "
                f"mem_base_mb={self.mem_base_mb + case.gpu_host_extra_mb:.0f}, "
                f"mem_mb_per_unit={self.mem_mb_per_unit:.6g}, seconds_base={self.seconds_base:.1f}, "
                f"seconds_per_work={self.gpu_seconds_per_work:.6g}, source="
                f"{_py_text('GPU estimate (' + case.gpu_note + '), memory ' + source)})"
            )
        return rows


def _py_text(text: str, width: int = 70) -> str:
    """A Python string literal, split into implicitly joined parts of at most ``width`` characters
    (so the emitted rows stay within the line length once formatted)."""
    parts, rest = [], text
    while len(rest) > width:
        cut = rest.rfind(" ", 0, width)
        cut = cut if cut > 0 else width
        parts.append(rest[: cut + 1])
        rest = rest[cut + 1 :]
    parts.append(rest)
    return repr(parts[0]) if len(parts) == 1 else "(" + " ".join(repr(p) for p in parts) + ")"


def fit_seconds(point: dict) -> float:
    """The time a point contributes to the fit: its wall time, or where the case ran fewer epochs
    than the real job (the trained kinds), that time projected to the real job's epochs."""
    return float(point.get("projected_seconds", point["seconds"]))


def fit_case(case, points: list[dict]) -> Fit | None:
    """Fit the measured (not capped, not failed) points of a case; None without any."""
    done = [p for p in points if "peak_mb" in p]
    if not done:
        return None
    fixed = float(done[0]["fixed_mb"])
    a, b = fit_line([p["units"] for p in done], [p["peak_mb"] - p["fixed_mb"] for p in done])
    seconds = [fit_seconds(p) for p in done]
    if case.extra.get("time_per_work_only"):  # the points' work does not vary: time per unit
        c, d = 0.0, max(s / p["work"] for s, p in zip(seconds, done, strict=True))
    else:
        c, d = fit_line([p["work"] for p in done], seconds)
    fit = Fit(
        n_points=len(done),
        mem_base_mb=a,
        mem_mb_per_unit=b,
        fixed_mb=fixed,
        seconds_base=c,
        seconds_per_work=d,
        full_peak_mb=a + b * case.real.units + case.real.fixed_mb,
        full_seconds=c + d * case.real.work,
    )
    gpu = [p["gpu_seconds_per_work"] for p in done if p.get("gpu_seconds_per_work") is not None]
    if gpu:
        fit.gpu_seconds_per_work = float(np.mean(gpu))
        gpu_real = case.gpu_real or case.real
        fit.gpu_seconds = c + fit.gpu_seconds_per_work * gpu_real.work
        fit.gpu_peak_mb = a + case.gpu_host_extra_mb + b * gpu_real.units + gpu_real.fixed_mb
    return fit


def ok_margin(predicted_mb: float, declared_mb: int | None) -> str:
    """Whether a declared mem_mb lies between the prediction and 1.5 × it + 1 GB."""
    if declared_mb is None:
        return "–"
    if declared_mb < predicted_mb:
        return "LOW"
    if declared_mb > MARGIN_FACTOR * predicted_mb + MARGIN_PAD_MB:
        return "HIGH"
    return "yes"

"""The summary page: one static HTML file over every section (``section.json``) of a run.

A table at the top has one row per model, subject and split (median r, median noise ceiling,
median percent of noise ceiling) and links to that model's section; then the leaderboard (its
table per subject, the mean over subjects and its figure, :mod:`bergforge.report.leaderboard`);
each section shows its numbers, the two figures of :mod:`bergforge.report.section` and the
export stage's accuracy plots.
Self-contained: inline CSS, no script, no network resource; every link is relative to the page.
"""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any

from bergforge._version import __version__
from bergforge.atomic import save_text
from bergforge.errors import DataError
from bergforge.report.leaderboard import HEADER, Leaderboard, read_leaderboard, row_cells
from bergforge.report.leaderboard_decoding import DECODING_HEADER, decoding_cells

COLUMNS = (
    "dataset",
    "modality",
    "kind",
    "backbone",
    "subject",
    "split",
    "median r",
    "median NC (%)",
    "median % NC",
    "section",
)
FIRST_NUMBER = COLUMNS.index("median r")  # right-aligned from here on
CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2329;
       margin: 0; background: #f4f5f7; }
header { background: #1d3557; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; opacity: 0.85; }
main { max-width: 1280px; margin: 0 auto; padding: 8px 32px 48px; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 12px 20px;
          margin: 20px 0; }
h2 { font-size: 19px; margin: 6px 0 8px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
p.note { color: #555; margin: 4px 0 10px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e3e6ea; text-align: left;
         white-space: nowrap; }
th { background: #eef1f5; font-weight: 600; }
td.num { text-align: right; }
tr.first td { border-top: 2px solid #c9d0d8; }
tbody tr:hover { background: #f6f9fc; }
figure { margin: 10px 0 16px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e6ea; }
figcaption { color: #555; font-size: 13px; }
details summary { cursor: pointer; color: #1d3557; margin: 6px 0; }
code { font-size: 13px; }
a { color: #1f5fa8; }
"""


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _link(path: str, page_dir: Path) -> str:
    """``path`` (from the working folder) relative to the page's folder, URL-style."""
    return Path(os.path.relpath(path, page_dir)).as_posix()


def section_id(section: dict[str, Any]) -> str:
    """The anchor of a section: ``{dataset}-{model}-sub-{subject}``."""
    return f"{section['dataset']}-{section['model']}-sub-{int(section['subject']):02d}"


def _heading(section: dict[str, Any]) -> str:
    return f"{section['dataset']} · {section['model']} · sub-{int(section['subject']):02d}"


def overview_row(section: dict[str, Any], split: dict[str, Any]) -> list[str]:
    """Cells of one row of the top table (text, not yet escaped), without the section link."""
    return [
        section["dataset"],
        section["modality"],
        section["kind"],
        section["backbone"] or "–",
        f"{int(section['subject']):02d}",
        split["split"],
        _number(split["median_r"], 3),
        _number(section["median_noise_ceiling"], 1),
        _number(split["median_percent_noise_ceiling"], 1),
    ]


def _overview(sections: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    body = []
    for s in sections:
        anchor = escape(section_id(s), quote=True)
        for k, split in enumerate(s["splits"]):
            tds = "".join(
                f'<td class="num">{escape(c)}</td>'
                if i >= FIRST_NUMBER
                else f"<td>{escape(c)}</td>"
                for i, c in enumerate(overview_row(s, split))
            )
            cls = ' class="first"' if k == 0 else ""
            body.append(f'<tr{cls}>{tds}<td><a href="#{anchor}">→ section</a></td></tr>')
    return (
        '<section id="overview"><h2>Models</h2>\n'
        '<p class="note">Medians over every target (sensor or channel × time point, or vertex) '
        "of the test images: Pearson r of the prediction against the repetition-averaged "
        "response, the estimated noise ceiling (NC, % of variance) and the percent of the noise "
        "ceiling reached, 100·max(r,0)²/(NC/100).</p>\n"
        f'<table id="models"><thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody></table>"
        "</section>"
    )


def _figure(path: str, page_dir: Path, caption: str) -> str:
    href = escape(_link(path, page_dir), quote=True)
    return (
        f'<figure><a href="{href}"><img src="{href}" alt="{escape(caption, quote=True)}" '
        f'loading="lazy"></a><figcaption>{escape(caption)}</figcaption></figure>'
    )


def _shown_caption(section: dict[str, Any]) -> str:
    shown = section["predictions_shown"]
    images = ", ".join(str(i + 1) for i in shown["test_images"])
    if shown["kind"] == "time_courses":
        return (
            f"Predicted (split {shown['split']}) and measured repetition-averaged responses of "
            f"{shown['channel']}, the best-predicted channel, to test images {images}."
        )
    return (
        f"Predicted (split {shown['split']}) against measured repetition-averaged betas of every "
        f"target for test images {images}, and of {shown['vertex']}, the best-predicted target, "
        "for every test image; the dashed line is y = x."
    )


def _section(section: dict[str, Any], page_dir: Path) -> str:
    rows = "".join(
        f"<tr><td>{escape(s['split'])}</td><td class='num'>{_number(s['median_r'], 3)}</td>"
        f"<td class='num'>{_number(s['median_percent_noise_ceiling'], 1)}</td></tr>"
        for s in section["splits"]
    )
    shape = " × ".join(str(n) for n in section["target_shape"])
    facts = (
        f"modality {section['modality']} · kind {section['kind']} · backbone "
        f"{section['backbone'] or '–'} · subject {int(section['subject']):02d} · "
        f"{section['n_test_images']} test images · targets {shape} · median noise ceiling "
        f"{_number(section['median_noise_ceiling'], 1)} %"
    )
    figures = section["figures"]
    parts = [
        f'<section id="{escape(section_id(section), quote=True)}">',
        f"<h2>{escape(_heading(section))}</h2>",
        f'<p class="note">{escape(facts)}</p>',
        "<table><thead><tr><th>split</th><th>median r</th><th>median % NC</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>",
        _figure(figures["predictions"], page_dir, _shown_caption(section)),
        _figure(
            figures["noise_ceiling"],
            page_dir,
            "Per target: explained variance 100·max(r,0)² against the estimated noise ceiling "
            "(on the dashed line a target reaches 100 % of its ceiling), and the ceiling itself.",
        ),
    ]
    if section["plots"] or section["more_plots"]:
        parts.append("<h3>Accuracy plots of the export</h3>")
        parts += [_figure(p, page_dir, Path(p).name) for p in section["plots"]]
    if section["more_plots"]:
        n = len(section["more_plots"])
        parts.append(f"<details><summary>{n} more accuracy plots</summary>")
        parts += [_figure(p, page_dir, Path(p).name) for p in section["more_plots"]]
        parts.append("</details>")
    evaluation = escape(_link(section["evaluation"], page_dir), quote=True)
    parts.append(
        f'<p class="note">Numbers from <a href="{evaluation}"><code>{escape(section["evaluation"])}'
        '</code></a> · <a href="#overview">back to the table</a></p>'
    )
    parts.append("</section>")
    return "\n".join(parts)


def _leaderboard_table(rows: list, table_id: str) -> str:
    first_number = HEADER.index("seeds")
    head = "".join(f"<th>{escape(c)}</th>" for c in HEADER)
    body = []
    previous = None
    for row in rows:
        group = (row.dataset, row.subject)
        cls = ' class="first"' if previous is not None and group != previous else ""
        previous = group
        tds = "".join(
            f'<td class="num">{escape(c)}</td>' if i >= first_number else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row_cells(row))
        )
        body.append(f"<tr{cls}>{tds}</tr>")
    return (
        f'<table id="{table_id}"><thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody></table>"
    )


def _decoding_table(board: Leaderboard) -> str:
    """The decoding rows (image retrieval, %), or nothing without decoding models."""
    if not board.decoding:
        return ""
    first_number = DECODING_HEADER.index("seeds")
    head = "".join(f"<th>{escape(c)}</th>" for c in DECODING_HEADER)
    body = []
    for row in board.decoding:
        tds = "".join(
            f'<td class="num">{escape(c)}</td>' if i >= first_number else f"<td>{escape(c)}</td>"
            for i, c in enumerate(decoding_cells(row))
        )
        body.append(f"<tr>{tds}</tr>")
    return "\n".join(
        [
            "<h3>Decoding: image retrieval</h3>",
            '<p class="note">Per decoding model (mean ± sd over seeds), the top-k accuracy (%) of '
            "ranking the seen image among the test images' embeddings, per aggregation (trial: "
            "every test trial; subject-agg: a subject's repetitions of an image averaged; "
            "instance-agg: every trial of an image averaged; subject-ind: per subject, then "
            "averaged), the normalised rank (1 = always first, 0.5 = chance) and the chance "
            "levels. Subject rows: that subject's own queries. A simulated study's oracle row: "
            "the retrieval of a least-squares decoder of its noise-free responses (the same in "
            "every aggregation and subject).</p>",
            f'<table id="leaderboard-decoding"><thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(body)
            + "\n</tbody></table>",
        ]
    )


def _leaderboard(board: Leaderboard, plot: str, page_dir: Path) -> str:
    return "\n".join(
        [
            '<section id="leaderboard"><h2>Leaderboard</h2>',
            '<p class="note">Per dataset × subject, the ridge_cv model first (the baseline to '
            "beat): median r and median % of the noise ceiling over the targets of split all, as "
            "mean ± sd over a model's seeds; Δ % NC against ridge_cv on the same backbone; the fit "
            "job's wall-clock seconds (mean over seeds) and peak memory (largest), from each model "
            "folder's fit_job.json.</p>",
            _leaderboard_table(board.subjects, "leaderboard-subjects"),
            "<h3>Mean over subjects</h3>",
            _leaderboard_table(board.means, "leaderboard-means"),
            *([_decoding_table(board)] if board.decoding else []),
            _figure(plot, page_dir, "Median % of the noise ceiling per model and subject."),
            "</section>",
        ]
    )


def render_page(
    sections: list[dict[str, Any]],
    page_dir: Path,
    config_name: str,
    leaderboard: tuple[Leaderboard, str] | None = None,
) -> str:
    """The whole HTML document of the summary page (``leaderboard``: the board and its figure's
    path from the working folder)."""
    title = f"bergforge summary — {config_name}"
    datasets = len({s["dataset"] for s in sections})
    meta = (
        f"config {config_name} · bergforge {__version__} · {len(sections)} evaluated models "
        f"(model × subject) of {datasets} datasets"
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{CSS}</style></head><body>",
            f"<header><h1>bergforge summary</h1><p>{escape(meta)}</p></header>",
            "<main>",
            _overview(sections),
            *([_leaderboard(leaderboard[0], leaderboard[1], page_dir)] if leaderboard else []),
            *(_section(s, page_dir) for s in sections),
            "</main></body></html>",
            "",
        ]
    )


def read_section(path: Path | str) -> dict[str, Any]:
    """A ``section.json`` as written by :func:`bergforge.report.section.summary_section`."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"summary section {path}: {err}") from err


def write_page(
    sections: list[Path | str],
    page: Path | str,
    config_name: str,
    leaderboard: tuple[Path | str, Path | str] | None = None,
) -> None:
    """Write the page from its ``section.json`` files (in page order) and, with ``leaderboard``
    = (``leaderboard.json``, its figure), the leaderboard."""
    page = Path(page)
    records = [read_section(p) for p in sections]
    board = None
    if leaderboard is not None:
        board = (read_leaderboard(leaderboard[0]), str(leaderboard[1]))
    save_text(page, render_page(records, page.parent, config_name, board))

"""The summary page: its figures on synthetic arrays, and the page the tiny chain's `all` builds."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from bergforge import paths
from bergforge.report.figures import plot_noise_ceiling, plot_time_courses, plot_vertex_betas
from bergforge.report.section import best_channel, pick_images


def test_figures_on_synthetic_arrays(tmp_path):
    rng = np.random.default_rng(0)
    times = np.linspace(-100, 600, 71)
    measured = np.sin(times / 80)[None] * rng.uniform(0.5, 2, (3, 1))
    labels = ["test image 1", "test image 2", "test image 3"]
    plot_time_courses(times, measured, measured + 0.1, labels, "sync", tmp_path / "t.png")
    betas = rng.normal(size=(3, 500))
    vertex = ("vertex 7", rng.normal(size=40), rng.normal(size=40))
    plot_vertex_betas(betas, 0.5 * betas, labels, vertex, "vertices", tmp_path / "v.png")
    nc = rng.uniform(0, 100, (4, 71))
    r = rng.uniform(-0.2, 0.9, (4, 71))
    plot_noise_ceiling(nc, r, "time-resolved", tmp_path / "n.png", times_ms=times)
    plot_noise_ceiling(nc.ravel(), r.ravel(), "vertices", tmp_path / "h.png")
    for name in ("t", "v", "n", "h"):
        with Image.open(tmp_path / f"{name}.png") as im:
            assert im.format == "PNG" and im.size == (1200, 360)  # fixed size, no tight bbox
    assert not list(tmp_path.glob(".*.partial"))  # written through bergforge.atomic

    with pytest.raises(ValueError, match="same"):
        plot_time_courses(times, measured, measured[:, :10], labels, "bad", tmp_path / "x.png")
    with pytest.raises(ValueError, match="image labels"):
        plot_vertex_betas(betas, betas, labels[:2], vertex, "bad", tmp_path / "x.png")
    with pytest.raises(ValueError, match="channel"):
        plot_noise_ceiling(nc, r, "bad", tmp_path / "x.png", times_ms=times[:5])
    assert not (tmp_path / "x.png").exists()


def test_best_channel_and_test_images():
    r = np.zeros((3, 100))
    r[1, 40:50] = 0.8  # a strong response in a short window
    r[2] = 0.05  # weak everywhere: the highest median over time, yet the worse prediction
    r[0, :] = np.nan
    assert best_channel(r) == 1
    assert pick_images(20).tolist() == [0, 10, 19] and pick_images(2).tolist() == [0, 1]


class PageParser(HTMLParser):
    """Links, images, section ids and the cells of the model table of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.sections: list[str] = []
        self.rows: list[list[str]] = []
        self.scripts = 0
        self._in_models = False
        self._cell: list[str] | None = None
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"] or "")
        elif tag == "a" and "href" in a:
            self.links.append(a["href"] or "")
            if self._cell is not None:  # a table cell with a link stands for its target
                self._href = a["href"]
        elif tag == "section":
            self.sections.append(a.get("id") or "")
        elif tag == "script" or (tag == "link" and a.get("rel") == "stylesheet"):
            self.scripts += 1
        elif tag == "table" and a.get("id") == "models":
            self._in_models = True
        elif tag == "tr" and self._in_models:
            self.rows.append([])
        elif tag == "td" and self._in_models:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_models = False
        elif tag == "tr" and self.rows and not self.rows[-1]:
            self.rows.pop()  # the header row (th cells only)
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append(self._href or "".join(self._cell).strip())
            self._cell, self._href = None, None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


#: (dataset, model folder, subject) of every model × subject TINY_CHAIN evaluates: linear and the
#: toy kind on the EEG dataset `tiny` (subject 1), linear on `tiny_meg` (subject 2)
SECTIONS = {
    ("tiny", "alexnet_untrained", 1),
    ("tiny", "toy_alexnet_untrained", 1),
    ("tiny_meg", "alexnet_untrained", 2),
}


@pytest.mark.workflow
def test_summary_page_of_the_tiny_chain(tiny_built):
    page = tiny_built / paths.SUMMARY_PAGE
    parser = PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    assert parser.scripts == 0

    # one section per model × subject, each reached from the table
    ids = {f"{d}-{m}-sub-{s:02d}": (d, m, s) for d, m, s in SECTIONS}
    assert sorted(parser.sections) == sorted(["overview", "leaderboard", *ids])
    for href in parser.links + parser.images:
        assert "://" not in href, href  # no network resource
        if href.startswith("#"):
            assert href[1:] in parser.sections, href
        else:
            assert (page.parent / href).is_file(), href
    assert {h for h in parser.links if h.startswith("#") and h != "#overview"} == {
        f"#{i}" for i in ids
    }
    # the page shows its own two figures per section and links the export's accuracy plots
    images = [(page.parent / src).resolve() for src in parser.images]
    assert sum(p.name == "predictions.png" for p in images) == len(SECTIONS)
    assert sum(p.name == "noise_ceiling.png" for p in images) == len(SECTIONS)
    berg = (tiny_built / "results/berg").resolve()
    plots = [p for p in images if p.name.startswith("encoding_accuracy_") and berg in p.parents]
    assert len(plots) == 1 + 5  # EEG: one; MEG: all splits, and the 4 single splits folded away

    # the table: one row per section and split, medians as computed here from evaluation.npz
    assert len(parser.rows) == 5 + 1 + 5  # linear EEG and MEG: all + single-1…4; toy: all
    seen = set()
    for dataset, modality, kind, backbone, subject, split, r, nc, pnc, link in parser.rows:
        anchor = link.removeprefix("#")
        d, model, s = ids[anchor]
        seen.add(anchor)
        assert (dataset, int(subject), backbone) == (d, s, "alexnet_untrained")
        assert modality == {"tiny": "eeg", "tiny_meg": "meg"}[dataset]
        assert kind == ("toy" if model.startswith("toy_") else "linear")
        evaluation = tiny_built / paths.fill(paths.EVALUATION, dataset=d, model=model, subject=s)
        with np.load(evaluation) as ev:
            i = [str(x) for x in ev["splits"]].index(split)
            assert float(r) == pytest.approx(np.nanmedian(ev["correlation"][i]), abs=5e-4)
            assert float(nc) == pytest.approx(np.nanmedian(ev["noise_ceiling"]), abs=0.05)
            median_pnc = np.nanmedian(ev["percent_noise_ceiling"][i])
            assert float(pnc) == pytest.approx(median_pnc, abs=0.05)
    assert seen == set(ids)

    # the leaderboard: its figure and one row per model × subject (the tiny chain has no seeds)
    html = page.read_text(encoding="utf-8")
    assert sum(p.name == "leaderboard.png" for p in images) == 1
    board = html.split('<table id="leaderboard-subjects">', 1)[1].split("</table>", 1)[0]
    assert board.count("<tr") == 1 + len(SECTIONS)  # the header and a row per section

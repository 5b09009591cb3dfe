"""The linear oracle of a simulated decoding study against scikit-learn's LinearRegression and a
rank loop written here; embeddings that are a linear function of the latents are retrieved
perfectly, embeddings unrelated to them at chance."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from bergforge.errors import DataError
from bergforge.simulate.decoding_oracle import oracle_retrieval


def loop_ranks(predictions, candidates):
    unit = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    out = []
    for i, p in enumerate(predictions):
        s = unit @ p
        out.append(((s > s[i]).sum() + (s >= s[i]).sum() - 1) / 2)
    return np.array(out)


def test_the_oracle_equals_a_direct_computation():
    rng = np.random.default_rng(3)
    d = rng.standard_normal((300, 6))
    e = d @ rng.standard_normal((6, 20)) + 2.0 * rng.standard_normal((300, 20))
    test = np.zeros(300, bool)
    test[:60] = True
    out = oracle_retrieval(e, d, ~test, test)
    pred = LinearRegression().fit(d[~test], e[~test]).predict(d[test])
    expected = loop_ranks(pred, e[test])
    np.testing.assert_allclose(out.ranks, expected)
    assert out.top5 == pytest.approx(np.mean(expected < 5))
    assert out.n_candidates == out.n_queries == 60


def test_perfect_and_chance_cases():
    rng = np.random.default_rng(4)
    d = rng.standard_normal((400, 8))
    test = np.arange(400) < 100
    exact = oracle_retrieval(d @ rng.standard_normal((8, 8)), d, ~test, test)
    assert exact.top1 == 1.0 and exact.normalised_rank == 1.0
    unrelated = oracle_retrieval(rng.standard_normal((400, 8)), d, ~test, test)
    assert 0.3 < unrelated.normalised_rank < 0.7 and unrelated.top5 < 0.2
    with pytest.raises(DataError, match="expected one row per image"):
        oracle_retrieval(d[:10], d, ~test, test)
    with pytest.raises(DataError, match="disjoint training and test images"):
        oracle_retrieval(d, d, np.ones(400, bool), test)


def test_subjects_of_other_studies_are_refused_and_nothing_is_written(tmp_path):
    import pandas as pd

    from bergforge.simulate.decoding_oracle import write_oracle

    rng = np.random.default_rng(5)
    ids = np.array([f"im{i}" for i in range(40)])
    driving = rng.standard_normal((40, 3))
    np.savez(tmp_path / "a.npz", image_ids=ids, driving_latents=driving)
    np.savez(tmp_path / "b.npz", image_ids=ids, driving_latents=driving + 1e-3)
    np.savez(tmp_path / "c.npz", image_ids=ids)
    stimuli = pd.DataFrame({"image_id": ids, "split": ["test"] * 10 + ["train"] * 30})
    features = types_namespace(rng.standard_normal((40, 8)))
    out = tmp_path / "oracle.json"
    with pytest.raises(DataError, match="driving latents differ"):
        write_oracle([tmp_path / "a.npz", tmp_path / "b.npz"], stimuli, features, out)
    with pytest.raises(DataError, match="expected a simulated BOLD5000 subject's ground truth"):
        write_oracle([tmp_path / "c.npz"], stimuli, features, out)
    assert not out.exists()
    payload = write_oracle([tmp_path / "a.npz"], stimuli, features, out)
    assert payload["n_candidates"] == 10 and payload["n_train_images"] == 30
    assert payload["candidate_images"] == list(ids[:10]) and out.is_file()


def types_namespace(values):
    """A feature matrix as the oracle reads it (``read_rows``, ``shape``)."""
    from types import SimpleNamespace

    return SimpleNamespace(read_rows=lambda rows: values[rows], shape=values.shape)

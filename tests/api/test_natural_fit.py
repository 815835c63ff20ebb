"""graphdenoise.fit on the natural-noise data with the GMF and CDAE backbones."""
from __future__ import annotations

import pytest

import graphdenoise


@pytest.mark.parametrize("model", ["gmf", "cdae"])
@pytest.mark.parametrize("method", ["bpr", "tce"])
def test_fit_on_natural_ml100k(shared_data_dir, tmp_path, model, method):
    result = graphdenoise.fit(dataset="ml-100k-natural", model=model, method=method, epochs=1,
                              data_dir=str(shared_data_dir), dataset_options={"root": str(tmp_path), "log": False},
                              embedding_dim=16, batch_size=8192)
    test = result.metrics["test"]
    assert 0.0 < test["recall@20"] <= 1.0 and result.config["model"] == model
    assert len(result.history) == 1

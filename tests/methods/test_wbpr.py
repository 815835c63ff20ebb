import pytest
import torch

from _baseline_data import fit_one_epoch, tiny_data
from graphdenoise.methods import METHODS, WBPR
from graphdenoise.models import MODELS
from graphdenoise.sampling import PopularityNegatives
from graphdenoise.utils import InteractionIndex
from graphdenoise.datasets.graph import train_edges


def test_registered_and_picks_the_popularity_sampler():
    assert METHODS.get("wbpr") is WBPR
    data = tiny_data()
    index = InteractionIndex(train_edges(data), 48, 60)
    sampler = WBPR(alpha=0.5).sampling().build_negatives(index)
    assert isinstance(sampler, PopularityNegatives) and sampler.alpha == 0.5
    with pytest.raises(ValueError):
        WBPR(alpha=-0.1)


def test_weights_are_uniform():
    w = WBPR().weights(None, torch.arange(4), torch.arange(4), torch.arange(4))
    assert torch.equal(w, torch.ones(4))


@pytest.mark.parametrize("model", MODELS.names())
def test_one_epoch(model):
    result = fit_one_epoch(model, "wbpr", alpha=0.75)
    assert result.config["method_config"] == {"alpha": 0.75}

import pytest

from _baseline_data import fit_one_epoch, make_trainer
from graphdenoise.methods import AOBPR, METHODS
from graphdenoise.models import MODELS
from graphdenoise.sampling import AdaptiveOversampling


def test_setup_binds_the_model_and_training_refreshes():
    assert METHODS.get("aobpr") is AOBPR
    trainer = make_trainer(AOBPR(refresh_every=100), epochs=2)
    sampler = trainer.sampler.negative_sampler
    assert isinstance(sampler, AdaptiveOversampling)
    assert sampler.order is not None and sampler.num_refreshes == 1  # the first batch already adapts
    trainer.fit()
    # 10 steps of >= 64 draws, a refresh once >= 100 draws accumulate: about every second step
    assert sampler.num_refreshes >= 5


def test_config_validation():
    with pytest.raises(ValueError):
        AOBPR(rank_scale=0.0)
    with pytest.raises(ValueError):
        AOBPR(refresh_every=0)


@pytest.mark.parametrize("model", MODELS.names())
def test_one_epoch(model):
    fit_one_epoch(model, "aobpr", rank_scale=0.1)

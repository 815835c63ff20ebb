import pytest
import torch

from _baseline_data import FIT_OPTIONS, fit_one_epoch, tiny_data
from graphdenoise.methods import AOBPR, METHODS
from graphdenoise.models import MF, MODELS
from graphdenoise.sampling import AdaptiveOversampling
from graphdenoise.train import Trainer, TrainerConfig


def test_setup_binds_the_model_and_training_refreshes():
    assert METHODS.get("aobpr") is AOBPR
    data = tiny_data()
    torch.manual_seed(0)
    options = {k: v for k, v in FIT_OPTIONS.items() if k != "device"}
    trainer = Trainer(MF(data), AOBPR(refresh_every=100), data,
                      TrainerConfig(**{**options, "epochs": 2}, device="cpu", show_progress=False))
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

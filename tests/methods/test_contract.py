"""The method contract: every registered (backbone, method) pair of each task takes one optimisation step
through the trainer with a finite loss, and the parameters move (the recommender's, and the method's own
declared optimisers' wherever they received a gradient)."""
import math

import pytest
import torch

from graphdenoise.methods import METHODS
from graphdenoise.models import MODELS
from graphdenoise.train import Trainer, TrainerConfig
from graphdenoise.sequential import SEQUENCE_METHODS, SEQUENCE_MODELS, SequenceData
from graphdenoise.sequential.trainer import SequenceTrainer, SequenceTrainerConfig
from tests.helpers import synthetic
from tests.sequential.conftest import clustered_sequences

# options that let a method show its full step on a tiny graph within one step
GRAPH_OPTIONS = {"til-mi": dict(pretrain_epochs=0, num_clusters=4), "til-mik": dict(pretrain_epochs=0, num_clusters=4),
                 "pris": dict(num_clusters=4), "bod": dict(outer_every=1)}
SEQUENCE_OPTIONS = {"atjt": dict(recognizer_embedding_dim=4, recognizer_user_dim=2),
                    "atjt-wat": dict(recognizer_embedding_dim=4, recognizer_user_dim=2),
                    "atjt-dnr": dict(recognizer_embedding_dim=4, recognizer_user_dim=2)}


def one_step_moves(trainer):
    model, method = trainer.model, trainer.method
    batch, ctx = next(iter(trainer.batches()))
    before = [p.detach().clone() for p in model.parameters()]
    loss, _ = trainer.optimisation_step(batch, ctx)
    assert math.isfinite(float(loss)), f"non-finite loss {float(loss)}"
    moved = [not torch.equal(a, p.detach()) for a, p in zip(before, model.parameters())]
    assert any(moved), "no parameter of the recommender moved"
    for name, opt in method.optimizers().items():
        params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
        assert all(torch.isfinite(p).all() for p in params), name


@pytest.mark.parametrize("method", METHODS.names())
@pytest.mark.parametrize("model", MODELS.names())
def test_graph_pair_takes_a_finite_step(model, method):
    data = synthetic()
    torch.manual_seed(0)
    net = MODELS.get(model)(data, embedding_dim=8)
    algo = METHODS.get(method)(**GRAPH_OPTIONS.get(method, {}))
    trainer = Trainer(net, algo, data, TrainerConfig(batch_size=256, device="cpu", show_progress=False))
    generator_params = [p.detach().clone() for opt in algo.optimizers().values()
                        for g in opt.param_groups for p in g["params"]]
    one_step_moves(trainer)
    if method.startswith("til"):  # the look-ahead gave the weight network a gradient and a step
        after = [p.detach() for opt in algo.optimizers().values() for g in opt.param_groups for p in g["params"]]
        assert any(not torch.equal(a, b) for a, b in zip(generator_params, after))


@pytest.mark.parametrize("method", SEQUENCE_METHODS.names())
@pytest.mark.parametrize("model", SEQUENCE_MODELS.names())
def test_sequence_pair_takes_a_finite_step(model, method):
    view = SequenceData(clustered_sequences(num_users=20, num_items=40, length=10), max_len=5)
    torch.manual_seed(0)
    net = SEQUENCE_MODELS.get(model).from_data(view, embedding_dim=4)
    algo = SEQUENCE_METHODS.get(method)(**SEQUENCE_OPTIONS.get(method, {}))
    trainer = SequenceTrainer(net, algo, view, SequenceTrainerConfig(batch_size=64, device="cpu", show_progress=False))
    one_step_moves(trainer)

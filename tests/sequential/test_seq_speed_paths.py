"""The fast paths of the sequence encoders compute what a plain implementation computes.

The plain implementations are the reference modules of ``benchmarks/sequence_speed.py`` (SASRec.pytorch
style over every position, DeepCTR-style DIN on the concatenated attention input, Wide & Deep per
sample); they load our models' parameters, so logits and gradients must agree.
"""
import pytest
import torch
import torch.nn.functional as F

from graphdenoise.sequential import PAD, SEQUENCE_MODELS, SequenceData
from graphdenoise.sequential.methods import shuffled_batches
from graphdenoise.sequential.models import AttentionPooling
from graphdenoise.sequential.models.base import MLP, Dropout, PReLU, embed, mlp, prelu_backward
from tests.helpers import load_benchmark


def random_batch(num_users=9, num_items=40, b=12, n=7):
    gen = torch.Generator().manual_seed(3)
    user = torch.randint(0, num_users, (b,), generator=gen)
    hist = torch.randint(1, num_items + 1, (b, n), generator=gen)
    hist[0, :5] = PAD
    hist[1, :-1] = PAD
    target = torch.randint(0, num_items, (b,), generator=gen)
    return user, hist, target


@pytest.mark.parametrize("name", ["sasrec", "din", "widedeep"])
def test_logits_and_gradients_match_the_plain_reference(name):
    torch.manual_seed(0)
    ours = SEQUENCE_MODELS.get(name)(9, 40, 7, embedding_dim=8).eval()
    ref = load_benchmark("sequence_speed").reference_for(ours).eval()
    user, hist, target = random_batch()
    mine, theirs = ours(user, hist, target), ref(user, hist, target)
    assert torch.allclose(mine, theirs, atol=1e-5)
    mine.square().sum().backward()
    theirs.square().sum().backward()
    for (key, p), q in zip(ours.named_parameters(), ref.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5), key


@pytest.mark.parametrize("name", ["sasrec", "widedeep"])
def test_shared_histories_score_like_per_sample_histories(toy_graph, name):
    view = SequenceData(toy_graph, max_len=5)
    samples = view.training_samples(torch.Generator().manual_seed(0))
    batches = shuffled_batches(torch.arange(len(samples)), 16, torch.Generator().manual_seed(1), samples.position)
    batch = view.batch(samples.subset(batches[0]))
    assert batch.shared is not None and batch.shared[0].numel() < len(batch)  # positives share with negatives
    rows, inverse = batch.shared
    assert torch.equal(batch.history[rows][inverse], batch.history)
    model = SEQUENCE_MODELS.get(name).from_data(view).eval()
    assert torch.allclose(model.score(batch), model(batch.user, batch.history, batch.target), atol=1e-6)
    assert batch.replace(history=batch.history.clone()).shared is None


def test_grouped_batches_keep_a_position_together_and_cover_everything():
    groups = torch.tensor([5, 5, 1, 1, 9, 9, 0, 0, 3, 3])
    index = torch.arange(10) * 10
    batches = shuffled_batches(index, 4, torch.Generator().manual_seed(0), groups)
    order = torch.cat(batches)
    assert sorted(order.tolist()) == index.tolist()
    pairs = groups[order // 10].view(-1, 2)
    assert torch.equal(pairs[:, 0], pairs[:, 1])


@pytest.mark.parametrize("p", [0.2, 0.5, 0.25, 0.375, 0.1])   # 0.2, 0.1: rand >= p; the others from random bits
def test_cpu_dropout_keeps_the_distribution(p):
    torch.manual_seed(0)
    drop = Dropout(p)
    x = torch.ones(400, 501)
    y = drop(x)
    kept = (y != 0).float()
    assert abs(float(kept.mean()) - (1 - p)) < 0.005
    assert torch.equal(y[y != 0], torch.full_like(y[y != 0], 1.0 / (1.0 - p)))
    # independent entries: neighbours (within a random byte and across bytes) are kept together at (1 - p)^2
    assert abs(float((kept[:, 1:] * kept[:, :-1]).mean()) - (1 - p) ** 2) < 0.006
    assert abs(float((kept[:, 8:] * kept[:, :-8]).mean()) - (1 - p) ** 2) < 0.006
    torch.manual_seed(0)
    assert torch.equal(drop(x), y)                                  # the default generator fixes the mask
    assert torch.equal(drop.eval()(x), x)


def test_embed_gives_the_embedding_gradient():
    torch.manual_seed(0)
    table = torch.nn.Embedding(9, 4, padding_idx=PAD)
    index = torch.tensor([[0, 3, 3, 5], [0, 0, 8, 3]])
    upstream = torch.randn(2, 4, 4)
    out = embed(table, index)
    assert torch.equal(out, table(index))
    (out * upstream).sum().backward()
    ours = table.weight.grad.clone()
    table.weight.grad = None
    (table(index) * upstream).sum().backward()
    assert torch.allclose(ours, table.weight.grad, atol=1e-6)
    assert torch.equal(ours[PAD], torch.zeros(4))                   # the padding row never learns


@pytest.mark.parametrize("dropout", [0.0, 0.5, 0.2])
@pytest.mark.parametrize("training", [True, False])
def test_fused_attention_unit_matches_the_layered_unit(dropout, training):
    torch.manual_seed(0)
    unit = AttentionPooling(8, (12,), "prelu", dropout).train(training)
    assert unit.fused and not AttentionPooling(8, (12, 6), "prelu").fused and not AttentionPooling(8, (12,), "sigmoid").fused
    with torch.no_grad():
        unit.net[1].weight.uniform_(-0.5, 0.5)                          # slopes of both signs
        unit.net[-1].bias.fill_(0.3)                                    # padded positions must still score 0
    keys = torch.randn(10, 6, 8, requires_grad=True)
    query = torch.randn(10, 8, requires_grad=True)
    mask = torch.rand(10, 6) > 0.3
    mask[0] = False
    upstream = torch.randn(10, 8)
    results = []
    for forward in (unit.layered, unit):
        for t in (keys, query, *unit.parameters()):
            t.grad = None
        torch.manual_seed(5)                                            # the same dropout draws
        out = forward(keys, query, mask)
        out.backward(upstream)
        results.append([out.detach()] + [t.grad.clone() for t in (keys, query, *unit.parameters())])
    for layered, fused in zip(*results):
        assert torch.allclose(layered, fused, atol=1e-6, rtol=1e-5)
    assert torch.equal(results[1][0][0], torch.zeros(8))               # no real item: nothing pooled


def test_prelu_backward_matches_autograd():
    torch.manual_seed(0)
    x = torch.randn(50, 7)
    x[0, 0] = 0.0                                                       # at 0 the slope applies, as in ATen
    weight = torch.randn(7, requires_grad=True)
    xg = x.clone().requires_grad_()
    upstream = torch.randn(50, 7)
    F.prelu(xg, weight).backward(upstream)
    grad_x, grad_weight = prelu_backward(upstream, x, weight.detach())
    assert torch.equal(grad_x, xg.grad)
    assert torch.allclose(grad_weight, weight.grad, atol=1e-6)


@pytest.mark.parametrize("dropout", [0.0, 0.5, 0.2])
@pytest.mark.parametrize("training", [True, False])
def test_fused_prelu_mlp_matches_layer_by_layer(dropout, training):
    torch.manual_seed(0)
    stack = mlp(6, (16, 5), "prelu", dropout).train(training)
    assert stack._prelu_plan() is not None and mlp(6, (16,), "relu")._prelu_plan() is None
    assert stack[1:]._prelu_plan() is None                              # a slice without its first Linear
    with torch.no_grad():
        for layer in stack:
            if isinstance(layer, PReLU):
                layer.weight.uniform_(-0.5, 0.5)
    x = torch.randn(3, 9, 6, requires_grad=True)
    upstream = torch.randn(3, 9, 1)
    results = []
    for forward in (super(MLP, stack).forward, stack):
        for t in (x, *stack.parameters()):
            t.grad = None
        torch.manual_seed(5)
        out = forward(x)
        out.backward(upstream)
        results.append([out.detach()] + [t.grad.clone() for t in (x, *stack.parameters())])
    for layered, fused in zip(*results):
        assert torch.allclose(layered, fused, atol=1e-6, rtol=1e-5)


def test_flop_count_per_step_sees_the_recogniser(toy_graph):
    """``sequence_speed.py --flops``: ATJT's steps carry g's products on top of BCE's (Wide&Deep's
    recommender is far smaller than the paper's recogniser, so the floor is well above 1)."""
    from types import SimpleNamespace
    view = SequenceData(toy_graph, max_len=5)
    args = SimpleNamespace(batch_size=16, steps=4, methods="atjt")
    flops = load_benchmark("sequence_speed").step_flops("widedeep", view, args, torch.device("cpu"))
    assert flops["bce"] > 0 and flops["atjt"] > 1.5 * flops["bce"]

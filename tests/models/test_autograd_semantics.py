"""Outside the trainer's backward every backbone has ordinary autograd semantics: the row-sparse
gradient fast path (``Recommender.gather``) must not leak into ``torch.autograd.grad``, ``.grad`` or
double backward (issue 13, point 1)."""
import pytest
import torch

from graphdenoise.methods.losses import bpr_terms
from graphdenoise.models import MODELS
from graphdenoise.models.base import accumulate_row_gradients
from tests.helpers import synthetic


def batch_loss(model, users, pos, neg):
    torch.manual_seed(123)  # the same corruption draw in every call (CDAE's drop-out)
    out = model.triplet(users, pos, neg)
    return bpr_terms(out.pos, out.neg).mean() + 1e-2 * model.regularization(users, pos, neg, out)


def triplets(data, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    num_users, num_items = data["user"].num_nodes, data["item"].num_nodes
    users = torch.randint(num_users, (size,), generator=g)  # with repeats: rows accumulate
    return users, torch.randint(num_items, (size,), generator=g), torch.randint(num_items, (size,), generator=g)


def dense_reference(model, batch):
    """The same gradients through plain indexing (``dense_gradients``)."""
    params = [p for p in model.parameters() if p.requires_grad]
    with model.dense_gradients():
        return torch.autograd.grad(batch_loss(model, *batch), params, allow_unused=True)


@pytest.mark.parametrize("name", MODELS.names())
def test_autograd_grad_outside_the_trainer_is_the_dense_gradient(name):
    data = synthetic()
    torch.manual_seed(0)
    model = MODELS.get(name)(data, embedding_dim=8).double()
    batch = triplets(data)
    params = [p for p in model.parameters() if p.requires_grad]
    reference = dense_reference(model, batch)
    grads = torch.autograd.grad(batch_loss(model, *batch), params, allow_unused=True)
    for (pname, _), got, want in zip(model.named_parameters(), grads, reference):
        assert (got is None) == (want is None), pname
        if want is not None:
            assert torch.equal(got, want), pname
    assert all(p.grad is None for p in params), ".grad polluted by torch.autograd.grad"
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0


@pytest.mark.parametrize("name", MODELS.names())
def test_backward_outside_and_inside_the_fast_path_agree(name):
    data = synthetic()
    torch.manual_seed(0)
    model = MODELS.get(name)(data, embedding_dim=8).double()
    batch = triplets(data, seed=1)
    reference = dense_reference(model, batch)
    batch_loss(model, *batch).backward()  # a user's own backward: ordinary accumulation
    plain = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    with accumulate_row_gradients():  # what the trainer opens around its backward
        batch_loss(model, *batch).backward()
    for (pname, p), want, got in zip(model.named_parameters(), reference, plain):
        if want is None:
            continue
        assert torch.equal(got, want), pname
        assert torch.allclose(p.grad, want, rtol=1e-12, atol=1e-15), pname


@pytest.mark.parametrize("name", ["mf", "lightgcn"])
def test_double_backward_outside_the_trainer(name):
    """Gradient of a gradient norm (BOD's gradient matching, a user's penalty) through the lookups."""
    data = synthetic()
    torch.manual_seed(0)
    model = MODELS.get(name)(data, embedding_dim=8).double()
    batch = triplets(data, seed=2)
    params = list(model.parameters())

    def penalty():
        grads = torch.autograd.grad(batch_loss(model, *batch), params, create_graph=True)
        return sum(g.pow(2).sum() for g in grads)

    got = torch.autograd.grad(penalty(), params)
    with model.dense_gradients():
        want = torch.autograd.grad(penalty(), params)
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-14) for a, b in zip(got, want))


@pytest.mark.parametrize("name", ["mf", "lightgcn"])
def test_item_rows_are_the_item_table_rows_with_the_same_trainer_gradient(name):
    """``item_rows`` (LightGCN: a lookup into the stacked parameter at an offset) gives the item
    table's rows, and inside the trainer's backward adds into ``.grad`` exactly what plain indexing
    of the item table adds."""
    data = synthetic()
    torch.manual_seed(0)
    model = MODELS.get(name)(data, embedding_dim=8).double()
    items = torch.tensor([3, 0, 5, 2])
    weight = torch.randn(4, 8, dtype=torch.float64)
    rows = model.item_rows(items)
    assert torch.equal(rows, model.embedding_tables()[1][items])
    assert type(rows.grad_fn).__name__ == "_AccumulateRowsBackward"  # the row-sparse path
    with model.dense_gradients():
        reference = torch.autograd.grad((model.embedding_tables()[1][items] * weight).sum(),
                                        list(model.parameters()), allow_unused=True)
    for param in model.parameters():
        param.grad = torch.zeros_like(param)
    with accumulate_row_gradients():
        (model.item_rows(items) * weight).sum().backward()
    for param, expected in zip(model.parameters(), reference):
        assert torch.equal(param.grad, torch.zeros_like(param) if expected is None else expected)

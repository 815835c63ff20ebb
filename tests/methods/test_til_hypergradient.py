"""TIL's fast hypergradient paths against a frozen copy of the first implementation (issue 16).

The reference below is ``ExactHypergradient.full`` as it stood at commit c7302c7 (look-ahead tables,
one backward at Θ̃ through ``functional_call``, one forward-mode pass over every parameter at Θ),
kept here verbatim in its maths so that a later change to the library cannot move both sides.
The fast paths (MF's touched rows, LightGCN's linear map reusing the inner forward) must give the
same hypergradient to 1e-6 (relative to its largest entry), in float32 and float64.
"""
import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch.func import functional_call

from graphdenoise.methods import TILUI, SetupContext, StepContext
from graphdenoise.methods.losses import bpr_terms
from graphdenoise.methods.til_bilevel import ExactHypergradient
from graphdenoise.models import MODELS
from graphdenoise.models.base import accumulate_row_gradients
from graphdenoise.sampling import TripletSampler
from tests.helpers import synthetic

TOLERANCE = 1e-6


class _Terms(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, users, pos_items, neg_items):
        out = self.model.triplet(users, pos_items, neg_items)
        return bpr_terms(out.pos, out.neg)


def reference_hypergradient(model, batch, outer, alpha):
    """c7302c7's ``ExactHypergradient.full`` (single process): Θ̃ = Θ - α g from ``p.grad``, the
    outer gradient at Θ̃ by backward, then -α/B times the JVP of the inner terms along it."""
    call = _Terms(model)
    params = {f"model.{n}": p for n, p in model.named_parameters() if p.requires_grad}
    lookahead = {n: (p.detach() - alpha * p.grad if p.grad is not None else p.detach().clone()).requires_grad_()
                 for n, p in params.items()}
    with model.dense_gradients():
        outer_loss = functional_call(call, lookahead, (outer.users, outer.pos_items, outer.neg_items)).mean()
        grads = torch.autograd.grad(outer_loss, list(lookahead.values()), allow_unused=True)
        with fwAD.dual_level():
            duals = {n: fwAD.make_dual(p.detach(), torch.zeros_like(p) if g is None else g)
                     for (n, p), g in zip(params.items(), grads)}
            terms = functional_call(call, duals, (batch.users, batch.pos_items, batch.neg_items))
            directional = fwAD.unpack_dual(terms).tangent
    return -alpha * directional.reshape(batch.users.numel(), -1).sum(1) / batch.users.numel()


def _inner_step(name, dtype, outer_kind, l2=1e-3, alpha=0.05):
    """A TIL-UI inner step as the trainer runs it (backward with the row-sparse fast path)."""
    data = synthetic()
    torch.manual_seed(0)
    model = MODELS.get(name)(data, embedding_dim=16).to(dtype)
    method = TILUI(outer=outer_kind)
    sampler = TripletSampler(data, batch_size=256)
    method.setup(model, data, SetupContext(lr=alpha))
    method.to(dtype)
    batch = sampler.random_batch(256)
    outer = batch if outer_kind == "same-batch" else sampler.random_batch(200)
    ctx = StepContext(step=0, epoch=0, lr=alpha, l2=l2)
    loss, _ = method.loss(model, batch, ctx)
    model.zero_grad(set_to_none=True)
    with accumulate_row_gradients():
        loss.backward()
    return model, method, batch, outer, alpha


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("outer_kind", ["same-batch", "other-batch"])
@pytest.mark.parametrize("name", ["mf", "lightgcn"])
def test_fast_hypergradient_equals_the_reference(name, outer_kind, dtype):
    model, method, batch, outer, alpha = _inner_step(name, dtype, outer_kind)
    reference = reference_hypergradient(model, batch, outer, alpha)
    step = method._step  # what TIL.after_backward hands the recipe: the inner forward's rows
    fast = method.hypergradient(model, batch, outer, alpha, reps=step.reps)
    scale = reference.abs().max()
    assert scale > 0 and fast.dtype == dtype and fast.shape == reference.shape
    assert ((fast - reference).abs().max() / scale) <= TOLERANCE, (fast - reference).abs().max() / scale
    # without the inner rows, and through the general path: the same numbers
    assert ((method.hypergradient(model, batch, outer, alpha) - reference).abs().max() / scale) <= TOLERANCE
    general = ExactHypergradient().full(model, batch, outer, alpha)
    assert ((general - reference).abs().max() / scale) <= TOLERANCE


def test_row_buffers_are_left_zero_between_steps():
    """MF's adjoint tables are cleared after every call: a second batch sees no rows of the first."""
    model, method, batch, outer, alpha = _inner_step("mf", torch.float64, "other-batch")
    hyper = ExactHypergradient()
    first = hyper(model, batch, outer, alpha)
    assert all(bool((table == 0).all()) for table in hyper._adjoint)
    assert torch.equal(hyper(model, batch, outer, alpha), first)


def test_general_score_derivatives_equal_the_closed_form():
    """A backbone with its own scoring (here MF's inner product written again) takes the autograd /
    forward-mode score derivatives instead of the closed form: the same numbers."""
    from graphdenoise.models import MF

    class OwnScore(MF):
        def score_pairs(self, user_rep, item_rep):
            return (user_rep * item_rep).sum(-1)

    model, method, batch, outer, alpha = _inner_step("mf", torch.float64, "other-batch")
    own = OwnScore(synthetic(), embedding_dim=16).double()
    own.load_state_dict(model.state_dict())
    for mine, theirs in zip(own.parameters(), model.parameters()):
        mine.grad = theirs.grad.clone()
    reference = reference_hypergradient(model, batch, outer, alpha)
    general = ExactHypergradient()(own, batch, outer, alpha)
    assert ((general - reference).abs().max() / reference.abs().max()) <= TOLERANCE

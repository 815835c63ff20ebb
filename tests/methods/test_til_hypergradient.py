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
from graphdenoise.methods.til_bilevel import ExactHypergradient, _TripletCall
from graphdenoise.models import MODELS
from graphdenoise.models.base import accumulate_row_gradients
from graphdenoise.sampling import TripletSampler
from tests.helpers import synthetic

TOLERANCE = 1e-6


def reference_hypergradient(model, batch, outer, alpha):
    """c7302c7's ``ExactHypergradient.full`` (single process): Θ̃ = Θ - α g from ``p.grad``, the
    outer gradient at Θ̃ by backward, then -α/B times the JVP of the inner terms along it."""
    call = _TripletCall(model)  # model.triplet's BPR terms
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


def _inner_step(name, dtype, outer_kind, l2=1e-3, alpha=0.05, **model_options):
    """A TIL-UI inner step as the trainer runs it (backward with the row-sparse fast path)."""
    data = synthetic()
    torch.manual_seed(0)
    model = MODELS.get(name)(data, embedding_dim=16, **model_options).to(dtype)
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
@pytest.mark.parametrize("name", ["mf", "lightgcn", "gmf", "neumf"])
def test_fast_hypergradient_equals_the_reference(name, outer_kind, dtype):
    """Every dispatch path (MF: rows; LightGCN: linear; GMF, NeuMF: general) equals the reference."""
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


@pytest.mark.parametrize("outer_kind", ["same-batch", "other-batch"])
def test_linear_path_with_several_layers_equals_the_reference(outer_kind):
    """LightGCN with three layers (full propagation below the last, row-restricted last layer)."""
    model, method, batch, outer, alpha = _inner_step("lightgcn", torch.float64, outer_kind, num_layers=3)
    reference = reference_hypergradient(model, batch, outer, alpha)
    fast = method.hypergradient(model, batch, outer, alpha, reps=method._step.reps)
    assert reference.abs().max() > 0
    assert ((fast - reference).abs().max() / reference.abs().max()) <= TOLERANCE


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


def reference_clustering_loss(q, centres, tau):
    """c7302c7's ``clustering_loss`` (Eq. 9 by autograd through the plain formula, ``[n, K]`` layout)."""
    dist2 = (q.pow(2).sum(1, keepdim=True) - 2 * q @ centres.t() + centres.pow(2).sum(1)).clamp_(min=0)
    log_q = torch.log_softmax(-(tau + 1) / 2 * torch.log1p(dist2 / tau), dim=1)
    with torch.no_grad():
        log_weight = 2 * log_q - torch.logsumexp(log_q, dim=0, keepdim=True)
        log_t = log_weight - torch.logsumexp(log_weight, dim=1, keepdim=True)
        target = log_t.exp()
    return (target * (log_t - log_q)).sum(1).mean()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_clustering_loss_and_gradients_equal_the_reference(dtype, tau):
    """Value and gradients to 1e-6 (relative to the largest entry) in float64; in float32 no farther
    from the float64 reference than twice the float32 reference's own error (plus 1e-6): the two differ in
    their order of float32 roundings only."""
    from graphdenoise.methods.clustering import clustering_loss

    torch.manual_seed(3)
    q64 = 0.3 * torch.randn(500, 16, dtype=torch.float64)
    centres64 = 0.3 * torch.randn(12, 16, dtype=torch.float64)
    q64[7] = centres64[2]  # a distance of zero (the clamp)

    def evaluate(loss_fn, precision):
        q, centres = q64.to(precision).requires_grad_(), centres64.to(precision).requires_grad_()
        loss = loss_fn(q, centres, tau)
        return [loss.detach().double(), *(g.double() for g in torch.autograd.grad(3.0 * loss, [q, centres]))]

    truth = evaluate(reference_clustering_loss, torch.float64)
    fast = evaluate(clustering_loss, dtype)
    own = evaluate(reference_clustering_loss, dtype)
    for mine, reference, theirs in zip(fast, truth, own):
        scale = reference.abs().max()
        assert scale > 0
        allowed = TOLERANCE * scale + 2 * (theirs - reference).abs().max()
        assert (mine - reference).abs().max() <= allowed, ((mine - reference).abs().max(), allowed)


def test_kept_batch_nodes_follow_in_place_changes_and_inference_mode():
    """``Recommender.triplet`` reuses the last batch's distinct nodes only for the same, unmodified tensors."""
    data = synthetic()
    model = MODELS.get("lightgcn")(data, embedding_dim=8)
    users, pos, neg = torch.tensor([0, 1, 1]), torch.tensor([2, 3, 4]), torch.tensor([5, 6, 7])
    with torch.no_grad():
        first = model.triplet(users, pos, neg).pos
        users[0] = 2  # in place: the kept nodes must not be used
        changed = model.triplet(users, pos, neg).pos
        fresh = model.triplet(users.clone(), pos.clone(), neg.clone()).pos
    assert torch.equal(changed, fresh) and not torch.equal(first, changed)
    with torch.inference_mode():
        assert torch.equal(model.triplet(torch.tensor([2, 1, 1]), pos.clone(), neg.clone()).pos, fresh)

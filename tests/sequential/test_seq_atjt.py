"""ATJT: the noise recognition model, the group rotation, the weighted loss and its gradients."""
import pytest
import torch
import torch.nn.functional as F

from tests.sequential.conftest import clustered_sequences
from graphdenoise.methods import SetupContext, StepContext
from graphdenoise.sequential import (ATJT, BCE, DirectNoiseRecognition, ATJTWithoutAuxiliaryTask, NoiseRecognizer,
                                     RandomReplacement, SequenceData, WideDeep, roc_auc, weight_statistics)


def setup_method_on(view, method, seed=0, model=None):
    model = model or WideDeep.from_data(view, embedding_dim=8, hidden_units=(16,))
    method.setup(model, view, SetupContext(seed=seed))
    return model


def test_recognizer_has_the_paper_sizes():
    g = NoiseRecognizer(10, 20)
    linears = [m for m in g.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 32), (32, 1), (40, 256), (256, 64), (64, 1)]
    assert "embedding_dim=16, user_dim=8" in repr(g)


def test_recognizer_learns_to_separate_replaced_sequences():
    torch.manual_seed(0)
    view = SequenceData(clustered_sequences(num_users=60, num_items=80, length=20), max_len=8)
    g = NoiseRecognizer(view.num_users, view.num_items)          # the paper's g, dropout 0.5
    method = ATJT(recognizer_lr=0.05, num_replace=4)
    setup_method_on(view, method)
    opt = torch.optim.Adagrad(g.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(0)
    samples = view.training_samples(gen)
    for _ in range(400):
        batch = view.batch(samples.subset(torch.randint(len(samples), (64,), generator=gen)))
        loss = method.recognizer_loss(g, batch, 0.5)                 # Eq. (2), half replaced
        opt.zero_grad()
        loss.backward()
        opt.step()
    held_out = view.batch(view.training_samples(torch.Generator().manual_seed(9)))
    stats = weight_statistics(g, held_out, RandomReplacement(view.num_items, 4, seed=7))
    assert stats["clean_mean"] > stats["noisy_mean"] + 0.2          # the paper's Table 5, on easy noise
    g.eval()
    with torch.no_grad():
        clean = g.weights(held_out)
        noisy = g.weights(held_out.replace(history=RandomReplacement(view.num_items, 4, seed=7)(held_out.history)))
    auc = roc_auc(torch.cat([clean, noisy]), torch.cat([torch.ones_like(clean), torch.zeros_like(noisy)]))
    assert auc > 0.8


@pytest.mark.parametrize("num_groups", [2, 3])
def test_rotation_covers_every_group_once(toy_graph, num_groups):
    view = SequenceData(toy_graph, max_len=4)
    method = ATJT(num_groups=num_groups)
    setup_method_on(view, method)
    gen = torch.Generator().manual_seed(0)
    samples = view.training_samples(gen)
    rounds = method.plan(samples, 16, gen)
    assert [r.index for r in rounds] == list(range(num_groups))
    rec = torch.cat([s.rec for r in rounds for s in r.steps])
    assert torch.equal(rec.sort().values, torch.arange(len(samples)))      # every sample trains f exactly once
    group = method.groups_of(samples)
    for r in rounds:
        for step in r.steps:
            assert bool((group[step.rec] == r.index).all())
            assert len(step.aux) == num_groups - 1                          # N - 1 batches of g per batch of f
            for aux in step.aux:
                assert bool((group[aux] != r.index).all())                  # g never trains on f's group
    # a sample's positive and its negatives stay in one group (partition by target position)
    assert bool((group == method.position_group[samples.position]).all())


def test_fresh_recognizer_per_round(toy_graph):
    view = SequenceData(toy_graph, max_len=4)
    method = ATJT()
    setup_method_on(view, method)
    initial = {k: v.clone() for k, v in method.recognizer.state_dict().items()}
    method.begin_round(0)
    for p in method.recognizer.parameters():
        p.data.add_(1.0)
    opt_before = method.optimizers()["recognizer_optimizer"]
    method.begin_round(1)
    assert all(torch.equal(v, initial[k]) for k, v in method.recognizer.state_dict().items())
    assert method.optimizers()["recognizer_optimizer"] is not opt_before
    persistent = ATJT(fresh_recognizer=False, num_groups=3)
    setup_method_on(view, persistent)
    assert len(persistent.recognizers) == 3
    persistent.begin_round(2)
    assert persistent.recognizer is persistent.recognizers[2]


def _batch(view, n=24):
    gen = torch.Generator().manual_seed(1)
    samples = view.training_samples(gen)
    return view.batch(samples.subset(torch.arange(n)))


def test_weights_reach_the_recommenders_loss(toy_graph):
    view = SequenceData(toy_graph, max_len=4)
    method = ATJT(alpha=0.0, recognizer_dropout=0.0)
    model = setup_method_on(view, method)
    method.begin_round(0)
    batch = _batch(view)
    w = torch.linspace(0, 1, len(batch))
    w[::2] = 0.0
    method.recognizer.forward_batches = lambda batches: [torch.logit(w)]   # controlled weights (no aux batch)
    loss, _ = method.loss(model, batch, StepContext(0, 0, 1e-3))
    model.zero_grad()
    loss.backward()
    got = [p.grad.clone() for p in model.parameters()]
    # Eq. (1): the mean of w_i * BCE_i; zero-weight samples contribute no gradient
    model.zero_grad()
    bce = F.binary_cross_entropy_with_logits(model.score(batch), batch.label, reduction="none")
    (w * bce).mean().backward()
    expected = [p.grad.clone() for p in model.parameters()]
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(got, expected))
    model.zero_grad()
    keep = w > 0
    sub = batch.replace(user=batch.user[keep], history=batch.history[keep], target=batch.target[keep],
                        label=batch.label[keep])
    (w[keep] * F.binary_cross_entropy_with_logits(model.score(sub), sub.label, reduction="none")).sum().div(len(batch)).backward()
    assert all(torch.allclose(a, p.grad, atol=1e-7) for a, p in zip(got, model.parameters()))


@pytest.mark.parametrize("detach", [False, True])
def test_recommender_loss_reaches_g_unless_detached(toy_graph, detach):
    view = SequenceData(toy_graph, max_len=4)
    method = ATJT(alpha=0.0, detach_weights=detach, recognizer_dropout=0.0)
    model = setup_method_on(view, method)
    method.begin_round(0)
    batch = _batch(view)
    loss, logs = method.loss(model, batch, StepContext(0, 0, 1e-3, aux=[_batch(view)]))
    assert float(logs["loss_aux"]) > 0
    loss.backward()
    g_grad = sum(float(p.grad.abs().sum()) for p in method.recognizer.parameters() if p.grad is not None)
    assert (g_grad == 0) == detach                                   # joint training: L_R reaches Theta_D
    assert sum(float(p.grad.abs().sum()) for p in model.parameters()) > 0


def test_joint_loss_is_lr_plus_scaled_mean_of_ld(toy_graph):
    view = SequenceData(toy_graph, max_len=4)
    method = ATJT(alpha=0.7, num_groups=3, recognizer_dropout=0.0)
    model = setup_method_on(view, method)
    method.begin_round(0)
    batch, aux = _batch(view), [_batch(view, 16), _batch(view, 20)]
    loss, logs = method.loss(model, batch, StepContext(0, 0, 1e-3, aux=aux))
    assert float(loss.detach()) == pytest.approx(float(logs["loss_rec"]) + 0.7 * float(logs["loss_aux"]), rel=1e-6)
    # L_D is the mean over the N - 1 batches, each half replaced and labelled 0
    noisy, label = method.corrupt(aux[0], 0.5)
    assert int((label == 0).sum()) == 8 and bool((noisy.history[label == 1] == aux[0].history[label == 1]).all())
    assert bool((noisy.history[label == 0] != aux[0].history[label == 0]).any(1).all())


@pytest.mark.parametrize("num_groups, aux_sizes", [(2, (24,)), (3, (16, 20))])
def test_one_recogniser_pass_equals_one_pass_per_batch(toy_graph, num_groups, aux_sizes):
    """ATJT.loss runs g once over b^R and the replaced b^D together; the two-pass computation (g on
    b^R for the weights, g on each replaced b^D for Eq. 2) gives the same losses and gradients."""
    torch.manual_seed(0)
    view = SequenceData(toy_graph, max_len=4)
    method = ATJT(alpha=0.7, num_groups=num_groups, recognizer_dropout=0.0)   # dropout off: same function
    model = setup_method_on(view, method)
    method.begin_round(0)
    g = method.recognizer
    for p in g.parameters():                                         # away from the tiny initial weights
        torch.nn.init.normal_(p, std=0.3)
    batch, aux = _batch(view), [_batch(view, n) for n in aux_sizes]
    params = [*model.parameters(), *g.parameters()]
    streams = (method.corrupt_generator.get_state(), method.replacement.generator.get_state())
    loss, logs = method.loss(model, batch, StepContext(0, 0, 1e-3, aux=aux))
    fused = torch.autograd.grad(loss, params)

    method.corrupt_generator.set_state(streams[0])                   # the same replacements again
    method.replacement.generator.set_state(streams[1])
    per_sample = F.binary_cross_entropy_with_logits(model.score(batch), batch.label, reduction="none")
    loss_rec = (g.weights(batch) * per_sample).mean()
    loss_aux = sum(method.recognizer_loss(g, b, method.config.noise_fraction) for b in aux) / len(aux)
    two_pass = torch.autograd.grad(loss_rec + 0.7 * loss_aux, params)
    assert float(logs["loss_rec"]) == pytest.approx(float(loss_rec), abs=1e-6)
    assert float(logs["loss_aux"]) == pytest.approx(float(loss_aux), abs=1e-6)
    assert float(loss) == pytest.approx(float(loss_rec + 0.7 * loss_aux), abs=1e-6)
    assert all(float(b.abs().max()) > 0 for b in two_pass[-4:])     # g's gradients are not trivially zero
    for a, b in zip(fused, two_pass):
        assert torch.allclose(a, b, rtol=0, atol=1e-6)


def test_dnr_freezes_g_and_wat_has_no_auxiliary_task(toy_graph):
    view = SequenceData(toy_graph, max_len=4)
    dnr = DirectNoiseRecognition(pretrain_batch_size=32)
    model = setup_method_on(view, dnr)
    assert len(dnr.recognizers) == 2
    assert not any(p.requires_grad for p in dnr.recognizers.parameters())
    assert dnr.optimizers() == {}
    pretrained = {k: v.clone() for k, v in dnr.recognizers.state_dict().items()}
    assert not all(torch.equal(pretrained[k], dnr.initial_state[k.split(".", 1)[1]]) for k in pretrained)
    gen = torch.Generator().manual_seed(0)
    samples = view.training_samples(gen)
    rounds = dnr.plan(samples, 16, gen)
    assert all(not s.aux for r in rounds for s in r.steps)
    dnr.begin_round(1)
    loss, _ = dnr.loss(model, _batch(view), StepContext(0, 0, 1e-3))
    loss.backward()
    assert all(torch.equal(v, pretrained[k]) for k, v in dnr.recognizers.state_dict().items())

    wat = ATJTWithoutAuxiliaryTask(recognizer_dropout=0.0)
    model = setup_method_on(view, wat)
    rounds = wat.plan(samples, 16, gen)
    assert len(rounds) == 1 and all(not s.aux for s in rounds[0].steps)
    loss, logs = wat.loss(model, _batch(view), StepContext(0, 0, 1e-3))
    loss.backward()
    assert "loss_aux" not in logs
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in wat.recognizer.parameters())
    frozen = ATJTWithoutAuxiliaryTask(train_recognizer=False)
    model = setup_method_on(view, frozen)
    assert frozen.optimizers() == {} and not frozen.recognizer.training
    loss, _ = frozen.loss(model, _batch(view), StepContext(0, 0, 1e-3))
    loss.backward()
    assert all(p.grad is None for p in frozen.recognizer.parameters())


def test_config_validation():
    with pytest.raises(ValueError, match="num_groups"):
        ATJT(num_groups=1)
    with pytest.raises(ValueError, match="noise_fraction"):
        ATJT(noise_fraction=1.0)
    with pytest.raises(ValueError, match="unknown option"):
        ATJT(groups=3)
    assert repr(BCE()) == "BCE()"
    assert repr(ATJT()).startswith("ATJT(num_groups=2, partition='sample'")


def test_recognizer_fused_layers_match_the_layered_recognizer(toy_graph):
    """g's hand-differentiated attention unit and output MLP: the logits and every gradient of the
    layer-by-layer computation (dropout on, the same draws), to 1e-6."""
    view = SequenceData(toy_graph, max_len=4)
    torch.manual_seed(0)
    g = NoiseRecognizer(view.num_users, view.num_items).train()
    batch = _batch(view)

    def layered(user, history, target):
        keys, e_t = g.item_emb(history), g.item_emb(target + 1)
        h = g.attention.layered(keys, e_t, history != 0)
        return torch.nn.Sequential.forward(g.out, torch.cat([g.user_emb(user), h, e_t], dim=-1)).squeeze(-1)

    results = []
    for forward in (layered, g):
        g.zero_grad()
        torch.manual_seed(3)
        logits = forward(batch.user, batch.history, batch.target)
        F.binary_cross_entropy_with_logits(logits, batch.label).backward()
        results.append([logits.detach()] + [p.grad.clone() for p in g.parameters()])
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)

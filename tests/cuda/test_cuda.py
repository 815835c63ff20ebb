"""CUDA: the same computations on a GPU as on the CPU (skipped without a GPU).

Run on a GPU machine with ``python -m pytest -q -m cuda tests/cuda``. Each test computes a result on
the CPU and on CUDA from the same parameters and compares them to float tolerance: MF and LightGCN
scores and a BPR training step, NeuMF's full-ranking scores, the full-ranking evaluation, and a
sequence model's training loss and evaluation scores.
"""
import pytest
import torch

from graphdenoise.datasets.graph import make_heterodata

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

CUDA = torch.device("cuda")


def random_graph(num_users=30, num_items=40, num_edges=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    keys = torch.randperm(num_users * num_items, generator=g)[:num_edges]
    edges = torch.stack([keys // num_items, keys % num_items])
    split = torch.randint(0, 10, (num_edges,), generator=g)
    parts = {"train": edges[:, split < 8], "val": edges[:, split == 8], "test": edges[:, split == 9]}
    return make_heterodata(num_users, num_items, parts)


def twin(make):
    """Two instances of ``make()`` with the same parameters: one on the CPU, one on CUDA."""
    cpu = make()
    gpu = make()
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu.to(CUDA)


@pytest.mark.parametrize("name", ["mf", "lightgcn", "neumf"])
def test_graph_model_scores_and_gradients_match_cpu(name):
    from graphdenoise.models import MODELS
    torch.manual_seed(0)
    data = random_graph()
    cpu, gpu = twin(lambda: MODELS.get(name)(data).eval())
    users, items = torch.arange(30), torch.arange(40)
    u_cpu, i_cpu = cpu.representations()
    u_gpu, i_gpu = gpu.representations()
    assert torch.allclose(u_gpu.cpu(), u_cpu, atol=1e-5) and torch.allclose(i_gpu.cpu(), i_cpu, atol=1e-5)
    with torch.no_grad():
        scores_cpu = cpu.score_matrix(u_cpu[users], i_cpu[items])
        scores_gpu = gpu.score_matrix(u_gpu[users.to(CUDA)], i_gpu[items.to(CUDA)])
    assert torch.allclose(scores_gpu.cpu(), scores_cpu, atol=1e-4)
    for model in (cpu, gpu):
        u, i = model.representations()
        (u[:5] @ i[:7].t()).square().sum().backward()
    for (key, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        if p.grad is not None:
            assert torch.allclose(q.grad.cpu(), p.grad, atol=1e-4), key


def test_full_ranking_evaluation_matches_cpu():
    from graphdenoise.metrics import RankingEvaluator
    from graphdenoise.models import MF
    torch.manual_seed(0)
    data = random_graph()
    cpu, gpu = twin(lambda: MF(data).eval())
    on_cpu = RankingEvaluator(data, ks=(5, 10)).evaluate(cpu, "test")
    on_gpu = RankingEvaluator(data, ks=(5, 10)).evaluate(gpu, "test")
    assert on_gpu.keys() == on_cpu.keys()
    for key in on_cpu:
        assert on_gpu[key] == pytest.approx(on_cpu[key], abs=1e-6), key


def test_training_runs_on_cuda():
    from graphdenoise import fit
    result = fit(random_graph(), "lightgcn", "bpr", epochs=2, device="cuda", seed=0, batch_size=64)
    assert next(result.model.parameters()).device.type == "cuda"
    assert all(0.0 <= v <= 1.0 for v in result.metrics["test"].values())


@pytest.mark.parametrize("name", ["sasrec", "din", "widedeep"])
def test_sequence_model_matches_cpu(name):
    from graphdenoise.sequential import SEQUENCE_MODELS, SequenceData
    from graphdenoise.sequential.methods import shuffled_batches
    g = torch.Generator().manual_seed(0)
    num_users, num_items, length = 20, 30, 12
    users = torch.arange(num_users).repeat_interleave(length)
    items = torch.randint(0, num_items, (users.numel(),), generator=g)
    times = torch.arange(users.numel())
    data = make_heterodata(num_users, num_items, {"train": torch.stack([users, items])},
                           {"train": {"timestamp": times}})
    view = SequenceData(data, max_len=5)
    samples = view.training_samples(torch.Generator().manual_seed(0))
    batch = view.batch(samples.subset(shuffled_batches(torch.arange(len(samples)), 32, g, samples.position)[0]))
    torch.manual_seed(0)
    cpu, gpu = twin(lambda: SEQUENCE_MODELS.get(name).from_data(view).eval())
    loss_cpu = torch.nn.functional.binary_cross_entropy_with_logits(cpu.score(batch), batch.label)
    gpu_batch = batch.to(CUDA)
    loss_gpu = torch.nn.functional.binary_cross_entropy_with_logits(gpu.score(gpu_batch), gpu_batch.label)
    assert loss_gpu.item() == pytest.approx(loss_cpu.item(), abs=1e-5)
    loss_cpu.backward()
    loss_gpu.backward()
    for (key, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        if p.grad is not None:
            assert torch.allclose(q.grad.cpu(), p.grad, atol=1e-5), key
    gpu.train()  # dropout paths run on the device
    assert torch.isfinite(gpu.score(gpu_batch)).all()

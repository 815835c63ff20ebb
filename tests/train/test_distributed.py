"""Two gloo processes on CPU: sharding, identical replicas, and exact sharded evaluation."""
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from graphdenoise.sampling import TripletSampler


def _worker(rank, world_size, init_file, data_dir, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    import graphdenoise
    from graphdenoise.datasets import load_dataset
    from graphdenoise.metrics import RankingEvaluator

    data = load_dataset("ml-100k", data_dir=data_dir, root=os.path.join(out_dir, "ml-100k"))
    sampler = TripletSampler(data, batch_size=1000, seed=0, rank=rank, world_size=world_size)
    shards = [torch.cat(sampler.epoch_shards()) for _ in range(2)]
    result = graphdenoise.fit(data, model="mf", method="til-ui", epochs=2, eval_every=1, batch_size=2000,
                              lr=1e-2, distributed=True, device="cpu")
    params = {f"model.{k}": v for k, v in result.model.state_dict().items()}
    params.update({f"method.{k}": v for k, v in result.method.state_dict().items()})
    world_metrics = RankingEvaluator(data).evaluate(result.model, "test",
                                                    world=graphdenoise.distributed.current_world())
    torch.save({"shards": shards, "params": params, "metrics": result.metrics, "world_metrics": world_metrics,
                "batches": len(sampler)}, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_two_gloo_ranks_cover_the_epoch_and_stay_identical(tmp_path, shared_data_dir):
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(rank, 2, str(tmp_path / "init"), str(shared_data_dir), str(tmp_path)))
             for rank in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=280)
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            pytest.fail("a rank did not finish within the time bound")
        assert proc.exitcode == 0
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    # shards: disjoint, together every training edge once per epoch, equally many batches
    from graphdenoise.datasets import load_dataset
    data = load_dataset("ml-100k", data_dir=str(shared_data_dir), root=str(tmp_path / "ml-100k"))
    num_edges = data["user", "interacts", "item"].edge_index.size(1)
    for epoch in range(2):
        both = torch.cat([ranks[0]["shards"][epoch], ranks[1]["shards"][epoch]])
        assert torch.equal(both.sort().values, torch.arange(num_edges))
    assert ranks[0]["batches"] == ranks[1]["batches"]
    # replicas (model and TIL's weight generator Λ) are identical after training
    for name, value in ranks[0]["params"].items():
        assert torch.equal(value, ranks[1]["params"][name]), name
    assert ranks[0]["metrics"] == ranks[1]["metrics"]
    # the sharded evaluation equals a single-process evaluation of the same model exactly
    from graphdenoise.metrics import RankingEvaluator
    from graphdenoise.models import MF
    model = MF(data)
    model.load_state_dict({k[len("model."):]: v for k, v in ranks[0]["params"].items() if k.startswith("model.")})
    single = RankingEvaluator(data).evaluate(model, "test")
    assert ranks[0]["world_metrics"] == single
    assert ranks[0]["metrics"]["test"] == single

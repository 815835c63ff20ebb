import pytest
import torch

from graphdenoise.methods import BPR
from graphdenoise.models import LightGCN, MF
from graphdenoise.train import Trainer, TrainerConfig
from graphdenoise.utils import resolve_device, seed_everything
from tests.helpers import synthetic


def make_trainer(data, tmp_path=None, model_cls=MF, **overrides):
    seed_everything(0)
    options = dict(epochs=6, batch_size=256, lr=5e-3, eval_every=1, patience=0, show_progress=False)
    options.update(overrides)
    if tmp_path is not None:
        options["checkpoint_dir"] = str(tmp_path)
    return Trainer(model_cls(data), BPR(), data, TrainerConfig(**options))


@pytest.mark.parametrize("model_cls", [MF, LightGCN])
def test_same_seed_same_results_bit_for_bit(model_cls):
    data = synthetic()
    runs = []
    for _ in range(2):
        trainer = make_trainer(data, model_cls=model_cls, epochs=3)
        trainer.fit()
        runs.append((trainer.final_metrics(), [h["loss"] for h in trainer.history],
                     trainer.model.embedding_tables()[0].detach().clone()))
    assert runs[0][0] == runs[1][0]
    assert runs[0][1] == runs[1][1]
    assert torch.equal(runs[0][2], runs[1][2])


class Interrupt(Exception):
    pass


def test_resume_after_interruption_ends_with_identical_metrics(tmp_path):
    data = synthetic()
    reference = make_trainer(data)
    reference.fit()
    expected = reference.final_metrics()

    def stop_at_epoch_3(epoch, record):
        if epoch == 3:
            raise Interrupt

    interrupted = make_trainer(data, tmp_path / "run")
    interrupted.callbacks.append(stop_at_epoch_3)
    with pytest.raises(Interrupt):
        interrupted.fit()
    assert (tmp_path / "run" / "last.pt").exists()
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]

    seed_everything(123)  # a fresh process would start from other RNG states
    resumed = make_trainer(data, tmp_path / "run", resume=True)
    resumed.fit()
    assert resumed.history[0]["epoch"] == 1 and len(resumed.history) == 6
    assert resumed.final_metrics() == expected
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in reference.history]


def test_model_selection_never_looks_at_test(monkeypatch):
    data = synthetic()
    trainer = make_trainer(data, epochs=4, patience=2)
    splits = []
    original = trainer.evaluator.evaluate
    monkeypatch.setattr(trainer.evaluator, "evaluate", lambda model, split="val", **kw:
                        (splits.append(split), original(model, split, **kw))[1])
    trainer.fit()
    assert set(splits) == {"val"}
    best = max(h["val/recall@20"] for h in trainer.history if "val/recall@20" in h)
    assert trainer.best_metric == best
    assert trainer.evaluate("val")["recall@20"] == pytest.approx(best)  # best state restored


def test_early_stopping_and_history_records_loss_and_metrics():
    data = synthetic()
    trainer = make_trainer(data, epochs=50, patience=1, lr=0.5)  # diverging lr stops early
    trainer.fit()
    assert trainer.stopped_early and trainer.epoch < 50
    assert all("loss" in h and "seconds" in h for h in trainer.history)


def test_validation_split_required_and_bad_config_rejected():
    data = synthetic()
    del data["user", "interacts", "item"].val_edge_label_index
    with pytest.raises(ValueError, match="validation split"):
        make_trainer(data)
    with pytest.raises(ValueError, match="monitor"):
        TrainerConfig(monitor="recall@7")
    with pytest.raises(ValueError, match="batch_size"):
        TrainerConfig(batch_size=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_unavailable_device_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="not a valid torch device"):
        resolve_device("gpu0")


def test_patience_counts_only_where_the_method_may_stop():
    from graphdenoise.train import ModelSelection
    selection = ModelSelection("recall@20", patience=1)
    selection.update(1, 0.5, dict)
    selection.update(2, 0.4, dict, may_stop=False)  # worse, but the method's own training has not begun
    assert not selection.stopped_early and selection.bad_evaluations == 0 and selection.best_epoch == 1
    selection.update(3, 0.3, dict)
    assert selection.stopped_early and selection.best_epoch == 1
    selection = ModelSelection("recall@20", patience=0)
    selection.update(1, 0.9, dict, may_stop=False, may_select=False)  # better, but not selectable
    selection.update(2, 0.5, dict)
    assert selection.best_epoch == 2 and selection.best_metric == 0.5

    class Late(BPR):  # a method whose own phase starts with the 8th evaluation
        evaluations = 0

        def may_stop(self):
            self.evaluations += 1
            return self.evaluations >= 8

    data = synthetic()
    stops = []
    for method in (BPR(), Late()):
        seed_everything(0)
        trainer = Trainer(MF(data), method, data, TrainerConfig(epochs=50, batch_size=256, lr=0.5, eval_every=1,
                                                                patience=1, show_progress=False))
        trainer.fit()  # the diverging lr of the test above
        assert trainer.stopped_early
        stops.append(trainer.epoch)
    assert stops[0] < 8 <= stops[1] < 50

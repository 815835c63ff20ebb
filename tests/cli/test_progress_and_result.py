"""The progress display and the user-facing FitResult (short repr, recommendations in raw ids)."""
import io

import pytest
import torch

import graphdenoise
from graphdenoise.result import raw_to_internal
from graphdenoise.train.progress import Progress, resolve_show_progress
from tests.helpers import synthetic


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_show_progress_none_follows_the_terminal(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert resolve_show_progress(None) is False
    monkeypatch.setattr("sys.stderr", _Terminal())
    assert resolve_show_progress(None) is True
    assert resolve_show_progress(False) is False and resolve_show_progress(True) is True


def test_overall_bar_counts_epochs_and_shows_the_best_validation_value(monkeypatch):
    err = _Terminal()
    monkeypatch.setattr("sys.stderr", err)
    progress = Progress(epochs=4, batches=10, monitor="recall@20", every=5)
    for epoch, value in ((1, None), (2, 0.25), (3, 0.2)):
        progress.on_epoch_start(epoch)
        for done in range(1, 11):
            if progress.due(done):
                progress.on_batch(progress.every, loss=0.5)
        record = {"epoch": epoch, "loss": 0.5}
        if value is not None:
            record["val/recall@20"] = value
        progress.on_epoch_end(record)
    assert progress._outer.n == 3 and progress._outer.total == 4 and progress._inner.n == 10
    progress.close()
    text = err.getvalue()
    assert "3/4" in text and "best recall@20=0.2500 @2" in text and "epoch 3" in text


def test_disabled_display_stays_out_of_the_loop():
    progress = Progress(epochs=3, batches=100, monitor="recall@20", enabled=False)
    assert not any(progress.due(n) for n in range(1, 101))
    progress.on_epoch_end({"epoch": 1, "loss": 1.0})
    progress.close()


def test_fit_with_progress_reports_every_k_batches(monkeypatch, capsys):
    calls = []
    original = Progress.on_batch
    monkeypatch.setattr(Progress, "on_batch", lambda self, n=1, loss=None: (calls.append(n), original(self, n, loss)))
    result = graphdenoise.fit(synthetic(), model="mf", epochs=2, eval_every=1, batch_size=64, show_progress=True)
    batches = -(-result.model.train_index.num_pairs // 64)
    assert calls and len(calls) == 2 * (batches // 20)  # every 20 batches, not every batch
    out = capsys.readouterr()
    assert "epoch    2" in out.out and "training" in out.err


def test_bod_explains_its_negative_loss(capsys):
    graphdenoise.fit(synthetic(), model="mf", method="bod", epochs=1, batch_size=2048, show_progress=True)
    assert "negative by design" in capsys.readouterr().out


def test_fit_result_repr_is_short_and_recommend_maps_raw_ids(tmp_path):
    data = synthetic()
    data["user"].raw_id = torch.arange(data["user"].num_nodes) * 10 + 7
    data["item"].raw_id = torch.arange(data["item"].num_nodes) * 3 + 100
    result = graphdenoise.fit(data, model="mf", epochs=2, eval_every=1, batch_size=512, show_progress=False)
    text = repr(result)
    assert len(text) < 300 and "history" not in text and "model='mf'" in text and "best_epoch" in text
    internal = result.recommend([0, 5], k=4, raw_ids=False)
    raw = result.recommend([7, 57], k=4)
    assert torch.equal(raw, internal * 3 + 100)
    with pytest.raises(ValueError, match=r"unknown user id\(s\): 8, 9999"):
        result.recommend([7, 8, 9999])
    path = tmp_path / "m.pt"
    result.save(path)
    loaded = graphdenoise.load(path)
    assert torch.equal(loaded.recommend([7, 57], k=4), raw) and torch.equal(loaded.item_ids, result.item_ids)


def test_raw_to_internal_handles_unsorted_ids_and_identity():
    raw = torch.tensor([30, 10, 20])
    assert raw_to_internal(torch.tensor([10, 30]), raw).tolist() == [1, 0]
    assert raw_to_internal(torch.tensor([2, 0]), None).tolist() == [2, 0]
    with pytest.raises(ValueError, match="unknown item id"):
        raw_to_internal(torch.tensor([11]), raw, "item")

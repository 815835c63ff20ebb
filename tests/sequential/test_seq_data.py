"""The sequential view: chronological order, time split without leakage, padding, negatives."""
import pytest
import torch

from graphdenoise.datasets.graph import INTERACTS, make_heterodata
from graphdenoise.sequential import PAD, SequenceData
from graphdenoise.sequential.data import SPLIT_CODE


def pooled(graph):
    store = graph[INTERACTS]
    ei = torch.cat([store.edge_index, store.val_edge_label_index, store.test_edge_label_index], 1)
    ts = torch.cat([store.timestamp, store.val_timestamp, store.test_timestamp])
    return ei, ts


def test_pools_all_splits_sorted_by_user_and_time(toy_graph):
    view = SequenceData(toy_graph, max_len=5)
    ei, _ = pooled(toy_graph)
    assert view.user.numel() == ei.size(1)
    key = view.user * 10**9 + view.timestamp
    assert bool((key[1:] >= key[:-1]).all())
    assert sorted(zip(view.user.tolist(), view.item.tolist())) == sorted(zip(*ei.tolist()))


@pytest.mark.parametrize("split", ["leave-last-out", "ratio"])
def test_histories_are_the_previous_items_in_order(toy_graph, split):
    view = SequenceData(toy_graph, max_len=4, split=split)
    position = torch.arange(view.user.numel())
    hist = view.history(position)
    for p in range(0, view.user.numel(), 7):  # reference: a plain loop over a few positions
        start = int(view.user_ptr[view.user[p]])
        expected = (view.item[max(start, p - 4):p] + 1).tolist()
        expected = [PAD] * (4 - len(expected)) + expected
        assert hist[p].tolist() == expected


@pytest.mark.parametrize("split", ["leave-last-out", "ratio"])
def test_time_split_has_no_future_leakage(toy_graph, split):
    view = SequenceData(toy_graph, max_len=6, split=split)
    ts = view.timestamp
    for u in range(view.num_users):
        lo, hi = int(view.user_ptr[u]), int(view.user_ptr[u + 1])
        codes = view.split_code[lo:hi]
        t = ts[lo:hi]
        tr, va, te = (t[codes == SPLIT_CODE[s]] for s in ("train", "val", "test"))
        if tr.numel() and va.numel():
            assert tr.max() <= va.min()
        if va.numel() and te.numel():
            assert va.max() <= te.min()
        # split codes never go back in time: non-decreasing along the sorted sequence
        real = codes[codes >= 0]
        assert bool((real[1:] >= real[:-1]).all())
    for split_name in ("train", "val", "test"):
        p = view.targets(split_name)
        hist = view.history(p)
        # every history item is an earlier interaction of the same user, never the target or later
        idx = p.unsqueeze(1) + torch.arange(-6, 0)
        valid = hist != PAD
        assert bool((ts[idx.clamp(min=0)][valid] <= ts[p].unsqueeze(1).expand_as(idx)[valid]).all())
        assert bool((view.user[idx.clamp(min=0)][valid] == view.user[p].unsqueeze(1).expand_as(idx)[valid]).all())


def test_leave_last_out_and_ratio_counts(toy_graph):
    loo = SequenceData(toy_graph, split="leave-last-out")
    assert loo.num_targets("test") == loo.num_targets("val") == toy_graph["user"].num_nodes
    last = loo.user_ptr[1:] - 1
    assert bool((loo.split_code[last] == SPLIT_CODE["test"]).all())
    ratio = SequenceData(toy_graph, split="ratio", ratios=(0.6, 0.2, 0.2))
    # 14 interactions per user: round(2.8) = 3 test, 3 val, first one not a target, 7 train
    assert ratio.num_targets("test") == 40 * 3 and ratio.num_targets("val") == 40 * 3
    assert ratio.num_targets("train") == 40 * 7


def test_padding_and_first_interaction(toy_graph):
    view = SequenceData(toy_graph, max_len=20)
    first = view.user_ptr[:-1]
    assert bool((view.split_code[first] == -1).all())       # no history: never a target
    hist = view.history(first + 1)                           # second interaction: one history item
    assert bool((hist[:, :-1] == PAD).all()) and bool((hist[:, -1] == view.item[first] + 1).all())
    assert int(view.history(view.targets("train")).max()) <= view.num_items


def test_negatives_are_never_interacted(toy_graph):
    view = SequenceData(toy_graph, num_negatives=3, eval_negatives=10)
    gen = torch.Generator().manual_seed(0)
    s = view.training_samples(gen)
    assert len(s) == 4 * view.num_targets("train")
    neg = s.label == 0
    assert not bool(view.index.contains(s.user[neg], s.target[neg]).any())
    assert bool(view.index.contains(s.user[~neg], s.target[~neg]).all())
    pos, cand = view.eval_candidates("test")
    assert cand.shape == (pos.numel(), 11)
    assert bool((cand[:, 0] == view.item[pos]).all())
    users = view.user[pos].unsqueeze(1).expand(-1, 10)
    assert not bool(view.index.contains(users.reshape(-1), cand[:, 1:].reshape(-1)).any())
    # the evaluation negatives are fixed by the seed
    again = SequenceData(toy_graph, num_negatives=3, eval_negatives=10)
    assert torch.equal(again.eval_candidates("test")[1], cand)


def test_needs_timestamps_and_valid_options(toy_graph):
    data = make_heterodata(3, 4, {"train": torch.tensor([[0, 1, 2], [0, 1, 2]])})
    with pytest.raises(ValueError, match="timestamp"):
        SequenceData(data)
    with pytest.raises(ValueError, match="unknown option"):
        SequenceData(toy_graph, max_length=3)
    with pytest.raises(ValueError, match="split"):
        SequenceData(toy_graph, split="random")
    assert "SequenceData(40 users, 60 items" in repr(SequenceData(toy_graph))

"""The sequence encoders: shapes, candidate scoring, reset, repr, options."""
import pytest
import torch

from graphdenoise.sequential import DIN, PAD, SASRec, SEQUENCE_MODELS, WideDeep


def batch(num_users=7, num_items=30, b=5, n=6, c=4):
    gen = torch.Generator().manual_seed(0)
    user = torch.randint(0, num_users, (b,), generator=gen)
    hist = torch.randint(1, num_items + 1, (b, n), generator=gen)
    hist[0, :4] = PAD
    hist[1, :-1] = PAD
    cand = torch.randint(0, num_items, (b, c), generator=gen)
    return user, hist, cand


@pytest.mark.parametrize("name", ["widedeep", "din", "sasrec"])
def test_scores_single_targets_and_candidates_alike(name):
    torch.manual_seed(0)
    model = SEQUENCE_MODELS.get(name)(7, 30, 6).eval()
    user, hist, cand = batch()
    many = model(user, hist, cand)
    assert many.shape == cand.shape
    one = torch.stack([model(user, hist, cand[:, j]) for j in range(cand.size(1))], 1)
    assert torch.allclose(many, one, atol=1e-5)
    assert torch.isfinite(many).all()
    if name != "sasrec":  # pooling models: padding is ignored, so permuting the slots changes nothing
        perm = torch.randperm(hist.size(1), generator=torch.Generator().manual_seed(1))
        assert torch.allclose(model(user, hist[:, perm], cand), many, atol=1e-5)
    else:  # SASRec: the sequence representation does not depend on what a padded slot holds
        model.item_emb.weight.data[PAD] = 5.0
        assert torch.allclose(model(user, hist, cand), many, atol=1e-5)


@pytest.mark.parametrize("cls", [WideDeep, DIN, SASRec])
def test_reset_repr_and_options(cls):
    model = cls(7, 30, 6, embedding_dim=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for p in model.parameters():
        p.data.add_(1.0)
    model.reset_parameters()
    assert float(model.state_dict()[next(k for k in before if "item_emb" in k)][PAD].abs().sum()) == 0
    assert repr(model).startswith(f"{cls.__name__}(7 users, 30 items, max_len=6, embedding_dim=8")
    with pytest.raises(ValueError, match="unknown option"):
        cls(7, 30, 6, hidden=3)


def test_paper_sizes():
    assert WideDeep(3, 5, 4).config.hidden_units == (256, 128)          # ATJT paper, Sec. 4.1.3
    sas = SASRec(3, 5, 4).config
    assert (sas.embedding_dim, sas.num_blocks, sas.num_heads, sas.dropout) == (50, 2, 1, 0.2)  # SASRec defaults
    din = DIN(3, 5, 4).config
    assert din.attention_units == (80, 40) and din.hidden_units == (200, 80)           # DIN paper

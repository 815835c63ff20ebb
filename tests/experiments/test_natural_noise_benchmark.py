"""The natural-noise benchmark: what each selection rule picks from one run's trace, and the experiment
end to end on the published MovieLens-100K natural-noise split."""
from __future__ import annotations

import csv
import math
from dataclasses import replace

import pytest

from graphdenoise.experiments import BUDGETS, make_spec, run
from graphdenoise.experiments.analysis import rule_selections
from graphdenoise.experiments.experiments import CDAE_USERS_PER_BATCH


def record(epoch, val, noisy, loss, revised, test):
    return {"epoch": epoch, "loss": 0.5, "val/recall@20": val, "trace/val_noisy/recall@20": noisy,
            "trace/val_loss": loss, "trace/val_loss_revised": revised, "trace/test/recall@20": test,
            "trace/test/ndcg@20": test / 2}


def test_rule_selections_pick_the_first_best_evaluation_of_each_rule():
    history = [record(2, 0.10, 0.30, 0.70, 0.50, 0.11), {"epoch": 3, "loss": 0.4},  # not evaluated
               record(4, 0.12, 0.35, 0.60, 0.52, 0.13), record(6, 0.12, 0.31, 0.65, 0.40, 0.14),
               record(8, 0.11, 0.35, 0.55, 0.45, 0.12)]
    picks = rule_selections(history)
    assert {rule: p["epoch"] for rule, p in picks.items()} == {
        "val": 4, "val_noisy": 4, "val_loss": 8, "val_loss_revised": 6}   # ties keep the first best
    assert picks["val_loss_revised"]["recall@20"] == 0.14 and picks["val_loss"]["ndcg@20"] == 0.06
    assert rule_selections([{"epoch": 1, "loss": 0.3}]) == {}


@pytest.mark.dataset
def test_natural_noise_experiment_on_movielens(tmp_path, shared_data_dir):
    budget = replace(BUDGETS["natural"], epochs=2, eval_every=1, seeds=(0,), lrs=(5e-3,), l2s=(0.0,))
    spec = make_spec("natural-noise", budget, datasets=["ml-100k-natural"], backbones=["gmf"], methods=["tce"])
    assert [g.label for g in spec.groups()] == ["bpr", "tce", "erm-bce"]
    result, report, paths = run(spec, tmp_path, data_dir=str(shared_data_dir), root=str(tmp_path / "data"), log=None)
    assert result.failed == 0 and [p.name for p in paths] == ["natural-noise.png"]
    with open(tmp_path / "natural-noise-summary.csv", newline="") as handle:
        rows = {r["method"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"bpr", "tce", "erm-bce"}
    with open(tmp_path / "natural-noise.csv", newline="") as handle:
        tested = [float(r["test_recall@20"]) for r in csv.DictReader(handle)]
    for method, row in rows.items():
        # the trace's "val" pick is the state the trainer restored and tested
        assert min(abs(float(row["test_recall@20"]) - t) for t in tested) < 1e-9
        assert 0 < float(row["test_recall@5"]) <= float(row["test_recall@50"]) <= 1
        assert all(not math.isnan(float(row[f"{rule}_recall@20"])) for rule in
                   ("val", "val_noisy", "val_loss", "val_loss_revised"))
    assert float(rows["bpr"]["weight_auc"]) == pytest.approx(0.5) and float(rows["bpr"]["gap_recall@20"]) == 0.0
    assert 0 <= float(rows["tce"]["weight_auc"]) <= 1 and float(rows["tce"]["time_ratio"]) > 0
    assert "What each model-selection rule picks" in report.read_text()


def test_cdae_block_runs_the_studys_cdae_methods_on_user_batches_beside_pointwise_erm():
    budget = replace(BUDGETS["natural"], seeds=(0,), lrs=(5e-3,), l2s=(0.0,))
    spec = make_spec("natural-noise", budget, datasets=["ml-100k-natural"], backbones=["gmf", "cdae"],
                     methods=["tce", "deca", "til-ui"])
    groups = {(g.backbone, g.label): g for g in spec.groups()}
    # GMF: BPR is the control and the groups (so their stored cells) are as before
    assert [label for backbone, label in groups if backbone == "gmf"] == ["bpr", "tce", "deca", "til-ui", "erm-bce"]
    assert groups["gmf", "bpr"].control and not groups["gmf", "tce"].control
    assert dict(groups["gmf", "tce"].options) == {"num_gradual": 400}
    assert groups["gmf", "tce"].cell(budget, 0, 5e-3, 0.0).batch_size == 2048
    # CDAE: the study's CDAE methods only (no BPR, no TIL), pointwise ERM first as the tuned control
    assert [label for backbone, label in groups if backbone == "cdae"] == ["erm-bce", "tce", "deca"]
    assert groups["cdae", "erm-bce"].control and groups["cdae", "erm-bce"].tuned
    assert dict(groups["cdae", "erm-bce"].options) == {"drop_rate": 0.0, "batches": "auto",
                                                       "batch_size": CDAE_USERS_PER_BATCH}
    cell = groups["cdae", "tce"].cell(budget, 0, 5e-3, 0.0)
    assert cell.batch_size == 64 and dict(cell.options) == {"num_gradual": 400, "batches": "auto"}
    assert groups["cdae", "deca"].cell(budget, 0, 5e-3, 0.0).batch_size == 64
    # the batch is per dataset: the study's 1024 users on ModCloth, 64 on any other dataset
    on = {name: {(g.backbone, g.label): g for g in make_spec("natural-noise", budget, datasets=[name],
                                                              backbones=["cdae"], methods=["udt"]).groups()}
          for name in ("modcloth", "ml-100k")}
    assert on["modcloth"]["cdae", "udt"].cell(budget, 0, 5e-3, 0.0).batch_size == 1024
    assert on["ml-100k"]["cdae", "erm-bce"].cell(budget, 0, 5e-3, 0.0).batch_size == 64
    gmf = make_spec("natural-noise", budget, datasets=["modcloth"], backbones=["gmf"], methods=["tce"]).groups()
    assert {g.cell(budget, 0, 5e-3, 0.0).batch_size for g in gmf} == {budget.batch_size}


def test_backbone_methods_must_name_a_known_control():
    budget = replace(BUDGETS["natural"], seeds=(0,))
    spec = make_spec("natural-noise", budget, datasets=["ml-100k-natural"], backbones=["cdae"], methods=["tce"])
    with pytest.raises(ValueError, match="its control 'nope' is not among"):
        replace(spec, backbone_methods=(("cdae", ("nope", "tce")),))


@pytest.mark.dataset
def test_cdae_block_end_to_end_gaps_are_against_pointwise_erm(tmp_path, shared_data_dir):
    budget = replace(BUDGETS["natural"], epochs=2, eval_every=1, seeds=(0,), lrs=(5e-3,), l2s=(0.0,))
    spec = make_spec("natural-noise", budget, datasets=["ml-100k-natural"], backbones=["cdae"], methods=["udt"])
    result, report, _ = run(spec, tmp_path, data_dir=str(shared_data_dir), root=str(tmp_path / "data"), log=None)
    assert result.failed == 0
    with open(tmp_path / "natural-noise-summary.csv", newline="") as handle:
        rows = {r["method"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"erm-bce", "udt"}
    assert float(rows["erm-bce"]["gap_recall@20"]) == 0.0 and float(rows["erm-bce"]["time_ratio"]) == 1.0
    assert not math.isnan(float(rows["udt"]["gap_recall@20"]))
    assert {entry.cell.batch_size for entry in result.entries} == {64}
    with open(tmp_path / "natural-noise.csv", newline="") as handle:
        assert {r["batch_size"] for r in csv.DictReader(handle)} == {"64"}

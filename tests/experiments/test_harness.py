"""The reproduction harness end to end on tiny synthetic data: cells, CSV, report, figures, resume."""
from __future__ import annotations

import csv
import math
from dataclasses import replace

import pytest

from graphdenoise.cli import main as cli_main
from graphdenoise.experiments import (BUDGETS, Budget, Cell, DatasetSpec, NoiseSpec, PAPER_TABLE1, get_budget,
                                      make_spec, read_csv, run, run_experiment, select_on_validation)
from graphdenoise.experiments import figures
from graphdenoise.experiments.report import mark_best

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL_SYNTHETIC = {"num_users": 120, "num_items": 80, "num_clusters": 4, "mean_positives": 12}
SYNTH = DatasetSpec("synthetic", SMALL_SYNTHETIC)
TINY = replace(BUDGETS["tiny"], epochs=1)


def assert_png(path):
    import matplotlib.image
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000
    assert len(data) < 200_000
    image = matplotlib.image.imread(str(path))
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def table1_cli(out):
    return cli_main(["experiment", "table1", "--datasets", "synthetic", "--backbones", "mf,lightgcn",
                     "--methods", "til-ui", "--budget", "tiny", "--epochs", "1", "--out", str(out), "--quiet"]
                    + [f"--dataset-option={k}={v}" for k, v in SMALL_SYNTHETIC.items()])


def test_table1_2x2x2_end_to_end_then_resume(tmp_path, capsys):
    out = tmp_path / "results"
    assert table1_cli(out) == 0
    assert "table1: report" in capsys.readouterr().out.splitlines()[-1]

    rows = read_rows(out / "table1.csv")
    assert len(rows) == 8 and {r["status"] for r in rows} == {"ok"}
    assert {(r["backbone"], r["method"], r["seed"]) for r in rows} == {
        (b, m, s) for b in ("mf", "lightgcn") for m in ("bpr", "til-ui") for s in ("0", "1")}
    for row in rows:
        assert 0 <= float(row["test_recall@20"]) <= 1 and 0 <= float(row["val_ndcg@20"]) <= 1
        assert int(row["epochs_run"]) >= 1 and 1 <= int(row["best_epoch"]) <= int(row["epochs_run"])
        assert float(row["sec_per_epoch"]) > 0 and float(row["peak_mem_mb"]) > 0 and len(row["config_hash"]) == 16
    assert len(read_csv(out / "cells.csv")) == 8
    assert not list(out.glob("**/*.tmp"))  # atomic writes leave no temporaries

    text = (out / "table1.md").read_text()
    assert "±" in text and "**" in text and "<u>" in text and "Δ R@20 vs BPR" in text
    assert "budget `tiny`: at most 1 epochs" in text and "graphdenoise experiment table1" in text and "No cell failed." in text

    # Fig. 6 through the Python API reuses the 8 finished cells (same config hashes) and draws a real PNG
    spec = make_spec("time", TINY, datasets=[SYNTH], backbones=["mf", "lightgcn"], methods=["til-ui"])
    time_run, _, paths = run(spec, out, root=str(tmp_path / "data"), log=None)
    assert (time_run.ran, time_run.skipped) == (0, 8)
    assert [p.name for p in paths] == ["time.png"]
    assert_png(paths[0])

    # a second invocation skips every finished cell
    assert table1_cli(out) == 0
    assert "0 run, 8 reused, 0 failed" in capsys.readouterr().out
    assert "this invocation ran 0, reused 8" in (out / "table1.md").read_text()


def test_report_only_runs_nothing_and_lists_the_cells_not_run(tmp_path, capsys):
    out = tmp_path / "results"
    assert table1_cli(out) == 0
    rows_before = sorted(p.name for p in (out / "rows").iterdir())
    capsys.readouterr()
    # BOD was never run here: reported as not run (the tiny budget's BOD reuses BPR's finished grid choice)
    assert cli_main(["experiment", "table1", "--datasets", "synthetic", "--backbones", "mf,lightgcn", "--methods",
                     "til-ui,bod", "--budget", "tiny", "--epochs", "1", "--out", str(out), "--quiet", "--report-only"]
                    + [f"--dataset-option={k}={v}" for k, v in SMALL_SYNTHETIC.items()]) == 0
    assert "0 run, 8 reused, 0 failed, 4 not run yet" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "rows").iterdir()) == rows_before and not list((out / "claims").iterdir())
    text = (out / "table1.md").read_text()
    assert "12 distinct cells (8 ok, 4 not run yet" in text and "4 cell(s) not run yet" in text
    assert "| mf | clean | bod | tuned control | 2 | final seed 0 lr 0.01; final seed 1 lr 0.01 |" in text
    assert {r["status"] for r in read_rows(out / "table1.csv") if r["method"] == "bod"} == {"not run"}

    # a block whose control has not finished its grid has no lr / L2 and no reported seeds yet
    spec = make_spec("table1", TINY, datasets=[DatasetSpec("synthetic", {**SMALL_SYNTHETIC, "num_users": 100})],
                     backbones=["mf"], methods=["til-ui"])
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_experiment(spec, empty, log=None, report_only=True)
    assert result.ran == 0 and result.selections and all(v is None for v in result.selections.values())
    assert {e.role for e in result.missing()} == {"grid"} and not list(empty.glob("rows/*"))
    assert set(result.selection_source.values()) == {"grid not finished", "control's grid not finished"}
    with pytest.raises(ValueError, match="does not exist"):
        run_experiment(spec, tmp_path / "nowhere", log=None, report_only=True)
    with pytest.raises(ValueError, match="grid budget"):
        run_experiment(replace(spec, budget=replace(TINY, trials=2)), empty, log=None, report_only=True)


def test_failed_cell_is_recorded_and_the_rest_go_on(tmp_path):
    budget = replace(TINY, seeds=(0,))
    spec = make_spec("table1", budget, datasets=[SYNTH], backbones=["mf"], methods=["no-such-method"])
    result, report, _ = run(spec, tmp_path, root=str(tmp_path / "data"), log=None)
    assert (result.ran, result.failed) == (1, 1)
    rows = {r["method"]: r for r in read_rows(tmp_path / "table1.csv")}
    assert rows["bpr"]["status"] == "ok"
    assert rows["no-such-method"]["status"] == "failed"
    assert "not registered" in rows["no-such-method"]["error"] and "til-ui" in rows["no-such-method"]["error"]
    assert (tmp_path / "tracebacks" / f"{rows['no-such-method']['config_hash']}.txt").read_text().strip()
    assert "1 cell(s) failed" in report.read_text()
    # failed cells are retried by the next invocation, finished ones are not
    again, _, _ = run(spec, tmp_path, root=str(tmp_path / "data"), log=None)
    assert (again.ran, again.skipped, again.failed) == (0, 1, 1)


@pytest.mark.parametrize("name,methods,expected", [
    ("robustness", ["bpr"], "robustness.png"),
    ("clusters", ["til-mi"], "clusters.png"),
    ("ablation", ["til-ui", "til-mik"], "ablation.png"),
    ("noise-roc", ["til-ui", "rce"], "noise-roc.png"),
])
def test_figure_experiments(tmp_path, name, methods, expected):
    budget = replace(TINY, seeds=(0,), cluster_counts=(1, 3))
    spec = make_spec(name, budget, datasets=[SYNTH], backbones=["mf"], methods=methods)
    result, report, paths = run(spec, tmp_path, root=str(tmp_path / "data"), log=None)
    assert result.failed == 0
    assert [p.name for p in paths] == [expected]
    assert_png(paths[0])
    assert f"figures/{expected}" in report.read_text()


def test_case_study_figure_from_numbers(tmp_path):
    grid = {"ratings": [1, 2, 3, 4, 5], "mean_weight_x100": [[50 + i + j for j in range(5)] for i in range(5)]}
    path = figures.rating_heatmaps({"til-ui": {**grid, "subtitle": "x"}, "til-mi": grid}, tmp_path / "c.png", "t")
    assert_png(path)
    path = figures.roc_curves({"p": [{"method": "til-ui", "fpr": [0, 0.5, 1], "tpr": [0, 0.7, 1], "auc": 0.6,
                                      "auc_std": math.nan}]}, tmp_path / "r.png", "t")
    assert_png(path)


@pytest.mark.dataset
@pytest.mark.slow
def test_case_study_on_movielens(tmp_path, shared_data_dir):
    budget = replace(TINY, seeds=(0,))
    spec = make_spec("case-study", budget, methods=["til-ui"])
    assert spec.datasets[0].options == (("rating_threshold", 1),)
    result, report, paths = run(spec, tmp_path, data_dir=str(shared_data_dir), root=str(tmp_path / "data"), log=None)
    assert result.failed == 0 and [p.name for p in paths] == ["case-study.png"]
    assert_png(paths[0])
    assert "weight (i 4-5, j 1-3)" in report.read_text()


def test_config_hash_keys_everything_that_changes_a_result():
    cell = Cell(SYNTH, "mf", "bpr", 0, 1e-3, 1e-4, 10, 2, 2, 512)
    assert cell.config_hash() == Cell(DatasetSpec("Synthetic", dict(reversed(list(SMALL_SYNTHETIC.items())))),
                                      "MF", "BPR", 0, 0.001, 0.0001, 10, 2, 2, 512).config_hash()
    changed = [replace(cell, seed=1), replace(cell, lr=1e-2), replace(cell, epochs=11),
               replace(cell, noise=NoiseSpec("pos", 0.5)), replace(cell, options=(("num_clusters", 3),)),
               replace(cell, dataset=DatasetSpec("synthetic")), replace(cell, split_seed=1)]
    assert len({c.config_hash() for c in changed} | {cell.config_hash()}) == len(changed) + 1


def test_budgets_and_selection_rules():
    assert get_budget("small").lrs == (1e-3, 1e-2) and get_budget("small").l2s == (1e-4,)
    paper = get_budget("paper")
    assert paper.epochs == 3000 and paper.patience * paper.eval_every == 100 and paper.tune_all
    assert len(paper.grid_for("bpr", True)) == 15 and len(paper.grid_for("til-mi", True)) == 15 * 20
    with pytest.raises(ValueError):
        Budget("bad", epochs=0, eval_every=1, patience=1, seeds=(0,), lrs=(1e-3,), l2s=(1e-4,))
    with pytest.raises(ValueError):
        get_budget("huge")
    with pytest.raises(ValueError):
        make_spec("table2")
    # the grid point with the best MEAN validation score wins; NaN (failed) runs are ignored
    assert select_on_validation({"a": [0.2, 0.4], "b": [0.35, 0.3], "c": [float("nan")]}) == "b"
    assert select_on_validation({"a": [float("nan")]}) is None
    assert make_spec("table1", "tiny", methods=["til-mi", "bpr"]).methods == ("bpr", "til-mi")


def test_report_marks_and_paper_table():
    marked = mark_best({"a": 1.0, "b": 3.0, "c": 2.0}, {"a": "1", "b": "3", "c": "2"})
    assert marked == {"a": "1", "b": "**3**", "c": "<u>2</u>"}
    assert PAPER_TABLE1["gowalla"]["lightgcn"]["recall@20"]["til-mi"] == 18.61
    assert PAPER_TABLE1["lastfm"]["mf"]["ndcg@20"]["bpr"] == 10.47
    assert PAPER_TABLE1["amazon-cd"]["mgccf"]["recall@20"]["pris"] == 14.24


def test_table1_report_puts_the_papers_numbers_beside_gowalla(tmp_path):
    from graphdenoise.experiments.experiments import report_table1
    from graphdenoise.experiments.runner import Entry, ExperimentRun
    from graphdenoise.experiments.store import ResultStore, base_row
    spec = make_spec("table1", TINY, datasets=["gowalla"], backbones=["mf"], methods=["til-ui", "til-mi"])
    store = ResultStore(tmp_path)
    result = ExperimentRun(spec, store)
    for group, recall in zip(spec.groups(), (0.10, 0.12, 0.11)):
        result.selections[group] = (1e-2, 1e-4, ())
        for seed in spec.budget.seeds:
            cell = group.cell(spec.budget, seed, 1e-2, 1e-4)
            row = base_row(cell)
            row.update({"status": "ok", "test_recall@20": recall + seed * 0.01, "test_ndcg@20": recall / 2})
            store.record(row)
            result.entries.append(Entry(group, "final", cell))
    text, paths = report_table1(result, tmp_path)
    assert paths == []
    assert "| MF | R@20 | 10.50 ± 0.71 | **12.50 ± 0.71** | <u>11.50 ± 0.71</u> |" in text
    assert "| | R@20 (paper) | 12.19 | <u>15.80</u> | **16.42** |" in text.replace("|  |", "| |")
    assert "| | Δ R@20 vs BPR | ref | +19.0% | +9.5% |" in text.replace("|  |", "| |")
    assert "| | Δ R@20 vs BPR (paper) | ref | +29.6% | +34.7% |" in text.replace("|  |", "| |")


def test_cell_callbacks_reach_the_trainer_and_their_entries_are_stored(tmp_path):
    from graphdenoise.experiments import ExperimentSpec, run_experiment
    seen = []

    class Probe:  # what an optimistic-protocol probe does: attach to the model, add to evaluated records
        def attach(self, modules, config):
            self.model = modules["model"]

        def __call__(self, epoch, record):
            if "val/recall@20" in record:
                record["probe/norm"] = float(self.model.embedding_tables()[0].norm())

    def factory(cell, data):
        seen.append((cell.method, cell.seed, data["user"].num_nodes))
        return [Probe()]

    budget = replace(TINY, epochs=2, eval_every=1, seeds=(0,))
    spec = ExperimentSpec("probe", (SYNTH,), ("mf",), (), budget)
    result = run_experiment(spec, tmp_path, log=None, cell_callbacks=factory)
    assert seen == [("bpr", 0, SMALL_SYNTHETIC["num_users"])]
    history = result.store.details(result.final_cells(result.groups()[0])[0])["history"]
    assert len(history) == 2 and all(h["probe/norm"] > 0 for h in history)
    seen.clear()
    run_experiment(spec, tmp_path, log=None, cell_callbacks=factory)  # reused cells run nothing
    assert seen == []


def test_a_cell_stopped_mid_run_resumes_from_its_checkpoint_exactly(tmp_path):
    import signal

    from graphdenoise.experiments import ExperimentSpec, run_experiment
    from graphdenoise.train.interrupt import TrainingInterrupted

    class Probe:  # adds to each evaluated record: the checkpoint must keep what callbacks add
        def attach(self, modules, config):
            self.model = modules["model"]

        def __call__(self, epoch, record):
            record["probe/norm"] = float(self.model.embedding_tables()[0].norm())

    class Stop:  # a SIGTERM in the middle of epoch 3
        def __call__(self, epoch, record):
            if epoch == 2:
                raise TrainingInterrupted(signal.SIGTERM)

    budget = replace(TINY, epochs=4, eval_every=1, patience=10, seeds=(0,), lrs=(1e-2,), l2s=(1e-4,))
    spec = ExperimentSpec("stop", (SYNTH,), ("mf",), (), budget)
    stopped = tmp_path / "stopped"
    with pytest.raises(TrainingInterrupted):
        run_experiment(spec, stopped, log=None, cell_callbacks=lambda cell, data: [Probe(), Stop()])
    (checkpoint,) = (stopped / "checkpoints").iterdir()
    assert (checkpoint / "last.pt").exists() and not (stopped / "rows").exists()

    lines = []
    resumed = run_experiment(spec, stopped, log=lines.append, cell_callbacks=lambda cell, data: [Probe()])
    assert any(f"resuming from {checkpoint}" in line for line in lines)
    assert not checkpoint.exists()  # removed once the row is recorded
    fresh = run_experiment(spec, tmp_path / "fresh", log=None, cell_callbacks=lambda cell, data: [Probe()])
    histories = [run.store.details(run.final_cells(run.groups()[0])[0])["history"] for run in (resumed, fresh)]
    keys = ("epoch", "loss", "val/recall@20", "probe/norm")
    assert [[h[k] for k in keys] for h in histories[0]] == [[h[k] for k in keys] for h in histories[1]]
    assert len(histories[0]) == 4

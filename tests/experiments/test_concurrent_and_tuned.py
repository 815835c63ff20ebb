"""Two runners on one output folder lose and repeat no cell; the tuned control by Optuna trials."""
from __future__ import annotations

import json
import multiprocessing
import os
from dataclasses import replace

import pytest

from graphdenoise.experiments import BUDGETS, DatasetSpec, ExperimentSpec, read_csv, run_experiment
from graphdenoise.experiments.runner import _grid
from graphdenoise.experiments.store import ResultStore

SMALL = {"num_users": 100, "num_items": 60, "num_clusters": 3, "mean_positives": 10}
SYNTH = DatasetSpec("synthetic", SMALL)


def _spec(**budget):
    tiny = replace(BUDGETS["tiny"], epochs=1, seeds=(0, 1, 2), lrs=(1e-2, 1e-3), **budget)
    return ExperimentSpec("table1", (SYNTH,), ("mf",), ("tce",), tiny)


def _runner(out, root, name):
    log = open(os.path.join(out, f"{name}.log"), "w")
    run_experiment(_spec(), out, root=root, device="cpu", log=lambda line: print(line, file=log, flush=True))
    log.close()


def test_two_runners_on_one_folder_lose_and_repeat_nothing(tmp_path):
    out, root = str(tmp_path / "out"), str(tmp_path / "data")
    os.makedirs(out)
    run_experiment(_spec(), str(tmp_path / "warm"), root=root, log=None)  # builds the data cache once
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")  # fork: no second torch import
    workers = [ctx.Process(target=_runner, args=(out, root, name)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
        assert worker.exitcode == 0
    expected = {row["config_hash"] for row in read_csv(tmp_path / "warm" / "cells.csv")}
    assert len(expected) == 2 + 3 + 3 - 1  # BPR's 2 grid points, its 2 other seeds, T-CE's 3 seeds
    rows = read_csv(tmp_path / "out" / "cells.csv")
    assert {row["config_hash"] for row in rows} == expected and len(rows) == len(expected)
    assert {row["status"] for row in rows} == {"ok"}
    runs = [line for name in ("a", "b") for line in open(tmp_path / "out" / f"{name}.log") if " ok in " in line]
    assert len(runs) == len(expected)  # every cell ran exactly once, in one of the two runners
    assert not list((tmp_path / "out" / "claims").iterdir())


def test_stale_claim_of_a_dead_runner_is_taken_over(tmp_path):
    store = ResultStore(tmp_path)
    cell = _spec().groups()[0].cell(_spec().budget, 0, 1e-2, 1e-4)
    assert store.claim(cell) and not store.claim(cell)  # held by this live process
    store.claim_path(cell.config_hash()).write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": os.uname()[1]}))
    assert store.claim(cell)  # the recorded process is gone
    store.release(cell)
    assert not store.is_claimed(cell)


def test_tuned_control_by_optuna_trials_with_the_same_budget_per_method(tmp_path):
    pytest.importorskip("optuna")
    spec = _spec(trials=2, tune_all=True)
    spec = replace(spec, budget=replace(spec.budget, seeds=(0,)))
    result = run_experiment(spec, tmp_path / "out", root=str(tmp_path / "data"), log=None)
    assert result.failed == 0
    for group in result.groups():
        assert result.selection_source[group] == "2 Optuna trials on validation"
        trials = [e for e in result.entries if e.group == group and "trial" in e.role]
        assert len(trials) == 2
    tce = [g for g in result.groups() if g.method == "tce"][0]
    lr, l2, extra = result.selections[tce]
    assert {"drop_rate", "num_gradual"} == set(dict(extra)) and 1e-4 <= lr <= 1e-1
    again = run_experiment(spec, tmp_path / "out", root=str(tmp_path / "data"), log=None)
    assert again.ran == 0 and again.selections == result.selections  # the study and the cells resume


def test_a_runner_held_at_a_barrier_tunes_a_later_group_meanwhile(tmp_path):
    """BPR's grid cell at lr 1e-3 is held by another (live) runner: this runner runs BPR's other grid point,
    then, instead of idling until the holder finishes, T-CE's grid (``tune_all``: T-CE searches its own),
    and reuses those rows when it reaches T-CE; nothing is counted twice."""
    import threading
    import time

    out, root = tmp_path / "out", str(tmp_path / "data")
    spec = _spec(tune_all=True)
    bpr, tce = spec.groups()
    (held,), = [cells for point, cells in _grid(bpr, spec).items() if point[0] == 1e-3]
    tce_grid = {cell.config_hash() for cells in _grid(tce, spec).values() for cell in cells}
    assert len(tce_grid) == 2
    other = ResultStore(out)
    assert other.claim(held)  # this process is alive: the claim is not stale
    lines, result = [], {}
    worker = threading.Thread(target=lambda: result.setdefault("run", run_experiment(
        spec, out, root=root, device="cpu", log=lines.append)))
    worker.start()
    deadline = time.time() + 120
    while not tce_grid <= {row["config_hash"] for row in _rows(out)} and time.time() < deadline:
        time.sleep(0.2)
    assert tce_grid <= {row["config_hash"] for row in _rows(out)}  # T-CE tuned while BPR's cell was held
    assert held.config_hash() not in {row["config_hash"] for row in _rows(out)}
    other.release(held)  # the "other runner" gives up: this one runs the held cell itself
    worker.join(120)
    run = result["run"]
    assert run.failed == 0 and run.skipped == 0 and run.ran == len({row["config_hash"] for row in _rows(out)}) == 8
    started = [line.split(" seed=")[0].split()[-1] for line in lines if line.startswith("[")]
    assert started[:4] == ["bpr", "tce", "tce", "bpr"]  # BPR's free grid point, T-CE's grid, then the held cell


def _rows(out):
    path = out / "rows"
    return [json.loads(p.read_text()) for p in path.glob("*.json")] if path.is_dir() else []

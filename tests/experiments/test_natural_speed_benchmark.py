"""Smoke test of ``benchmarks/natural_speed.py``: every method's epoch beside BPR's, interleaved."""
import argparse

import pytest

from tests.helpers import load_benchmark


@pytest.mark.slow  # about 7 s in a fresh process (the experiment module's imports)
def test_ratios_beside_bpr(capsys):
    load_benchmark("natural_speed").main(["--dataset", "synthetic", "--models", "gmf", "--methods", "dcf", "pld",
                                          "sgdl", "--at-epoch", "1", "--rounds", "1", "--budget", "3"])
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines() if line.startswith("| gmf")]
    assert [r[1].strip() for r in rows][:3] == ["bpr", "dcf", "pld"]
    assert rows[3][1].strip() in ("sgdl (phase I)", "sgdl (phase II)")  # the phase it was timed in
    assert [int(r[2]) for r in rows] == [2048] * 4  # the experiment's batch
    assert float(rows[0][4]) == 1.0 and all(float(r[3]) > 0 and float(r[4]) > 0 for r in rows)


@pytest.mark.slow
def test_each_method_runs_as_the_experiment_runs_it(capsys):
    bench = load_benchmark("natural_speed")
    args = argparse.Namespace(dataset="ml-100k-natural", budget=30, seed=0, lr=5e-3, batch_size=None)
    cells = bench.experiment_cells("cdae", ["erm-bce", "udt", "deca-p"], args)
    assert {name: cell.batch_size for name, cell in cells.items()} == {"erm-bce": 64, "udt": 64, "deca-p": 64}
    assert cells["erm-bce"].method == "tce" and dict(cells["erm-bce"].options)["drop_rate"] == 0.0
    assert dict(cells["deca-p"].options)["pretrain_epochs"] == 10  # the budget's third of 30 epochs
    with pytest.raises(SystemExit, match="does not run bpr on cdae"):
        bench.experiment_cells("cdae", ["bpr"], args)

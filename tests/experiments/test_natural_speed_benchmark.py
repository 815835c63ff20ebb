"""Smoke test of ``benchmarks/natural_speed.py``: every method's epoch beside BPR's, interleaved."""
import pytest

from tests.helpers import load_benchmark


@pytest.mark.slow  # about 7 s in a fresh process (the experiment module's imports)
def test_ratios_beside_bpr(capsys):
    load_benchmark("natural_speed").main(["--dataset", "synthetic", "--models", "gmf", "--methods", "dcf", "pld",
                                          "--at-epoch", "1", "--rounds", "1", "--budget", "3"])
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines() if line.startswith("| gmf")]
    assert [r[1].strip() for r in rows] == ["bpr", "dcf", "pld"]
    assert float(rows[0][3]) == 1.0 and all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)

"""``flush_denormals``: float denormals become zero (they slow every product they enter on CPU)."""
import torch

from graphdenoise.cli import main as cli_main
from graphdenoise.utils import flush_denormals

SMALL = {"num_users": 120, "num_items": 80, "num_clusters": 4, "mean_positives": 12}


def _flushed() -> bool:
    return float(torch.tensor(1e-39, dtype=torch.float32) * 2) == 0.0


def test_flush_denormals_turns_them_to_zero():
    torch.set_flush_denormal(False)
    try:
        assert not _flushed()  # 1e-39 is a float32 denormal, kept
        flush_denormals()
        assert _flushed()
    finally:
        torch.set_flush_denormal(False)


def test_experiment_cli_flag(tmp_path):
    try:
        assert cli_main(["experiment", "table1", "--datasets", "synthetic", "--backbones", "mf", "--methods", "tce",
                         "--budget", "tiny", "--epochs", "1", "--seeds", "0", "--out", str(tmp_path), "--quiet",
                         "--flush-denormal"] + [f"--dataset-option={k}={v}" for k, v in SMALL.items()]) == 0
        assert _flushed()
    finally:
        torch.set_flush_denormal(False)

"""Resume check shared by the natural-noise method tests (imported by file name)."""
import pytest
import torch

from _baseline_data import make_trainer
from graphdenoise.train import load_checkpoint


class _Interrupt(Exception):
    pass


def assert_resume_exact(make_method, tmp_path, epochs: int = 3, model_cls=None, interrupt: bool = False, **options):
    """Training ``epochs`` straight and training ``epochs - 1``, stopping, and resuming for the last one
    end in identical models, method states (parameters and buffers) and method extra state. With
    ``interrupt`` the first part has the full budget and is stopped after epoch ``epochs - 1`` (a
    method that reads the budget, :attr:`SetupContext.epochs`, sees the same one throughout)."""
    straight = make_trainer(make_method(), model_cls, epochs=epochs, eval_every=1,
                            checkpoint_dir=str(tmp_path / "a"), **options)
    straight.fit()
    first = make_trainer(make_method(), model_cls, epochs=epochs if interrupt else epochs - 1, eval_every=1,
                         checkpoint_dir=str(tmp_path / "b"), **options)
    if interrupt:
        first.callbacks.append(lambda epoch, record: _stop(epoch == epochs - 1))
        with pytest.raises(_Interrupt):
            first.fit()
    else:
        first.fit()
    resumed = make_trainer(make_method(), model_cls, epochs=epochs, eval_every=1,
                           checkpoint_dir=str(tmp_path / "b"), resume=True, **options)
    resumed.fit()
    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    assert a["epoch"] == b["epoch"] == epochs
    for part in ("model", "method"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    _assert_same(a["method_extra"], b["method_extra"])
    _assert_same(a.get("method_optimizers", {}), b.get("method_optimizers", {}), "method_optimizers")
    return a


def _assert_same(x, y, path="method_extra"):
    if isinstance(x, torch.Tensor):
        assert torch.equal(x, y), path
    elif isinstance(x, dict):
        assert x.keys() == y.keys(), path
        for key in x:
            _assert_same(x[key], y[key], f"{path}.{key}")
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), path
        for i, (u, v) in enumerate(zip(x, y)):
            _assert_same(u, v, f"{path}[{i}]")
    else:
        assert x == y, path


def _stop(now: bool) -> None:
    if now:
        raise _Interrupt

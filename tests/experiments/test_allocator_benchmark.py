"""``benchmarks/allocator.py``: one step under glibc's malloc and under tcmalloc, in their own processes."""
import pytest

from tests.helpers import load_benchmark

bench = load_benchmark("allocator")
TCMALLOC = bench.find_tcmalloc()


def test_a_missing_tcmalloc_is_named():
    with pytest.raises(SystemExit, match="no tcmalloc found"):
        bench.main(["--tcmalloc", "/nonexistent/libtcmalloc.so"])


@pytest.mark.slow  # two fresh processes
@pytest.mark.skipif(TCMALLOC is None, reason="tcmalloc is not installed (Debian: libtcmalloc-minimal4)")
def test_both_allocators_give_the_same_losses(capsys):
    bench.main(["--dataset", "synthetic", "--model", "mf", "--method", "bsl", "--steps", "2", "--warmup", "0",
                "--rounds", "1"])
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith(("| glibc", "| tcmalloc"))]
    assert [r[0].strip() for r in rows] == ["glibc", "tcmalloc"] and all(float(r[1]) > 0 for r in rows)
    assert "losses equal across allocators: True" in out

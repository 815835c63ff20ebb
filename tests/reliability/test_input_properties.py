"""Property-based tests of reading user data (issue 12, section 5): every generated malformed input
raises only our errors (ValueError / TypeError / FileNotFoundError whose message starts with the
argument, array or file it blames, and names the line where one line is to blame), and every
generated valid input round-trips to exactly the interactions written.

The generators live in ``input_cases.py`` and are shared with ``fuzz_interactions.py``; here
hypothesis drives their random draws (``st.randoms``), so a failure shrinks to a small input.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from input_cases import (
    malformed_argument_case,
    malformed_array_case,
    malformed_file_case,
    run_case,
    valid_array_case,
    valid_file_case,
)

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
MALFORMED = [malformed_file_case, malformed_file_case, malformed_array_case,
             malformed_argument_case]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("inputs")


@SETTINGS
@given(rng=st.randoms(use_true_random=False), builder=st.sampled_from(MALFORMED))
def test_malformed_input_raises_only_our_errors(folder, rng, builder):
    case = builder(rng, folder) if builder is malformed_file_case else builder(rng)
    outcome, detail = run_case(case)
    assert outcome in ("ValueError", "TypeError", "FileNotFoundError"), f"{case.kind}: {detail}"


@SETTINGS
@given(rng=st.randoms(use_true_random=False), from_file=st.booleans())
def test_valid_input_round_trips_exactly(folder, rng, from_file):
    case = valid_file_case(rng, folder) if from_file else valid_array_case(rng)
    outcome, detail = run_case(case)
    assert outcome == "ok", f"{case.kind}: {detail}"

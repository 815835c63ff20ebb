"""Issue 12, section 5: the malformed inputs the issue lists are refused with our error (naming the
argument, file and line) or read exactly."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch

from graphdenoise.datasets import INTERACTS, from_interactions, read_interaction_file


def write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


@pytest.mark.parametrize("users,message", [
    ([2**64, 2**64 + 1, 10**30, 7], r"input\.users\[0\]: user id 18446744073709551616 is too large"),
    (np.array([5, 2**63], dtype=np.uint64), r"input\.users\[1\]: user id 9223372036854775808 is too large"),
    ([1.0, 1e19], r"input\.users\[1\]: user id 1e\+19 is a float beyond ±2\*\*53"),
    (np.array([1, 2**25], dtype=np.float32), r"users\[1\]: user id 33554432\.0 is a float beyond ±2\*\*24"),
    (np.array([1 + 0j, 2]), r"input\.users: user values must be numbers, got dtype complex128"),
    ([1, 2 + 1j], r"input\.users\[1\]: user id \(2\+1j\) is complex"),
    ([True, False], r"input\.users\[0\]: user id True is a boolean"),
    ([1, True], r"input\.users\[1\]: user id True is a boolean"),
    (np.array([True, False]), r"input\.users: user values must be numbers, got dtype bool"),
    ([b"1", b"2"], r"input\.users\[0\]: user id b'1' is bytes"),
    (np.array([b"1", b"2"]), r"input\.users: user values must be numbers, got dtype \|S1"),
    (torch.tensor([1, 2], dtype=torch.bfloat16), r"input\.users: a torch\.bfloat16 tensor cannot hold"),
    (torch.tensor([1, 2], dtype=torch.float16), r"input\.users: a torch\.float16 tensor cannot hold"),
    ([1, None], r"input\.users\[1\]: user id is NaN \(missing\)"),
])
def test_ids_are_refused_not_wrapped(users, message):
    with pytest.raises(ValueError, match=message):
        from_interactions(users, [1, 2, 3, 4][: len(users)])


def test_largest_ids_are_kept_exactly(tmp_path):
    big = [2**63 - 1, 2**63 - 2, 0]
    for users in (big, np.array(big, dtype=np.uint64), [str(u) for u in big],
                  torch.tensor(big)):
        data = from_interactions(users, [1, 2, 3], ratios=(1, 0, 0))
        assert data["user"].raw_id.tolist() == sorted(big)
    path = write(tmp_path / "big.csv", "".join(f"{u},{i}\n" for u, i in zip(big, [1, 2, 3])))
    assert read_interaction_file(path).users.tolist() == big


def test_half_precision_ratings_are_read():
    data = from_interactions([1, 2], [1, 2], rating=torch.tensor([4.5, 2.0], dtype=torch.bfloat16),
                             ratios=(1, 0, 0))
    assert data[INTERACTS].rating.tolist() == [4.5, 2.0]


@pytest.mark.parametrize("text,message", [
    ("user,item\n1,10,5\n2,11,5",  # a header with fewer fields than the rows
     r"line 2: expected 2 comma-separated columns \(user item\), found 3: '1,10,5'"),
    ('user,item\n1,2\n"3,4\n5,6\n', r"line 3: a quoted field is not closed"),
    ("user,item,item\n1,2,3\n", r"line 1: .*names column 'item' \(item\) more than once"),
    ("user,item,split\n1,2,train\n1,3,tset\n", r"line 3: 'tset' is not a split label"),
])
def test_bad_file_names_file_and_line(tmp_path, text, message):
    with pytest.raises(ValueError, match=r"^bad\.csv " + message):
        from_interactions(write(tmp_path / "bad.csv", text))


@pytest.mark.parametrize("text", [
    '"1","10"\n"2","11"\n"3","12"\n',
    "\ufeff1,10\n2,11\n3,12\n",
    "\ufeff\"1\"\t\"10\"\r\n2\t11\r\n3\t12\r\n",
])
def test_headerless_quoted_or_bom_keeps_first_row(tmp_path, text):
    out = read_interaction_file(write(tmp_path / "a.csv", text))
    assert out.users.tolist() == [1, 2, 3] and out.items.tolist() == [10, 11, 12]


def test_bom_header_is_accepted(tmp_path):
    out = read_interaction_file(write(tmp_path / "b.csv", "\ufeffuser,item\n1,10\n2,11\n"))
    assert out.users.tolist() == [1, 2]
    out = read_interaction_file(write(tmp_path / "c.csv", '\ufeff"user","item"\n1,10\n'))
    assert out.users.tolist() == [1]


@pytest.mark.parametrize("data,line", [
    (b"user,item,title\n1,10,ok\n2,11,caf\xe9\n", 3),
    (b"\xef\xbb\xbfuser,item\n1,10\n\n2\xff,11\n", 4),
    (b"1,2\r\n\xc3\x28,3\r\n", 2),
])
def test_non_utf8_byte_names_file_and_line(tmp_path, data, line):
    path = write(tmp_path / "latin.csv", data)
    with pytest.raises(ValueError, match=rf"latin\.csv line {line}: byte 0x[0-9a-f]{{2}} at column "
                                         r"\d+ is not valid UTF-8"):
        from_interactions(path)


@pytest.mark.parametrize("split", [["train", "train", "tset"],
                                   np.array(["train", "train", "tset"], dtype=object),
                                   pd.Series(["train", "train", "tset"])])
def test_misspelled_split_label_lists_the_valid_ones(split):
    with pytest.raises(ValueError, match=re.escape(
            "split[2] = 'tset' is not a split label; use one of train/val/valid/validation/test")):
        from_interactions([1, 1, 2], [1, 2, 3], split=split)
    frame = pd.DataFrame({"user": [1, 1, 2], "item": [1, 2, 3], "split": split})
    with pytest.raises(ValueError, match=r"input row 2 \(index 2\), column 'split': "
                                         r"'tset' is not a split label"):
        from_interactions(frame)


@pytest.mark.parametrize("options,error,message", [
    ({"min_interactions": -3}, ValueError, "min_interactions must be an integer >= 1, got -3"),
    ({"min_interactions": 2.5}, TypeError, "min_interactions must be an integer"),
    ({"min_interactions": True}, TypeError, "min_interactions must be an integer"),
    ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
    ({"seed": "1"}, TypeError, "seed must be an integer"),
    ({"ratios": ("a", 0, 0)}, ValueError, "ratios must be three numbers"),
    ({"val_fraction": 1.5, "split": ["train"] * 4}, ValueError, r"val_fraction must be a finite number in \[0, 1\)"),
    ({"rating_threshold": "4", "rating": [1, 2, 3, 4]}, TypeError, "rating_threshold must be a number"),
    ({"num_users": 0}, ValueError, "num_users must be an integer >= 1"),
    ({"test_users_must_have_train": "no"}, TypeError, "test_users_must_have_train must be True or False"),
    ({"split": "tset"}, ValueError, "split must be 'ratio', 'given' or per-interaction labels"),
])
def test_bad_arguments_are_named(options, error, message):
    with pytest.raises(error, match=message):
        from_interactions([1, 1, 2, 2], [1, 2, 1, 2], **options)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        from_interactions(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="is a folder"):
        from_interactions(tmp_path)


def test_multi_character_delimiter_and_cr_only_lines(tmp_path):
    out = read_interaction_file(write(tmp_path / "ml.dat", "1::10::5\n2::11::3\n"), delimiter="::")
    assert out.users.tolist() == [1, 2] and out.rating.tolist() == [5.0, 3.0]
    out = read_interaction_file(write(tmp_path / "mac.csv", "user,item\r1,10\r2,11\r"))
    assert out.items.tolist() == [10, 11]


@pytest.mark.parametrize("text,users", [
    ("9007199254740993.0,1\n2,2\n", [9007199254740993, 2]),  # exact: no float in between
    ("9007199254740993e0,1\n2,2\n", [9007199254740993, 2]),
    ("1e17,1\n20e-1,2\n", [10**17, 2]),
])
def test_decimal_text_ids_are_exact(tmp_path, text, users):
    assert read_interaction_file(write(tmp_path / "d.csv", text)).users.tolist() == users


@pytest.mark.parametrize("text", ["1,1\n4503599627370496.5,2\n", "1,1\n0.99999999999999999999,2\n"])
def test_decimal_text_that_is_no_integer_is_refused(tmp_path, text):
    with pytest.raises(ValueError, match=r"d\.csv line 2: user id '.*' is not an integer"):
        read_interaction_file(write(tmp_path / "d.csv", text))

"""from_interactions: input kinds, given splits, duplicates, and clear errors for bad input."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch

from dataset_checks import assert_valid_layout
from graphdenoise.datasets import INTERACTS, describe, from_interactions

USERS = [10, 10, 10, 10, 11, 11, 11, 12, 12, 12, 12, 12]
ITEMS = [1, 2, 3, 4, 1, 5, 6, 2, 3, 4, 5, 6]


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("kind", ["list", "numpy", "tensor", "tuple", "dict", "frame"])
def test_input_kinds_agree(kind):
    if kind == "list":
        data = from_interactions(USERS, ITEMS, seed=1)
    elif kind == "numpy":
        data = from_interactions(np.array(USERS), np.array(ITEMS, dtype=np.float64), seed=1)
    elif kind == "tensor":
        data = from_interactions(torch.tensor(USERS), torch.tensor(ITEMS), seed=1)
    elif kind == "tuple":
        data = from_interactions((USERS, ITEMS), seed=1)
    elif kind == "dict":
        data = from_interactions({"user": USERS, "item": ITEMS}, seed=1)
    else:
        data = from_interactions(pd.DataFrame({"u": USERS, "i": ITEMS}),
                                 columns={"user": "u", "item": "i"}, seed=1)
    assert_valid_layout(data)
    reference = from_interactions(USERS, ITEMS, seed=1)
    assert data[INTERACTS].edge_index.equal(reference[INTERACTS].edge_index)
    assert data["user"].raw_id.tolist() == [10, 11, 12]
    assert data["item"].raw_id.tolist() == [1, 2, 3, 4, 5, 6]


def test_csv_with_header_and_tsv_without(tmp_path):
    csv = write(tmp_path / "a.csv", "user,item,rating,timestamp\n"
                + "".join(f"{u},{i},{4 + (i % 2)},{100 + i}\n" for u, i in zip(USERS, ITEMS)))
    tsv = write(tmp_path / "a.tsv",
                "\n".join(f"{u}\t{i}\t{4 + (i % 2)}\t{100 + i}" for u, i in zip(USERS, ITEMS)))
    spaces = write(tmp_path / "a.txt", "\n\n" + "\n".join(
        f"{u}  {i} {4 + (i % 2)} {100 + i}" for u, i in zip(USERS, ITEMS)) + "\n\n")
    datas = [from_interactions(path, seed=2) for path in (csv, tsv, spaces)]
    for data in datas:
        store = data[INTERACTS]
        assert store.edge_index.equal(datas[0][INTERACTS].edge_index)
        assert store.rating.equal(datas[0][INTERACTS].rating)
        assert store.timestamp.dtype == torch.long
        assert describe(data)["interactions"] == len(USERS)


def test_custom_columns_in_file(tmp_path):
    path = write(tmp_path / "plays.csv", "who;what;plays\n1;2;30\n1;3;4\n2;2;7\n")
    data = from_interactions(path, columns={"user": "who", "item": "what", "weight": "plays"},
                             ratios=(1, 0, 0))
    assert data[INTERACTS].weight.tolist() == [30.0, 4.0, 7.0]
    positional = write(tmp_path / "plays.txt", "1 2 30\n1 3 4\n2 2 7\n")
    data = from_interactions(positional, columns=("user", "item", "weight"), ratios=(1, 0, 0))
    assert data[INTERACTS].weight.tolist() == [30.0, 4.0, 7.0]


def test_header_is_detected_with_positional_columns(tmp_path):
    """user_artists.dat upstream has a header line, the shared copy has none: both must read."""
    body = "2\t51\t13883\r\n2\t52\t11690\r\n3\t51\t5\r\n"
    with_header = write(tmp_path / "with.dat", "userID\tartistID\tweight\r\n" + body)
    without = write(tmp_path / "without.dat", body)
    for path in (with_header, without):
        data = from_interactions(path, columns=("user", "item", "weight"), ratios=(1, 0, 0))
        assert data[INTERACTS].weight.tolist() == [13883.0, 11690.0, 5.0]


def test_given_split_from_column_and_from_test_input(tmp_path):
    frame = pd.DataFrame({"user": USERS, "item": ITEMS,
                          "split": ["train"] * 3 + ["test"] + ["train", "train", "val"]
                          + ["train"] * 4 + ["test"]})
    data = from_interactions(frame)
    assert describe(data)["test"] == 2 and describe(data)["val"] == 1
    test_file = write(tmp_path / "test.csv", "user,item\n10,9\n12,9\n")
    data = from_interactions(USERS, ITEMS, test=test_file)
    store = data[INTERACTS]
    assert store.edge_index.size(1) == len(USERS)
    assert data["item"].raw_id[store.test_edge_label_index[1]].tolist() == [9, 9]
    labels = np.where(np.arange(len(USERS)) % 4 == 3, "test", "train")
    data = from_interactions(USERS, ITEMS, split=labels)
    assert describe(data)["test"] == 3


def test_test_user_without_training_is_an_error(tmp_path):
    test_file = write(tmp_path / "held_out.csv", "user,item\n10,9\n99,1\n")
    with pytest.raises(ValueError, match=r"user 99 .*held_out\.csv line 3"):
        from_interactions(USERS, ITEMS, test=test_file)
    with pytest.raises(ValueError, match="no training interaction"):
        from_interactions([1, 2], [1, 1], split=["train", "val"])
    data = from_interactions([1, 2], [1, 1], split=["train", "val"],
                             test_users_must_have_train=False)
    assert describe(data)["val"] == 1


def test_duplicates_are_collapsed_and_counted():
    with pytest.warns(UserWarning, match="collapsed 3 duplicate"):
        data = from_interactions(
            [1, 1, 1, 2, 2, 3], [5, 5, 5, 6, 6, 7],
            rating=[3, 5, 4, 1, 2, 4], timestamp=[10, 30, 20, 7, 8, 9], weight=[1, 2, 3, 4, 5, 6],
            ratios=(1, 0, 0),
        )
    assert data.num_duplicates_collapsed == 3
    assert describe(data)["duplicates_collapsed"] == 3
    store = data[INTERACTS]
    assert store.rating.tolist() == [5.0, 2.0, 4.0]
    assert store.timestamp.tolist() == [30, 8, 9]
    assert store.weight.tolist() == [6.0, 9.0, 6.0]


def test_duplicate_across_splits_stays_in_train():
    with pytest.warns(UserWarning, match="collapsed 1"):
        data = from_interactions([1, 1, 1], [5, 6, 5], split=["test", "train", "train"])
    assert describe(data)["test"] == 0 and describe(data)["train"] == 2


def test_num_users_keeps_ids():
    data = from_interactions([0, 3], [1, 1], num_users=5, num_items=2, ratios=(1, 0, 0))
    assert data["user"].num_nodes == 5 and data[INTERACTS].edge_index[0].tolist() == [0, 3]
    with pytest.raises(ValueError, match=r"user id 7 is >= num_users=5"):
        from_interactions([0, 7], [1, 1], num_users=5)


FILE_ERRORS = [
    ("1,2\n3,4,5\n", r"bad\.csv line 2: expected 2 comma-separated columns .*found 3"),
    ("1,2,3\n3,4\n", r"bad\.csv line 2: expected 3 comma-separated columns .*found 2"),
    ("1,2\n\n3,x\n", r"bad\.csv line 3: item 'x' is not a number"),
    ("user,item\n1,2\n-3,4\n", r"bad\.csv line 3: user id '-3' is negative"),
    ("1,2\n1.5,4\n", r"bad\.csv line 2: user id '1\.5' is not an integer"),
    ("1,2,4.0\n1,3,nan\n", r"bad\.csv line 2: rating is NaN"),
    ("1,2,4\n1,3,\n", r"bad\.csv line 2: rating is empty"),
    ("1,2,4,1000\n1,3,5,10.5\n", r"bad\.csv line 2: timestamp '10\.5' is not an integer"),
    ("\n\n", r"bad\.csv: empty input"),
    ("user,item\n", r"bad\.csv: empty input"),
    ("user,thing\n1,2\n", r"bad\.csv line 1: the header .* has no column 'item'"),
]


@pytest.mark.parametrize("text,message", FILE_ERRORS)
def test_bad_files(tmp_path, text, message):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(ValueError, match=message):
        from_interactions(path)


@pytest.mark.parametrize("users,items,message", [
    ([1, 2], [1], "different lengths"),
    ([1, -2], [1, 1], re.escape("users[1]: user id -2 is negative")),
    ([1, 2.5], [1, 1], re.escape("users[1]: user id 2.5 is not an integer")),
    ([1, 2], [1, float("nan")], re.escape("items[1]: item id is NaN")),
    ([1, "a"], [1, 1], re.escape("users[1]: 'a' is not a number")),
    ([], [], "empty input"),
])
def test_bad_arrays(users, items, message):
    with pytest.raises(ValueError, match=message):
        from_interactions(users, items)


def test_bad_dataframe_and_options():
    frame = pd.DataFrame({"user": [1, 2, 3], "item": [1, 2, None]}, index=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"row 2 \(index 'c'\), column 'item': item id is NaN"):
        from_interactions(frame)
    with pytest.raises(ValueError, match="no column 'uid'"):
        from_interactions(frame, columns={"user": "uid"})
    with pytest.raises(ValueError, match="rating_threshold"):
        from_interactions([1, 2], [1, 1], rating_threshold=4)
    with pytest.raises(ValueError, match="not a split label"):
        from_interactions([1, 2], [1, 1], split=["train", "dev"])
    with pytest.raises(ValueError, match="either val=/test= or split"):
        from_interactions([1, 2], [1, 1], split="ratio", test=([1], [2]))


def test_rating_threshold_and_k_core():
    data = from_interactions(USERS, ITEMS, rating=[5, 4, 3] * 4, rating_threshold=4,
                             ratios=(1, 0, 0))
    assert describe(data)["interactions"] == 8
    assert data["user"].num_nodes == 3  # users without positives stay nodes
    assert bool((data[INTERACTS].rating >= 4).all())

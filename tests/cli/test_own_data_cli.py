"""Own data from the command line: a CSV in the user's ids -> fit -> save -> recommend in those ids."""
import csv
import subprocess
import sys

import pytest
import torch

import graphdenoise
from graphdenoise.cli import main
from tests.cli._data import FILE_FLAGS, write_ratings

FIT = ["--model", "mf", "--epochs", "2", "--eval-every", "1", "--batch-size", "256", "--quiet"]


@pytest.fixture()
def ratings(tmp_path):
    return write_ratings(tmp_path / "ratings.csv")


def _raw_ids(path):
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    return ({int(r["userId"]) for r in rows if int(r["stars"]) >= 2},
            {int(r["movieId"]) for r in rows if int(r["stars"]) >= 2},
            {(int(r["userId"]), int(r["movieId"])) for r in rows if int(r["stars"]) >= 2})


def test_csv_fit_save_recommend_in_raw_ids(ratings, tmp_path, capsys):
    model = tmp_path / "model.pt"
    assert main(["fit", "--dataset", str(ratings), *FILE_FLAGS, *FIT, "--save", str(model)]) == 0
    users, items, pairs = _raw_ids(ratings)
    picked = sorted(users)[:3]
    out = tmp_path / "recs.csv"
    users_file = tmp_path / "users.txt"
    users_file.write_text("\n".join(map(str, picked[1:])) + "\n")
    done = subprocess.run([sys.executable, "-m", "graphdenoise", "recommend", "--model", str(model),
                           "--users", str(picked[0]), "--users-file", str(users_file), "-k", "5", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["user"]) for r in rows] == [u for u in picked for _ in range(5)]
    assert [int(r["rank"]) for r in rows[:5]] == [1, 2, 3, 4, 5]
    recommended = [(int(r["user"]), int(r["item"])) for r in rows]
    assert all(item in items for _, item in recommended)  # raw item ids of the file, not 0..n-1
    result = graphdenoise.load(model)
    train = set(zip(result.user_ids[result.model.train_index.users].tolist(),
                    result.item_ids[result.model.train_index.items].tolist()))
    assert not set(recommended) & train and train <= pairs  # training items left out, in raw ids


def test_recommend_names_unknown_users(ratings, tmp_path, capsys):
    model = tmp_path / "model.pt"
    assert main(["fit", "--dataset", str(ratings), *FILE_FLAGS, *FIT, "--save", str(model)]) == 0
    capsys.readouterr()
    assert main(["recommend", "--model", str(model), "--users", "1000,3,4", "-k", "2"]) == 2
    err = capsys.readouterr().err
    assert "unknown user id(s): 3, 4" in err and "1000" not in err.split("unknown user id(s):")[1].split(";")[0]
    assert main(["recommend", "--model", str(model), "--users", "1000,x"]) == 2
    assert "'x' is not an integer" in capsys.readouterr().err
    assert main(["recommend", "--model", str(model), "--users", "1000", "-k", "3"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "user,rank,item" and len(printed) == 4 and printed[1].startswith("1000,1,")


def test_python_fit_reads_a_path_and_recommends_raw_ids(ratings):
    result = graphdenoise.fit(str(ratings), model="mf", epochs=1, batch_size=256, show_progress=False,
                              dataset_options={"columns": {"user": "userId", "item": "movieId"}})
    users = result.user_ids[:4]
    internal = result.recommend(torch.arange(4), k=3, raw_ids=False)
    assert torch.equal(result.recommend(users, k=3), result.item_ids[internal])
    assert result.config["run"]["dataset"] == str(ratings)


def test_headerless_tsv_and_describe(tmp_path, capsys):
    path = tmp_path / "plays.tsv"
    path.write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u in range(30) for i, r, t in
                            ((u % 7, 5, 1), (u % 11 + 7, 3, 2), (u % 13 + 20, 4, 3), (u % 5 + 40, 1, 4))))
    assert main(["describe", "--dataset", str(path), "--rating-threshold", "3"]) == 0
    out = capsys.readouterr().out
    assert "#Interactions" in out and "90" in out  # 120 rows, 30 rated below 3
    assert main(["describe", "--dataset", str(path), "--columns", "user,item,_,_"]) == 0
    assert "120" in capsys.readouterr().out


def test_file_errors_are_clear(tmp_path, capsys):
    assert main(["fit", "--dataset", str(tmp_path / "missing.csv"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    path = write_ratings(tmp_path / "r.csv")
    assert main(["describe", "--dataset", str(path), "--user-col", "uid"]) == 2
    assert "no column 'uid'" in capsys.readouterr().err
    assert main(["describe", "--dataset", "netflix"]) == 2
    assert "CSV/TSV" in capsys.readouterr().err

"""One config file per run: YAML in, resolved config embedded in the result, repeat from the result."""
import json

from graphdenoise.cli import main
from tests.cli._data import write_ratings

YAML = """\
dataset: {path}
user-col: userId
item_col: movieId
rating_col: stars
rating_threshold: 2
model: mf
method: tce
epochs: 2
eval_every: 1
batch_size: 256
lr: 0.005
drop_rate: 0.1
embedding_dim: 16
"""


def test_yaml_run_round_trips_through_its_result(tmp_path, capsys):
    ratings = write_ratings(tmp_path / "ratings.csv")
    config = tmp_path / "run.yaml"
    config.write_text(YAML.format(path=ratings))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert main(["fit", "--config", str(config), "--quiet", "--out", str(first)]) == 0
    payload = json.loads(first.read_text())
    run = payload["config"]["run"]
    assert run["lr"] == 0.005 and run["drop_rate"] == 0.1 and run["embedding_dim"] == 16 and run["epochs"] == 2
    assert run["dataset_options"]["columns"] == {"user": "userId", "item": "movieId", "rating": "stars"}
    assert run["patience"] == 5 and run["num_gradual"] == 30000  # defaults resolved, not only the overrides
    assert payload["config"]["trainer"]["lr"] == 0.005
    assert main(["fit", "--config", str(first), "--quiet", "--out", str(second)]) == 0
    repeated = json.loads(second.read_text())
    assert repeated["config"]["run"] == run
    assert repeated["metrics"] == payload["metrics"] and repeated["history"][-1]["loss"] == payload["history"][-1]["loss"]


def test_command_line_flags_override_the_file(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("model: mf\nepochs: 3\neval_every: 1\nbatch_size: 512\nlr: 0.01\n")
    out = tmp_path / "r.json"
    assert main(["fit", "--config", str(config), "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    run = json.loads(out.read_text())["config"]["run"]
    assert run["epochs"] == 1 and run["lr"] == 0.01


def test_unknown_keys_are_refused_by_name_with_the_valid_ones(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("model: mf\nmethod: tce\nlearning_rate: 0.1\ndrop-rat: 0.2\n")
    assert main(["fit", "--config", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown key(s) 'drop_rat', 'learning_rate'" in err and str(config) in err
    assert "lr" in err and "drop_rate" in err and "dataset" in err and "user_col" in err


def test_bad_values_and_bad_files_fail_before_training(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("model: mf\nlr: -1\n")
    assert main(["fit", "--config", str(config), "--quiet"]) == 2
    assert "lr=-1" in capsys.readouterr().err
    config.write_text("- just\n- a list\n")
    assert main(["fit", "--config", str(config), "--quiet"]) == 2
    assert "mapping" in capsys.readouterr().err
    config.write_text("model: [unclosed\n")
    assert main(["fit", "--config", str(config), "--quiet"]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["fit", "--config", str(tmp_path / "nope.yaml"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_experiment_config_and_name_checks(tmp_path, capsys):
    config = tmp_path / "exp.yaml"
    config.write_text("names: table1\nbudget: tiny\ndatasets: [synthetic]\nbackbones: [mf]\nmethodz: [tce]\n")
    assert main(["experiment", "--config", str(config)]) == 2
    assert "unknown key(s) 'methodz'" in capsys.readouterr().err
    out = tmp_path / "results"
    config.write_text(f"names: table1\nbudget: tiny\ndatasets: [synthetic]\nbackbones: [mf]\n"
                      f"methods: [tce, til_ui]\nout: {out}\n")
    assert main(["experiment", "--config", str(config)]) == 2
    assert "unknown method 'til_ui'" in capsys.readouterr().err
    assert not out.exists()  # checked before any cell ran

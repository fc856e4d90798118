"""experiments.tune in process: the search space's checks, determinism, pruning, the report,
Ctrl-C, and that a trial scores exactly what the train stage scores."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from music_genre.core.errors import ParamsError, PipelineError
from music_genre.data.contract import CONTRACT_ENV, load_contract
from music_genre.data.synthetic import generate
from music_genre.experiments import tune as tune_module
from music_genre.experiments.space import apply, experiment_overrides, parse_space
from music_genre.experiments.tune import tune
from music_genre.pipeline.preprocess import preprocess
from support.models import small_model_params
from support.project import PROJECT_ROOT

SONGS = load_contract(PROJECT_ROOT / "contract.yaml")
PENGUINS_CONTRACT = PROJECT_ROOT / "examples" / "penguins" / "contract.yaml"

SPACE = {
    "train.lightgbm.learning_rate": {"low": 0.03, "high": 0.4, "log": True},
    "train.lightgbm.num_leaves": {"low": 4, "high": 31},
    "train.lightgbm.min_child_samples": {"low": 5, "high": 60, "log": True},
    "tfidf.max_features": {"choices": [50, 100]},
}


@pytest.fixture(scope="module")
def train_split(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tune") / "train.parquet"
    preprocess(generate(2500, seed=3, contract=SONGS), SONGS).to_parquet(path, index=False)
    return path


def write_params(folder: Path, group_by: str = "track", **tune_changes) -> Path:
    raw = small_model_params().model_dump()
    raw["train"]["n_threads"] = 1
    raw["segregate"]["group_by"] = group_by
    raw["tune"] = {
        "study": "unit-study",
        "seed": 7,
        "metric": "roc_auc",
        "n_trials": 6,
        "timeout_s": None,
        "pruning": {"percentile": 50.0, "startup_trials": 2, "every": 0.5, "warmup": 1.0},
        "space": SPACE,
        **tune_changes,
    }
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_tune(tmp_path: Path, train: Path, name: str, **tune_changes) -> tune_module.TuneOutcome:
    params = write_params(tmp_path, **tune_changes)
    return tune(
        str(params),
        str(train),
        run_experiment=False,
        summary_root=tmp_path / name,
        out=io.StringIO(),
    )


def _trials(result) -> list[tuple]:
    return [(t.number, t.state.name, t.params, t.value) for t in result.study.trials]


def test_same_seed_and_trial_count_give_the_same_study(tmp_path, train_split):
    first = run_tune(tmp_path, train_split, "a")
    second = run_tune(tmp_path, train_split, "b")
    assert len(first.study.trials) == 6
    assert _trials(first) == _trials(second)
    assert first.best == second.best
    other_seed = run_tune(tmp_path, train_split, "c", seed=8)
    assert _trials(other_seed) != _trials(first)


def test_the_best_trial_scores_what_the_train_stage_scores(tmp_path, train_split):
    from music_genre.core.params import load_params
    from music_genre.pipeline.train import train

    result = run_tune(tmp_path, train_split, "study", n_trials=3)
    params = apply(load_params(tmp_path / "params.yaml"), result.best["params"])
    scores = train(
        params,
        str(train_split),
        str(tmp_path / "model.joblib"),
        str(tmp_path / "metrics"),
        str(tmp_path / "plots"),
    )
    # Same split, same fit, same metric code: the very same number.
    assert scores["roc_auc"] == result.best["value"]
    best = result.study.best_trial
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["boosting_rounds"] == best.user_attrs["rounds"]
    assert best.user_attrs["scores"] == scores


def test_trials_follow_the_contract_of_the_project(tmp_path, monkeypatch):
    """A contract without text or groups and with three classes: the trials' columns, target
    and split come from it (MUSIC_GENRE_CONTRACT), and the best trial is what train scores."""
    from music_genre.core.params import load_params
    from music_genre.pipeline.train import train

    penguins = load_contract(PENGUINS_CONTRACT)
    monkeypatch.setenv(CONTRACT_ENV, str(PENGUINS_CONTRACT))
    split = tmp_path / "train.parquet"
    preprocess(generate(900, seed=5, contract=penguins), penguins).to_parquet(split, index=False)
    space = {"train.lightgbm.num_leaves": {"low": 4, "high": 31}}
    params = write_params(tmp_path, group_by="none", n_trials=2, space=space)
    result = tune(
        str(params),
        str(split),
        run_experiment=False,
        summary_root=tmp_path / "study",
        out=io.StringIO(),
    )
    assert [t.state.name for t in result.study.trials] == ["COMPLETE", "COMPLETE"]
    best = apply(load_params(params), result.best["params"])
    model = tmp_path / "model.joblib"
    scores = train(best, str(split), str(model), str(tmp_path / "m"), str(tmp_path / "p"))
    assert scores["roc_auc"] == result.best["value"]
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["input_columns"] == list(penguins.model_input_columns)
    assert sorted(card["classes"]) == sorted(penguins.classes)


def test_hopeless_trials_are_pruned_and_the_report_lists_every_trial(tmp_path, train_split):
    space = {"train.lightgbm.learning_rate": {"low": 0.001, "high": 0.5, "log": True}}
    result = run_tune(
        tmp_path,
        train_split,
        "pruning",
        n_trials=10,
        space=space,
        pruning={"percentile": 50.0, "startup_trials": 2, "every": 0.5, "warmup": 0.5},
    )
    states = [t.state.name for t in result.study.trials]
    assert "PRUNED" in states, states
    pruned = [t for t in result.study.trials if t.state.name == "PRUNED"]
    complete = [t for t in result.study.trials if t.state.name == "COMPLETE"]
    assert all(t.user_attrs["rounds"] < 60 for t in pruned)  # stopped before the cap
    # Stopped at a report: when its learning rate x rounds passed a multiple of 0.5.
    for t in pruned:
        rate, rounds = t.params["train.lightgbm.learning_rate"], t.user_attrs["rounds"]
        assert int(rounds * rate / 0.5 + 1e-9) > int((rounds - 1) * rate / 0.5 + 1e-9)
    report = json.loads((result.summary_dir / "trials.json").read_text())
    assert [row["number"] for row in report["trials"]] == list(range(10))
    assert report["counts"] == {"complete": len(complete), "pruned": len(pruned), "fail": 0}
    assert report["best"]["number"] == result.best["number"]
    for picture in ("history.png", "front.png", "importance.png"):
        assert (result.summary_dir / picture).read_bytes().startswith(b"\x89PNG")
    markdown = (result.summary_dir / "summary.md").read_text()
    assert f"**Chosen (the best score): trial #{result.best['number']}" in markdown
    assert markdown.count("| pruned |") == len(pruned)
    # Every completed trial's costs; the front from them.
    for row in report["trials"]:
        if row["state"] == "complete":
            costs = row["costs"]
            assert set(costs) == {"nodes", "scoring_ms_per_10k", "fit_seconds", "model_bytes"}
            assert costs["nodes"] > 0 and costs["model_bytes"] > 0
            assert costs["scoring_ms_per_10k"] > 0 and costs["fit_seconds"] > 0
    assert report["pareto_front"] and report["best"]["number"] in report["pareto_front"]
    assert "Pareto front of roc_auc and decision nodes" in markdown


def test_max_nodes_chooses_the_best_trial_within_the_cap(tmp_path, train_split):
    # Seed 8: of its first two trials (both complete: the pruner's startup), the better one is
    # not the cheaper one.
    free = run_tune(tmp_path, train_split, "free", seed=8, n_trials=2)
    report = json.loads((free.summary_dir / "trials.json").read_text())
    complete = [row for row in report["trials"] if row["state"] == "complete"]
    best_nodes = next(r["costs"]["nodes"] for r in complete if r["number"] == free.best["number"])
    cheaper = [r for r in complete if r["costs"]["nodes"] < best_nodes]
    assert cheaper, "the study must have a cheaper trial than its best to test the cap"
    cap = max(r["costs"]["nodes"] for r in cheaper)
    capped = run_tune(tmp_path, train_split, "capped", seed=8, n_trials=2, max_nodes=cap)
    # The same trials (same seed and count): only the choice differs.
    assert _trials(capped) == _trials(free)
    within = [r for r in complete if r["costs"]["nodes"] <= cap]
    expected = max(within, key=lambda r: (r["value"], -r["costs"]["nodes"], -r["number"]))
    assert capped.best["number"] == expected["number"] != free.best["number"]
    markdown = (capped.summary_dir / "summary.md").read_text()
    assert f"**Chosen (the best score within {cap:,} decision nodes): trial #" in markdown
    with pytest.raises(PipelineError, match=r"no trial completed within tune.max_nodes=1$"):
        run_tune(tmp_path, train_split, "impossible", seed=8, n_trials=2, max_nodes=1)


def test_ctrl_c_keeps_the_finished_trials_and_reports_the_best(tmp_path, train_split, monkeypatch):
    calls = []
    real = tune_module.run_trial

    def interrupted_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tune_module, "run_trial", interrupted_third)
    with pytest.raises(PipelineError, match=r"interrupted: kept 2 finished trial\(s\); best so"):
        run_tune(tmp_path, train_split, "ctrl-c")
    report = json.loads((tmp_path / "ctrl-c" / "unit-study" / "trials.json").read_text())
    assert report["interrupted"] is True
    assert [row["state"] for row in report["trials"]] == ["complete", "complete", "fail"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"space": {"train.lightgbm.leaves": {"low": 2, "high": 9}}},
            "'tune.space.train.lightgbm.leaves': unknown parameter ('leaves' is not an "
            "argument of lightgbm)",
        ),
        (
            {"space": {"train.random_forest.max_depth": {"low": 2, "high": 9}}},
            "'tune.space.train.random_forest.max_depth': tunes 'random_forest', but "
            "train.model is 'lightgbm'",
        ),
        (
            {"space": {"tfidf.min_df": {"low": 1, "high": 3}}},
            "'tune.space.tfidf.min_df': unknown parameter ('min_df' is not in params.yaml)",
        ),
        (
            {"space": {"train.lightgbm.num_leaves": {"low": 31, "high": 31}}},
            "'tune.space.train.lightgbm.num_leaves': empty range (low 31 is not below high 31)",
        ),
        (
            {"space": {"train.lightgbm.learning_rate": {"low": 0.0, "high": 0.3, "log": True}}},
            "'tune.space.train.lightgbm.learning_rate': a log range needs low > 0",
        ),
        (
            {"space": {"tfidf.max_features": {"choices": []}}},
            "'tune.space.tfidf.max_features': empty choices",
        ),
        ({"n_trials": 0}, "'tune.n_trials' is 0, expected a value in [1, inf)"),
        ({"n_trials": None}, "'tune.n_trials' and 'tune.timeout_s' are both null"),
        ({"metric": "auc"}, "'tune.metric' is 'auc', expected one of: roc_auc, accuracy"),
        ({"space": {}}, "'tune.space' is empty"),
    ],
)
def test_bad_search_settings_fail_in_one_line_before_any_trial(tmp_path, changes, message):
    params = write_params(tmp_path, **changes)
    # The train split does not exist: the check must come first.
    with pytest.raises(ParamsError) as raised:
        tune(str(params), str(tmp_path / "missing.parquet"), run_experiment=False)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_zero_budget_from_the_command_line_names_the_key(tmp_path):
    params = write_params(tmp_path)
    with pytest.raises(ParamsError, match=r"command line: 'tune.n_trials' is 0"):
        tune(str(params), str(tmp_path / "missing.parquet"), n_trials=0)


def test_experiment_overrides_add_what_params_yaml_lacks(tmp_path):
    from music_genre.core.params import load_params

    params = load_params(write_params(tmp_path, space={
        **SPACE, "train.lightgbm.max_bin": {"low": 63, "high": 255}
    }))  # fmt: skip
    dimensions = parse_space(params)
    overrides = experiment_overrides(
        {"train.lightgbm.learning_rate": 0.05, "train.lightgbm.max_bin": 127}, dimensions
    )
    assert overrides == ["train.lightgbm.learning_rate=0.05", "++train.lightgbm.max_bin=127"]


def test_the_text_statistics_switch_is_a_searchable_choice(tmp_path):
    """tfidf.statistics: {choices: [false, true]} in tune.space: both ends are valid params,
    applied as booleans and written for `dvc exp run -S` as YAML booleans."""
    from music_genre.core.params import load_params

    params = load_params(write_params(tmp_path, space={
        **SPACE, "tfidf.statistics": {"choices": [False, True]}
    }))  # fmt: skip
    dimensions = parse_space(params)
    assert [d.key for d in dimensions][-1] == "tfidf.statistics"
    assert apply(params, {"tfidf.statistics": True}).tfidf.statistics is True
    assert experiment_overrides({"tfidf.statistics": True}, dimensions) == [
        "tfidf.statistics=true"
    ]

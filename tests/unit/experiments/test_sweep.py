from pathlib import Path

import pytest

from music_genre.experiments.sweep import SweepError, check_overrides, expand, experiment_name

PROJECT = Path(__file__).resolve().parents[3]


def test_the_grid_is_dvcs_own_expansion():
    grid = expand(
        [
            "train.lightgbm.num_leaves=7,15",
            "train.lightgbm.learning_rate=range(0.1,0.3,0.1)",
            "+train.lightgbm.min_child_samples=5",
        ]
    )
    assert len(grid) == 4
    assert grid[0] == (
        "train.lightgbm.num_leaves=7",
        "train.lightgbm.learning_rate=0.1",
        "+train.lightgbm.min_child_samples=5",
    )
    assert {g[0] for g in grid} == {"train.lightgbm.num_leaves=7", "train.lightgbm.num_leaves=15"}
    assert expand(["other.yaml:a.b=1,2"]) == [("other.yaml:a.b=1",), ("other.yaml:a.b=2",)]


@pytest.mark.parametrize("bad", [[], ["train.lightgbm.num_leaves=7,,"]])
def test_a_bad_grid_is_one_line(bad):
    with pytest.raises(SweepError) as error:
        expand(bad)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("train.lightgbm.num_leavs=7", "-S train.lightgbm.num_leavs=7: "),
        ("=3", "-S =3: "),
        ("nope.yaml:a=1", "-S a=1: nope.yaml does not exist"),
    ],
)
def test_values_dvc_would_reject_are_refused_before_the_cluster(bad, message):
    with pytest.raises(SweepError) as error:
        check_overrides(expand([bad]), PROJECT)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    check_overrides(expand(["train.lightgbm.num_leaves=7,9", "+train.lightgbm.x=1"]), PROJECT)


def test_names_are_deterministic_and_distinct():
    commit = "0123456789abcdef"
    one = experiment_name(commit, ("a=1", "b=2"))
    assert one == experiment_name(commit, ("b=2", "a=1"))
    assert one.startswith("sweep-0123456-")
    assert one != experiment_name(commit, ("a=1", "b=3"))
    assert one != experiment_name("fedcba9876543210", ("a=1", "b=2"))

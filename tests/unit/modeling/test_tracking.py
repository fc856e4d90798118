"""Training curves: one dvclive step per boosting round, visible while the model trains."""

import csv
import json

import lightgbm
import numpy as np
import pandas as pd
import pytest

from music_genre.modeling.tracking import RoundedLightGBMCallback, StageLive, log_curves


def read_tsv(path):
    with path.open() as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


@pytest.mark.filterwarnings("ignore:The argument 'eval_set' is deprecated")
def test_lightgbm_rounds_are_dvclive_steps_and_the_summary_follows_them(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 5))
    labels = pd.Series(np.where(features[:, 0] + rng.normal(size=400) > 0, "a", "b"))
    live = StageLive(tmp_path / "metrics", tmp_path / "plots")
    live.step = 1
    summaries = []

    def read_summary_mid_training(env):
        # What `dvc exp show` reads while the experiment is still running.
        if env.iteration == 3:  # LightGBM counts iterations from 0: this is round 4
            summaries.append(json.loads((tmp_path / "metrics" / "metrics.json").read_text()))

    classifier = lightgbm.LGBMClassifier(n_estimators=12, num_leaves=4, verbose=-1)
    classifier.fit(
        features[:300],
        labels[:300],
        eval_set=[(features[:300], labels[:300]), (features[300:], labels[300:])],
        eval_names=["training", "validation"],
        callbacks=[RoundedLightGBMCallback(live=live), read_summary_mid_training],
    )
    live.end()

    # The summary of round 4 (steps count from 1, like LightGBM's rounds) was on disk.
    assert summaries[0]["step"] == 4
    assert set(summaries[0]) >= {"training", "validation"}
    for name in ("training", "validation"):
        rows = read_tsv(tmp_path / "plots" / "metrics" / name / "binary_logloss.tsv")
        assert [int(row["step"]) for row in rows] == list(range(1, 13))
        logged = [float(row["binary_logloss"]) for row in rows]
        recorded = classifier.evals_result_[name]["binary_logloss"]
        # Rounded to 6 significant digits, so thread counts cannot move the committed curves.
        assert logged == [float(f"{value:.6g}") for value in recorded]
        assert "timestamp" not in rows[0]


def test_curves_known_after_the_fit_are_logged_as_steps(tmp_path):
    live = StageLive(tmp_path / "metrics", tmp_path / "plots")
    live.step = 1
    log_curves(live, {"training": [0.9, 0.5, 0.3], "validation": [1.0, 0.7]}, "multi_logloss")
    live.end()
    training = read_tsv(tmp_path / "plots" / "metrics" / "training" / "multi_logloss.tsv")
    validation = read_tsv(tmp_path / "plots" / "metrics" / "validation" / "multi_logloss.tsv")
    assert [(row["step"], row["multi_logloss"]) for row in training] == [
        ("1", "0.9"),
        ("2", "0.5"),
        ("3", "0.3"),
    ]
    assert len(validation) == 2

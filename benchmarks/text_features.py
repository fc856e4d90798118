"""Text-feature benchmark: what richer text features add to the committed model, side by side.

    python benchmarks/text_features.py [--split data/split]
        [--output benchmarks/results/text_features.json]

Each candidate block is added beside the base preprocessing (params.yaml and contract.yaml as they
are, with `tfidf.statistics: false` whatever params.yaml says: numeric and categorical blocks,
TF-IDF of the composed text), and LightGBM is fitted
as the train stage fits it: on the fit rows of the train split, early stopping on its grouped
validation part, one thread. Every number is the validation part's (the test split is not read):

- `committed` (the key kept from the first run): the base preprocessing alone;
- `char_wb_2_4`: + TF-IDF of character 2- to 4-grams within words, as many terms as the word block;
- `word_1_2`: + word 1- and 2-grams (twice the word block's terms), replacing nothing;
- `title_category`: + the playlist `title` as an ordinal category (LightGBM sees its codes);
- `title_native_category`: the same column declared categorical to LightGBM;
- `text_statistics`: + nine statistics of the song name and title (length, words, share of
  capitals, digits, punctuation, brackets or a dash, "feat", an empty title, the title's length);
- `statistics_block`: + the pipeline's own statistics block (`tfidf.statistics: true`,
  modeling.text.TextStatistics): six statistics of every text column of the contract, none of
  them about songs (characters, words, share of capitals, digits, punctuation, a bracket or
  dash). This is exactly the pipeline with `tfidf.statistics: true`;
- `statistics_case_blind`: the same block without the share of capitals, on the stripped text
  (what no change of case or surrounding whitespace can move).

Beside each score: the boosting rounds early stopping chose, the decision nodes (what scoring
walks; experiments.costs) and the fit seconds, so a gain can be weighed against its cost; and
`instrumental_rap`, the directional behavioural test of tests/model/test_behaviour.py on the
validation part: the share of rap songs whose electronic share rises when their
instrumentalness is raised to the electronic genres' median (the test wants at least 0.7). Every
vocabulary is chosen tie-free (modeling.text), so the table is the same on any machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import committed_train_parts, write_results

ROOT = Path(__file__).resolve().parents[1]


def _text(frame: Any, column: str) -> Any:
    return frame[column].fillna("").astype(str)


def _vectorized(**options: Any) -> Callable[[Any, Any, Any], tuple[Any, Any]]:
    def block(fit: Any, validation: Any, contract: Any) -> tuple[Any, Any]:
        from music_genre.modeling.text import TopTermsTfidfVectorizer

        vectorizer = TopTermsTfidfVectorizer(binary=True, **options)
        name = contract.text_feature
        return (
            vectorizer.fit_transform(_text(fit, name)),
            vectorizer.transform(_text(validation, name)),
        )

    return block


def _title_codes(fit: Any, validation: Any, contract: Any) -> tuple[Any, Any]:
    import scipy.sparse as sp
    from sklearn.preprocessing import OrdinalEncoder

    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    codes = encoder.fit_transform(_text(fit, "title").to_frame())
    return sp.csr_matrix(codes), sp.csr_matrix(
        encoder.transform(_text(validation, "title").to_frame())
    )


def _statistics(frame: Any) -> Any:
    import numpy as np
    import scipy.sparse as sp

    song, title = _text(frame, "song_name"), _text(frame, "title")
    columns = [
        song.str.len(),
        song.str.split().str.len(),
        song.str.count(r"[A-Z]") / (song.str.len() + 1),
        song.str.count(r"\d"),
        song.str.count(r"[^\w\s]"),
        song.str.contains(r"[()\[\]-]"),
        song.str.contains(r"\b(?:feat|ft)\b", case=False),
        title == "",
        title.str.len(),
    ]
    return sp.csr_matrix(np.column_stack([c.to_numpy(dtype=float) for c in columns]))


def _text_statistics(fit: Any, validation: Any, contract: Any) -> tuple[Any, Any]:
    return _statistics(fit), _statistics(validation)


def _statistics_block(fit: Any, validation: Any, contract: Any) -> tuple[Any, Any]:
    import scipy.sparse as sp

    from music_genre.modeling.text import TextStatistics

    columns = list(contract.text_columns)
    block = TextStatistics().fit(fit[columns])
    return sp.csr_matrix(block.transform(fit[columns])), sp.csr_matrix(
        block.transform(validation[columns])
    )


def _case_blind_statistics(fit: Any, validation: Any, contract: Any) -> tuple[Any, Any]:
    """The statistics block without the share of capitals, on the stripped text: what no
    change of case or surrounding whitespace can move."""
    import numpy as np
    import scipy.sparse as sp

    from music_genre.modeling.text import text_statistics

    def block(frame: Any) -> Any:
        rows = [
            [
                value
                for index, value in enumerate(text_statistics(text.strip()))
                if index != 2  # capitals
            ]
            for column in contract.text_columns
            for text in _text(frame, column)
        ]
        width = len(frame)
        per_column = [
            np.asarray(rows[j * width : (j + 1) * width]) for j in range(len(contract.text_columns))
        ]
        return sp.csr_matrix(np.hstack(per_column))

    return block(fit), block(validation)


def _candidates(terms: int) -> dict[str, tuple[Any, bool]]:
    """name -> (the block beside the committed ones, or None; LightGBM-native categorical)."""
    return {
        "committed": (None, False),
        "char_wb_2_4": (
            _vectorized(analyzer="char_wb", ngram_range=(2, 4), max_features=terms),
            False,
        ),
        "word_1_2": (_vectorized(ngram_range=(1, 2), max_features=2 * terms), False),
        "title_category": (_title_codes, False),
        "title_native_category": (_title_codes, True),
        "text_statistics": (_text_statistics, False),
        "statistics_block": (_statistics_block, False),
        "statistics_case_blind": (_case_blind_statistics, False),
    }


def _fit(
    params: Any, contract: Any, matrices: tuple[Any, Any], parts: tuple[Any, Any], native: bool
) -> dict:
    import warnings

    from sklearn.metrics import roc_auc_score

    from music_genre.experiments.costs import decision_nodes
    from music_genre.modeling.build import build_pipeline
    from music_genre.modeling.metrics import classification_metrics
    from music_genre.modeling.threads import limited_threads

    fit_matrix, validation_matrix = matrices
    fit, validation = parts
    target = contract.target
    classifier = build_pipeline(params.train, params.tfidf, contract).named_steps["classifier"]
    # The last column is the title's codes when the candidate declares it categorical.
    categorical = [fit_matrix.shape[1] - 1] if native else "auto"
    started = time.perf_counter()
    with limited_threads(1), warnings.catch_warnings():
        # LightGBM 4.7 deprecates eval_set, but encodes string labels only through it.
        warnings.filterwarnings("ignore", message="The argument 'eval_set' is deprecated")
        classifier.fit(
            fit_matrix,
            fit[target],
            eval_set=[(validation_matrix, validation[target])],
            categorical_feature=categorical,
        )
        seconds = time.perf_counter() - started
        proba = classifier.predict_proba(validation_matrix)
    classes = [str(name) for name in classifier.classes_]
    scores = classification_metrics(validation[target], proba, classes)
    scores["roc_auc_ovr"] = float(
        roc_auc_score(validation[target], proba, multi_class="ovr", average="macro")
    )
    return {
        "columns": int(fit_matrix.shape[1]),
        "rounds": int(classifier.best_iteration_),
        "decision_nodes": decision_nodes(classifier),
        "fit_s": round(seconds, 2),
        "scores": scores,
    }, classifier


# tests/model/test_behaviour.py's directional expectation, on the validation part: rap songs
# given the electronic genres' median instrumentalness must look more electronic.
RAP_GENRES = ("Rap", "Hiphop", "Underground Rap")
ELECTRONIC_GENRES = ("techno", "psytrance", "techhouse", "trance", "dnb")


def _instrumental_rap(
    classifier: Any, matrix: Callable[[Any], Any], fit: Any, validation: Any, target: str
) -> dict:
    """How the candidate's model moves the electronic share of the validation part's rap
    songs when their instrumentalness is raised to the electronic genres' median (fit rows)."""
    level = fit[fit[target].isin(ELECTRONIC_GENRES)]["instrumentalness"].median()
    songs = validation[validation[target].isin(RAP_GENRES)]
    columns = [list(classifier.classes_).index(genre) for genre in ELECTRONIC_GENRES]
    before = classifier.predict_proba(matrix(songs))[:, columns].sum(axis=1)
    raised = songs.assign(instrumentalness=level)
    after = classifier.predict_proba(matrix(raised))[:, columns].sum(axis=1)
    return {
        "songs": len(songs),
        "share_more_electronic": float((after > before).mean()),
        "mean_before": float(before.mean()),
        "mean_after": float(after.mean()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default=str(ROOT / "data" / "split"))
    parser.add_argument(
        "--output", default=str(ROOT / "benchmarks" / "results" / "text_features.json")
    )
    options = parser.parse_args()
    import scipy.sparse as sp

    from music_genre.modeling.fitting import Validation
    from music_genre.modeling.recipe import prepare

    params, contract, fit, validation = committed_train_parts(Path(options.split))
    # The base has no statistics block, whatever params.yaml says, so every candidate is
    # measured against the same blocks.
    params = params.model_copy(
        update={"tfidf": params.tfidf.model_copy(update={"statistics": False})}
    )
    inputs, target = list(contract.model_input_columns), contract.target
    prepared = prepare(
        params,
        contract,
        fit[inputs],
        fit[target],
        Validation(validation[inputs], validation[target]),
    )
    base = (sp.csr_matrix(prepared.fit_matrix), sp.csr_matrix(prepared.validation_matrix))
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {}
    for name, (block, native) in _candidates(params.tfidf.max_features or 400).items():
        matrices = base
        if block is not None:
            extra = block(fit, validation, contract)
            matrices = tuple(sp.hstack([a, b]).tocsr() for a, b in zip(base, extra, strict=True))
        results[name], classifier = _fit(params, contract, matrices, (fit, validation), native)

        def matrix(rows: Any, block: Any = block) -> Any:
            words = sp.csr_matrix(prepared.preprocessor.transform(rows[inputs]))
            if block is None:
                return words
            return sp.hstack([words, block(fit, rows, contract)[1]]).tocsr()

        results[name]["instrumental_rap"] = _instrumental_rap(
            classifier, matrix, fit, validation, target
        )
        print(name, json.dumps(results[name]), flush=True)
    measured = {"rows": {"fit": len(fit), "validation": len(validation)}, "candidates": results}
    write_results(options.output, measured, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())

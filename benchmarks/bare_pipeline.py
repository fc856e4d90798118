"""The pipeline's computation in one process, without DVC: the floor for benchmarks/pipeline.py.

    python benchmarks/bare_pipeline.py PARAMS_YAML OUTPUT_DIR

The same library calls as the stages, in the same order, with one interpreter start-up.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(params_path: Path, out: Path) -> None:
    from music_genre.core.params import load_params
    from music_genre.data.contract import load_contract
    from music_genre.pipeline.check_data import check_file
    from music_genre.pipeline.eda import run_eda
    from music_genre.pipeline.evaluate import evaluate
    from music_genre.pipeline.get_data import get_data
    from music_genre.pipeline.preprocess import preprocess_file
    from music_genre.pipeline.segregate import segregate_file
    from music_genre.pipeline.train import train

    params = load_params(params_path)
    contract = load_contract(params_path.parent / "contract.yaml")
    reference = params_path.parent / "data" / "reference_profile.json"
    raw, prepared = out / "raw.parquet", out / "prepared.parquet"
    train_split, test_split = out / "train.parquet", out / "test.parquet"
    model = out / "models" / "model.joblib"
    get_data(params.data, raw, contract)
    preprocess_file(str(raw), str(prepared), contract)
    check_file(
        str(prepared),
        str(reference),
        str(out / "check.json"),
        params.check_data.ks_alpha,
        params.check_data.max_conflicting_share,
        contract=contract,
    )
    segregate_file(
        str(prepared),
        str(out / "check.json"),
        str(train_split),
        str(test_split),
        str(out / "split.json"),
        test_size=params.segregate.test_size,
        seed=params.seed,
        group_by=params.segregate.group_by,
        contract=contract,
    )
    train(
        params, str(train_split), str(model), str(out / "metrics_train"), str(out / "plots_train")
    )
    evaluate(
        str(model),
        str(test_split),
        str(out / "metrics_evaluate"),
        str(out / "plots_evaluate"),
        seed=params.seed,
        n_threads=params.train.n_threads,
    )
    run_eda(
        str(prepared),
        str(raw),
        str(out / "eda"),
        params.eda.sample_rows,
        params.eda.seed,
        contract=contract,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())

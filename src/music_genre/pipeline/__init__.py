"""The pipeline's steps, one module per dvc.yaml stage and named after it (get_data, preprocess,
check_data, segregate, train, evaluate, eda). Stage modules import the layers below, never each
other."""

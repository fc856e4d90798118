"""The model: building the sklearn pipeline, fitting it with its loss curves, canonical pickling,
importances, metrics, dvclive tracking, figures and the model store. Imports core and data."""

"""The data layer: the contract (the table's columns, classes, text and groups) and what derives
from it: the pandera schema, group identity, grouped splits, quantile profiles, drift bins and
the synthetic generator. Imports only the core."""

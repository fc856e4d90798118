"""Experiments beyond one workspace: parameter sweeps on a Dask cluster and offline plots of runs."""

"""Experiments beyond one workspace: sweeps on a Dask cluster, offline plots of runs."""

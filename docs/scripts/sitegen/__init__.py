"""The documentation site's generator: every number, table and figure of docs/ from the
project's own files (metrics/, plots/, benchmarks/results/, dvc.yaml, params.yaml, the code),
at build time."""

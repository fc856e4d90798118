"""The core every layer builds on: errors, params.yaml's models, the estimator registry, file I/O
and the stage runner. Imports nothing else of the package."""

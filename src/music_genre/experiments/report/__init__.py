"""The model report (`music-genre report BASE`): the workspace against a git revision."""

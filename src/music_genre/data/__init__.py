"""The data's vocabulary: columns, genres, the pandera contract, track identity, splits by track,
quantile profiles and the synthetic generator. Imports only the core."""

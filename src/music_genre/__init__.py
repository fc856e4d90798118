"""music_genre: a reproducible DVC pipeline that trains and serves a music-genre classifier."""

__version__ = "0.1.0"

"""`python -m music_genre.cli`: the `music-genre` command."""

import sys

from music_genre.cli.main import main

sys.exit(main())

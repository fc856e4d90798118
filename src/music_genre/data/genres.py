"""The 15 genres of the songs table: the one place they are listed."""

from typing import Final

GENRES: Final = (
    "Dark Trap",
    "Emo",
    "Hiphop",
    "Pop",
    "Rap",
    "RnB",
    "Trap Metal",
    "Underground Rap",
    "dnb",
    "hardstyle",
    "psytrance",
    "techhouse",
    "techno",
    "trance",
    "trap",
)

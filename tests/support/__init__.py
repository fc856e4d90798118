"""Test helpers with public seams: import them from here (tests/conftest.py holds only fixtures)."""

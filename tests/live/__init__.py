"""Tests that start processes: live labs (`georep up`) and the CLI as a user runs it (see
tests/README.md)."""

"""Runnable stories: scenarios from the seed, told on the embedded lab with honest outcomes."""

"""Runtime: the embedded lab (everything in one process) and the event log of a run."""

"""Pure tests: no lab, no sockets, no subprocesses (see tests/README.md)."""

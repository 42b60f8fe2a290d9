"""Tests in this process: an embedded lab, moto servers, a link proxy, the control app (see
tests/README.md)."""

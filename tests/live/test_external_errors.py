"""External regions from the CLI: what a review found (each test failed before its fix).
Every failure is one line naming the region and what to fix, and two labs never share one
external region."""

from __future__ import annotations

from georep.testing import wait_until

from ..support.external import external_regions
from ..support.live import fast_lab, force_down, georep, item, ok

A, B = "us-east", "eu-west"


def test_the_embedded_lab_refuses_an_external_table_without_a_stream_in_one_line(tmp_path):
    """`georep demo` (the embedded lab) with an external region whose `users` table exists
    without a stream: the embedded lab skips the fit check `georep up` makes (unfit) and the
    replicator's LookupError comes out as a traceback."""
    import subprocess
    import sys

    from georep.aws.clients import external, sync_client
    from georep.config import load

    from ..support.live import ROOT

    with external_regions(tmp_path, lab=fast_lab()) as regions:
        plain = sync_client("dynamodb", external(load(regions).region(B)))
        plain.create_table(TableName="users", BillingMode="PAY_PER_REQUEST",
                           KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                           AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        proc = subprocess.run([sys.executable, "-m", "georep", "demo", "--regions", str(regions)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr, proc.stderr[-600:]
        assert len(proc.stderr.strip().splitlines()) == 1 and "users" in proc.stderr


def with_endpoint(tmp_path, endpoint: str):
    """A regions folder: lab region us-east, and eu-west at ``endpoint``."""
    from georep.runtime.moto import free_port

    regions = tmp_path / "regions"
    regions.mkdir()
    (regions / "lab.toml").write_text(fast_lab())
    (regions / "us-east.toml").write_text(
        f'name = "us-east"\naws_region = "us-east-1"\nport = {free_port()}\n')
    (regions / "eu-west.toml").write_text(
        f'name = "eu-west"\naws_region = "eu-west-1"\nendpoint = "{endpoint}"\n')
    return regions


def _wrong_endpoint(tmp_path, endpoint: str):
    return georep(tmp_path / "home", "up", "--regions", str(with_endpoint(tmp_path, endpoint)))


def test_up_against_a_web_server_that_is_not_dynamodb_says_so_in_one_line(tmp_path):
    """An endpoint that answers HTTP but is not DynamoDB (a typo'd port): the error carries the
    whole HTML error page (13 lines) instead of one line."""
    import subprocess
    import sys

    from georep.runtime.moto import free_port

    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                            "127.0.0.1", "--directory", str(tmp_path)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: georep_ready(port), timeout=10, what="the web server")
        refused = _wrong_endpoint(tmp_path, f"http://127.0.0.1:{port}")
    finally:
        web.terminate()
        web.wait(5)
    assert refused.returncode != 0
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def georep_ready(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_with_https_to_a_plain_http_endpoint_does_not_blame_the_certificate(tmp_path):
    """`endpoint = "https://..."` for a server that speaks plain http: the TLS handshake fails
    with WRONG_VERSION_NUMBER, and the one line says the certificate is not trusted and to set
    ca_bundle, which cannot help."""
    with external_regions(_dir(tmp_path), tls=False, plain=True, local=False) as ext:
        url = load_endpoint(ext / "ap-south.toml").replace("http://", "https://")
        refused = _wrong_endpoint(tmp_path, url)
    assert refused.returncode != 0
    assert "ca_bundle" not in refused.stderr and "not trusted" not in refused.stderr, \
        refused.stderr


def load_endpoint(path) -> str:
    import tomllib

    return tomllib.loads(path.read_text())["endpoint"]


def _dir(tmp_path):
    d = tmp_path / "ext"
    d.mkdir()
    return d


def test_a_second_lab_on_the_same_external_region_is_refused_and_the_first_lives_on(tmp_path):
    """Two homes, each with its own us-east, one external eu-west: a link's checkpoint and lease
    rows there are named by link, not by lab, so the second lab's eu-west>us-east replicator
    took the first one's lease and fenced it (found by review). The second `up` is now
    refused in one line by the first lab's claim, which goes with the first lab."""
    import shutil

    from georep.runtime.moto import free_port

    from ..support.live import status

    with external_regions(tmp_path, lab=fast_lab()) as regions:
        other = tmp_path / "regions2"
        shutil.copytree(regions, other)
        (other / "us-east.toml").write_text(
            f'name = "us-east"\naws_region = "us-east-1"\nport = {free_port()}\n')
        first, second = tmp_path / "home1", tmp_path / "home2"
        ok(first, "up", "--regions", str(regions))
        try:
            refused = georep(second, "up", "--regions", str(other), "--adopt")
            if refused.returncode == 0:
                force_down(second)
            assert refused.returncode != 0
            assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
            assert f"is in use by another lab (home {first.resolve()}" in refused.stderr
            ok(first, "put", B, "users", "s1", "v=1")
            wait_until(lambda: item(first, A, "s1"), timeout=30, what="s1 in us-east")
            assert status(first)["replicators"][f"{B}>{A}"]["alive"]
        finally:
            force_down(first)
        # the claim went with the first lab: what stops the second now is the first's items
        again = georep(second, "up", "--regions", str(other), "--adopt")
        assert again.returncode != 0 and "in use by another lab" not in again.stderr
        assert "table users holds items" in again.stderr


def test_checkpoint_reset_with_the_external_source_down_is_one_line(tmp_path):
    """The external region stops answering (an outage; on AWS also throttling or expired
    credentials): `georep checkpoint reset` of its link answered "Internal Server Error", the
    botocore traceback only in the supervisor's log."""
    from georep.runtime.moto import MotoProcess

    moto = MotoProcess("eu-west", "eu-west-1")
    moto.start()
    try:
        regions = with_endpoint(tmp_path, moto.url)
        home = tmp_path / "home"
        ok(home, "up", "--regions", str(regions))
        try:
            ok(home, "replicator", "kill", B, A)
            moto.stop()
            refused = georep(home, "checkpoint", "reset", f"{B}:{A}")
            assert refused.returncode != 0
            assert "Internal Server Error" not in refused.stderr, refused.stderr
            assert B in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        finally:
            force_down(home)
    finally:
        moto.stop()


def test_up_that_times_out_on_a_hung_endpoint_leaves_no_lab_behind(tmp_path):
    """An endpoint that accepts connections and never answers: `up --timeout 3` gave up, but
    its supervisor lived on for the region's read timeout, so an immediate second `up` said a
    lab was already running (found by review)."""
    import socket

    from georep.runtime.home import LabHome

    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)  # the kernel accepts; nobody ever answers
        regions = with_endpoint(tmp_path, f"http://127.0.0.1:{hung.getsockname()[1]}")
        home = tmp_path / "home"
        slow = georep(home, "up", "--regions", str(regions), "--timeout", "3")
        assert slow.returncode != 0 and "did not start within 3s" in slow.stderr
        assert not LabHome(home).running()

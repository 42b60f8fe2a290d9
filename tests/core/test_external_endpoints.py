"""Where an external region's link proxy tunnels to: the host botocore really connects to
(found by review: a cn or iso region's every CONNECT was refused with 403)."""

from __future__ import annotations

from urllib.parse import urlsplit

import boto3
import pytest

from georep.aws.clients import external, upstream
from georep.config import Region


@pytest.mark.parametrize("aws_region", ["eu-west-1", "cn-north-1", "cn-northwest-1",
                                        "us-iso-east-1"])
def test_the_tunnel_goes_where_botocore_connects(aws_region: str) -> None:
    endpoint = external(Region("r", aws_region, endpoint="aws"))
    client = boto3.client("dynamodb", region_name=aws_region, aws_access_key_id="x",
                          aws_secret_access_key="y")
    real = urlsplit(client.meta.endpoint_url)
    assert upstream(endpoint) == (real.hostname, real.port or 443)


def test_a_url_endpoint_is_tunnelled_to_its_own_host_and_port() -> None:
    assert upstream(external(Region("r", "x-1", endpoint="https://Db.Example:8443/"))) == (
        "db.example", 8443)
    assert upstream(external(Region("r", "x-1", endpoint="http://127.0.0.1/"))) == (
        "127.0.0.1", 80)

"""Configuration that was accepted although wrong, or that crashed the loader: each one is now a
one-line ConfigError naming the file and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from georep.aws.conflicts import CONFLICTS_TABLE
from georep.aws.tables import CHECKPOINT_TABLE
from georep.config import load
from georep.core.meta import META
from georep.errors import ConfigError

from ..support.helpers import LAB, at, region_toml


def refused(directory: Path, file: str, rest: str) -> str:
    """Load ``directory``; the error must be one line that starts with ``file`` and matches
    ``rest`` (a regex). Returns the message."""
    with pytest.raises(ConfigError) as info:
        load(directory)
    message = str(info.value)
    assert "\n" not in message, message
    assert re.match(at(directory / file, rest), message), message
    return message


def table(body: str, name: str = "users") -> str:
    return f'[tables."{name}"]\nhash_key = {{ name = "id", type = "S" }}\n{body}\n'


def test_zero_max_siblings_is_refused_not_silently_25(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").write_text(table('policy = "vclock"\nmax_siblings = 0'))
    refused(lab_dir, "lab.toml", r"tables\.users: field 'max_siblings' must be at least 1")


def test_max_siblings_is_kept_as_given(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").write_text(table('policy = "vclock"\nmax_siblings = 3'))
    assert load(lab_dir).table("users").max_siblings == 3


@pytest.mark.parametrize("name", [CONFLICTS_TABLE, CHECKPOINT_TABLE, "georep_future"])
def test_tables_georep_uses_itself_are_reserved(lab_dir: Path, name: str) -> None:
    (lab_dir / "lab.toml").write_text(table("", name))
    message = refused(lab_dir, "lab.toml", rf"tables\.{name}: the name '{name}' is reserved")
    assert "georep_" in message


def test_a_hash_key_named_like_the_metadata_attribute_is_refused(lab_dir: Path) -> None:
    spec = f'hash_key = {{ name = "{META}", type = "S" }}'
    (lab_dir / "lab.toml").write_text(f"[tables.users]\n{spec}\n")
    refused(lab_dir, "lab.toml", rf"tables\.users\.hash_key: field 'name': '{META}' is reserved")


def test_a_range_key_named_like_the_metadata_attribute_is_refused(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").write_text(table(f'range_key = {{ name = "{META}", type = "N" }}'))
    refused(lab_dir, "lab.toml", rf"tables\.users\.range_key: field 'name': '{META}' is reserved")


def test_hash_and_range_key_with_one_name_are_refused(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").write_text(table('range_key = { name = "id", type = "S" }'))
    refused(lab_dir, "lab.toml", r"tables\.users\.range_key: field 'name': 'id' is already")


def test_unknown_field_in_a_key_spec_is_refused(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").write_text(
        '[tables.users]\nhash_key = { name = "id", type = "S", tpye = "N" }\n')
    refused(lab_dir, "lab.toml", r"tables\.users\.hash_key: unknown field 'tpye'")


def test_unknown_field_in_a_region_file_is_refused(lab_dir: Path) -> None:
    (lab_dir / "b.toml").write_text(
        'name = "beta"\naws_region = "eu-west-1"\nport = 9002\nendpont = "http://x"\n')
    refused(lab_dir, "b.toml", "unknown field 'endpont'")


def test_unknown_top_level_field_in_the_lab_file_is_refused(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").write_text(LAB + "\n[replicatr]\nbatch_size = 10\n")
    refused(lab_dir, "lab.toml", "unknown field 'replicatr'")


def test_port_and_endpoint_together_are_refused(lab_dir: Path) -> None:
    (lab_dir / "b.toml").write_text(region_toml("beta", "eu-west-1", 9002)
                                    + 'endpoint = "http://127.0.0.1:9100"\n')
    refused(lab_dir, "b.toml", "fields 'port' and 'endpoint' exclude each other")


@pytest.mark.parametrize("name", ["../../etc/x", "ab", "x" * 256, "users table", "ü"])
def test_table_names_dynamodb_refuses_are_refused(lab_dir: Path, name: str) -> None:
    (lab_dir / "lab.toml").write_text(table("", name))
    message = refused(lab_dir, "lab.toml", r"tables\..*: the name .* is not a DynamoDB table name")
    assert "3 to 255" in message


@pytest.mark.parametrize("name", ["abc", "Users.v2", "a-b_c", "x" * 255])
def test_valid_table_names_are_accepted(lab_dir: Path, name: str) -> None:
    (lab_dir / "lab.toml").write_text(table("", name))
    assert load(lab_dir).table(name).name == name


@pytest.mark.parametrize("name", ["eu.west", "eu[red]", "x" * 33, "é"])
def test_region_names_that_cannot_name_a_queue_are_refused(lab_dir: Path, name: str) -> None:
    (lab_dir / "b.toml").write_text(region_toml(name, "eu-west-1", 9002))
    refused(lab_dir, "b.toml", "field 'name' must be 1 to 32 letters, digits")


@pytest.mark.parametrize("where", ["replicator", 'links."alpha>beta"'])
def test_batch_size_above_what_get_records_allows_is_refused(lab_dir: Path, where: str) -> None:
    (lab_dir / "lab.toml").write_text(LAB + f"\n[{where}]\nbatch_size = 5000\n")
    message = refused(lab_dir, "lab.toml", r".*field 'batch_size' must be between 1 and 1000")
    assert "5000" in message


def test_batch_size_of_1000_is_accepted(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").write_text(LAB + "\n[replicator]\nbatch_size = 1000\n")
    assert load(lab_dir).replicator.batch_size == 1000


def test_a_directory_named_like_a_region_file_is_named(lab_dir: Path) -> None:
    (lab_dir / "x.toml").mkdir()
    refused(lab_dir, "x.toml", "not a file")


def test_a_lab_file_that_is_a_directory_is_named(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").unlink()
    (lab_dir / "lab.toml").mkdir()
    refused(lab_dir, "lab.toml", "not a file")


@pytest.mark.parametrize("file", ["b.toml", "lab.toml"])
def test_a_file_that_is_not_utf8_is_named(lab_dir: Path, file: str) -> None:
    (lab_dir / file).write_bytes(b'name = "b\xe9ta"\n')
    refused(lab_dir, file, "not UTF-8 text")


def test_an_unreadable_file_is_named(lab_dir: Path) -> None:
    path = lab_dir / "b.toml"
    path.chmod(0)
    try:
        path.open("rb").close()
        pytest.skip("running as root: every file is readable")
    except PermissionError:
        pass
    refused(lab_dir, "b.toml", "cannot be read")


@pytest.mark.parametrize("attr", ["id", META])
def test_a_crdt_type_for_a_key_or_the_metadata_is_refused(lab_dir: Path, attr: str) -> None:
    (lab_dir / "lab.toml").write_text(table(f'policy = "crdt"\ncrdt = {{ {attr} = "gcounter" }}'))
    refused(lab_dir, "lab.toml", rf"tables\.users: field 'crdt\.{attr}': .* not a CRDT")


# -- external regions (issue 17) ----------------------------------------------------------------


def external(lab_dir: Path, body: str) -> None:
    (lab_dir / "b.toml").write_text('name = "beta"\naws_region = "eu-west-1"\n' + body)


@pytest.mark.parametrize("secret", ["aws_access_key_id", "aws_secret_access_key",
                                    "aws_session_token"])
def test_a_credential_in_a_region_file_is_refused_with_the_chain_named(lab_dir: Path,
                                                                       secret: str) -> None:
    external(lab_dir, f'endpoint = "aws"\n{secret} = "AKIA..."\n')
    message = refused(lab_dir, "b.toml", f"field '{secret}': credentials never go in")
    assert "profile" in message and "AKIA" not in message


@pytest.mark.parametrize("field", ["profile", "ca_bundle", "sqs_endpoint", "streams_endpoint"])
def test_external_fields_on_a_lab_region_are_refused(lab_dir: Path, field: str) -> None:
    (lab_dir / "b.toml").write_text(region_toml("beta", "eu-west-1", 9002)
                                    + f'{field} = "https://x.example"\n')
    refused(lab_dir, "b.toml", f"field '{field}' is for an external region")


@pytest.mark.parametrize("body, rest", [
    ('endpoint = "ftp://x"\n', "field 'endpoint' must be an http\\(s\\) URL or \"aws\""),
    ('endpoint = "http://h:port"\n', "field 'endpoint': bad port"),
    ('endpoint = "aws"\nsqs_endpoint = "sqs"\n', "field 'sqs_endpoint' must be an http"),
    ('endpoint = "aws"\nca_bundle = "missing.pem"\n', "field 'ca_bundle': no file"),
    ('endpoint = "https://AKIA:s3cret@h"\n', "field 'endpoint': credentials never go in"),
    ('endpoint = "aws"\nprofile = " "\n', "field 'profile' must name a profile"),
])
def test_bad_external_fields_name_the_field(lab_dir: Path, body: str, rest: str) -> None:
    external(lab_dir, body)
    refused(lab_dir, "b.toml", rest)


def test_each_service_of_an_external_region_answers_where_the_region_file_says(
        lab_dir: Path) -> None:
    (lab_dir / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    external(lab_dir, 'endpoint = "aws"\nprofile = "prod"\nca_bundle = "ca.pem"\n')
    beta = load(lab_dir).region("beta")
    assert not beta.local and beta.profile == "prod"
    assert beta.ca_bundle == str((lab_dir / "ca.pem").resolve())
    assert [beta.service_url(s) for s in ("dynamodb", "dynamodbstreams", "sqs")] == [None] * 3
    external(lab_dir, 'endpoint = "https://dynamodb.eu-west-1.amazonaws.com"\n')
    beta = load(lab_dir).region("beta")
    assert [beta.service_url(s) for s in ("dynamodb", "dynamodbstreams", "sqs")] == [
        "https://dynamodb.eu-west-1.amazonaws.com", None, None]  # AWS: each its own host
    external(lab_dir, 'endpoint = "http://127.0.0.1:9100"\nsqs_endpoint = "http://q:1"\n')
    beta = load(lab_dir).region("beta")
    assert [beta.service_url(s) for s in ("dynamodb", "dynamodbstreams", "sqs")] == [
        "http://127.0.0.1:9100", "http://127.0.0.1:9100", "http://q:1"]

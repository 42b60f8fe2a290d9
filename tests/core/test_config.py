"""Lab configuration: the regions folder turned into validated objects, and its errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from georep.config import KeyAttr, ReplicatorSettings, load, load_lab, load_region
from georep.errors import ConfigError, GeorepError

from ..support.helpers import LAB, at, region_toml

REPO_REGIONS = Path(__file__).resolve().parents[2] / "regions"









def test_repo_regions_load_us_east_and_eu_west() -> None:
    cfg = load(REPO_REGIONS)
    assert {r.name: r.aws_region for r in cfg.regions} == {
        "us-east": "us-east-1",
        "eu-west": "eu-west-1",
    }
    assert cfg.region("us-east").local
    assert cfg.region("eu-west").source.endswith("eu-west.toml")


def test_repo_regions_define_users_table_with_lww() -> None:
    users = load(REPO_REGIONS).table("users")
    assert users.hash_key == KeyAttr("id", "S")
    assert users.range_key is None
    assert users.policy == "lww"
    assert users.key_names == ("id",)


def test_repo_lab_replicator_settings_are_read() -> None:
    settings = load(REPO_REGIONS).replicator
    assert isinstance(settings, ReplicatorSettings)
    assert settings.batch_size == 1000
    assert isinstance(settings.connect_timeout_s, float)


def test_links_are_the_full_mesh() -> None:
    assert sorted(load(REPO_REGIONS).links) == [("eu-west", "us-east"), ("us-east", "eu-west")]


def test_third_region_file_works_without_code_changes(tmp_path: Path) -> None:
    lab = tmp_path / "regions"
    shutil.copytree(REPO_REGIONS, lab)
    (lab / "ap-south.toml").write_text(region_toml("ap-south", "ap-south-1", 8103))
    cfg = load(lab)
    names = {r.name for r in cfg.regions}
    assert names == {"us-east", "eu-west", "ap-south"}
    assert len(cfg.links) == 6
    assert set(cfg.links) == {(a, b) for a in names for b in names if a != b}


def test_unknown_region_and_table_lookups_raise_config_error() -> None:
    cfg = load(REPO_REGIONS)
    with pytest.raises(ConfigError, match="unknown region 'mars'"):
        cfg.region("mars")
    with pytest.raises(ConfigError, match="unknown table 'orders'"):
        cfg.table("orders")


def test_config_error_is_a_georep_error() -> None:
    assert issubclass(ConfigError, GeorepError)


def test_missing_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match=at(missing, "regions directory not found")):
        load(missing)


def test_missing_region_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "ghost.toml"
    with pytest.raises(ConfigError, match=at(missing, "file not found")):
        load_region(missing)


def test_invalid_toml_names_the_file(lab_dir: Path) -> None:
    (lab_dir / "b.toml").write_text('name = "beta\n')
    with pytest.raises(ConfigError, match=at(lab_dir / 'b.toml', "not valid TOML")):
        load(lab_dir)


def test_missing_name_names_file_and_field(lab_dir: Path) -> None:
    (lab_dir / "b.toml").write_text('aws_region = "eu-west-1"\nport = 9002\n')
    with pytest.raises(ConfigError, match=at(lab_dir / 'b.toml', "missing field 'name'")):
        load(lab_dir)


def test_wrong_type_for_port_names_file_and_field(lab_dir: Path) -> None:
    (lab_dir / "b.toml").write_text(region_toml("beta", "eu-west-1", "9002"))
    with pytest.raises(ConfigError, match=at(lab_dir / 'b.toml', "field 'port' must be an? int")):
        load(lab_dir)


def test_boolean_port_is_rejected(lab_dir: Path) -> None:
    (lab_dir / "b.toml").write_text('name = "beta"\naws_region = "eu-west-1"\nport = true\n')
    with pytest.raises(ConfigError, match="field 'port' must be"):
        load(lab_dir)


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_port_out_of_range_names_file_and_field(lab_dir: Path, port: int) -> None:
    (lab_dir / "b.toml").write_text(region_toml("beta", "eu-west-1", port))
    with pytest.raises(ConfigError, match=at(lab_dir / 'b.toml', "field 'port' must be between")):
        load(lab_dir)


def test_missing_port_and_endpoint_names_the_field(lab_dir: Path) -> None:
    (lab_dir / "b.toml").write_text('name = "beta"\naws_region = "eu-west-1"\n')
    with pytest.raises(ConfigError, match=at(lab_dir / 'b.toml', "missing field 'port'")):
        load(lab_dir)


def test_same_aws_region_mentions_both_files(lab_dir: Path) -> None:
    (lab_dir / "b.toml").write_text(region_toml("beta", "us-east-1", 9002))
    with pytest.raises(ConfigError) as info:
        load(lab_dir)
    message = str(info.value)
    assert "field 'aws_region'" in message
    assert str(lab_dir / "a.toml") in message
    assert str(lab_dir / "b.toml") in message


def test_duplicate_names_mention_both_files(lab_dir: Path) -> None:
    (lab_dir / "b.toml").write_text(region_toml("alpha", "eu-west-1", 9002))
    with pytest.raises(ConfigError) as info:
        load(lab_dir)
    message = str(info.value)
    assert "field 'name'" in message and "'alpha'" in message
    assert str(lab_dir / "a.toml") in message
    assert str(lab_dir / "b.toml") in message


def test_unknown_policy_names_file_table_and_field(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").write_text(LAB.replace('"lww"', '"paxos"'))
    with pytest.raises(ConfigError) as info:
        load(lab_dir)
    message = str(info.value)
    assert message.startswith(f"{lab_dir / 'lab.toml'}: tables.users: field 'policy'")
    assert "'paxos'" in message and "lww" in message


def test_bad_key_type_names_file_and_field(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").write_text(LAB.replace('type = "S"', 'type = "X"'))
    with pytest.raises(ConfigError) as info:
        load(lab_dir)
    message = str(info.value)
    assert message.startswith(f"{lab_dir / 'lab.toml'}: tables.users.hash_key: field 'type'")
    assert "'X'" in message


def test_missing_lab_file_is_named(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").unlink()
    with pytest.raises(ConfigError, match=at(lab_dir / 'lab.toml', "file not found")):
        load(lab_dir)


def test_unknown_replicator_field_is_named(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").write_text(LAB + "\n[replicator]\nbatch_sise = 10\n")
    with pytest.raises(ConfigError) as info:
        load(lab_dir)
    message = str(info.value)
    assert message.startswith(f"{lab_dir / 'lab.toml'}: replicator: unknown field")
    assert "'batch_sise'" in message


def test_replicator_fields_override_defaults(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").write_text(LAB + "\n[replicator]\nbatch_size = 10\nread_timeout_s = 3\n")
    _, settings, _ = load_lab(lab_dir / "lab.toml")
    assert settings.batch_size == 10
    assert settings.read_timeout_s == 3.0 and isinstance(settings.read_timeout_s, float)
    assert settings.retry_cap_ms == ReplicatorSettings().retry_cap_ms


def test_boolean_for_a_float_replicator_field_is_rejected(lab_dir: Path) -> None:
    (lab_dir / "lab.toml").write_text(LAB + "\n[replicator]\nconnect_timeout_s = true\n")
    with pytest.raises(ConfigError, match="field 'connect_timeout_s' must be"):
        load(lab_dir)

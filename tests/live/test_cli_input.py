"""Hostile and broken command-line input against a live lab: every refusal is one line on
stderr ("error: ..." once), a non-zero exit, no traceback, and nothing written or stopped."""

from __future__ import annotations

import os
import re

import pytest

from georep.assignments import BadArgument, parse_assignments, parse_key, parse_ops
from georep.config import KeyAttr, Table
from georep.runtime.control import ControlClient
from georep.runtime.home import LabHome

from ..support.live import force_down, georep, make_regions, ok, plain_client, state
from .test_cli import georep as georep_without_home

TABLES = """
[tables.acct]
hash_key = { name = "id", type = "S" }
policy = "crdt"
crdt = { balance = "bcounter" }

[tables.nums]
hash_key = { name = "n", type = "N" }
"""

DIGITS_39 = "1" * 39
DIGITS_41 = "9" * 41


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One live lab for the module (users: lww; acct: crdt; nums: a number key)."""
    tmp = tmp_path_factory.mktemp("cli-input")
    regions = make_regions(tmp)
    with (regions / "lab.toml").open("a") as f:
        f.write(TABLES)
    home = tmp / "home"
    ok(home, "up", "--regions", str(regions))
    yield home
    force_down(home)


def one_line_error(proc, *needles: str) -> str:
    """The single line of stderr, checked: non-zero exit, no traceback, one 'error:' prefix,
    every needle in it."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("error: ") and line.count("error:") == 1, line
    for needle in needles:
        assert needle in line, line
    return line


def count(home, table: str) -> int:
    """Items in us-east's table, as any AWS client sees them."""
    return plain_client(home, "us-east", "us-east-1").scan(TableName=table)["Count"]


def lab_runs(home) -> bool:
    return ControlClient(LabHome(home)).call("GET", "/status")["regions"]["us-east"]["up"]


# -- the argument parsers (pure) --------------------------------------------------------------

USERS = Table("users", KeyAttr("id", "S"))
ACCT = Table("acct", KeyAttr("id", "S"), policy="crdt", crdt={"balance": "pncounter"})
NUMS = Table("nums", KeyAttr("n", "N"))


def test_the_parsers_keep_what_they_support():
    assert parse_ops(["balance-=5", "balance+=2", "tags+=vip", "name=Ann", "n:=3"], ACCT) == [
        ("balance", "-=", 5), ("balance", "+=", 2), ("tags", "+=", "vip"),
        ("name", "=", "Ann"), ("n", "=", parse_ops(["n:=3"], ACCT)[0][2])]
    got = parse_assignments(["url=http://x?a=b", "note=a:=b", "a-b=1", "n:=0", "m:=1E125",
                             f"k:={'9' * 38}", "t:=1E-130"], USERS)
    assert got["url"] == "http://x?a=b" and got["note"] == "a:=b" and got["a-b"] == "1"
    assert parse_key("9" * 38, NUMS) == int("9" * 38)


@pytest.mark.parametrize("arg,needle", [
    ("balance*=2", "unsupported operator '*='"), ("balance++=2", "unsupported operator '++='"),
    ("balance:-=2", "unsupported operator ':-='"), ("=2", "expected"),
    ("+=2", "the attribute name is empty"), (f"balance+={DIGITS_41}", "41 digits"),
])
def test_update_refuses_what_it_does_not_support(arg, needle):
    with pytest.raises(BadArgument, match=re.escape(needle)):
        parse_ops([arg], ACCT)


@pytest.mark.parametrize("arg,needle", [
    ("a*=1", "unsupported operator '*='"), ("a+=1", "unsupported operator '+='"),
    ("a::=1", "unsupported operator '::='"), (f"n:={DIGITS_39}", "not a DynamoDB number"),
    (f"n:={{\"x\": [{DIGITS_39}]}}", "not a DynamoDB number"), ("n:=1E126", "38"),
    ("n:=1E-131", "38"), ("n:=" + "1" + "0" * 40, "38"),
])
def test_put_refuses_what_it_does_not_support(arg, needle):
    with pytest.raises(BadArgument, match=re.escape(needle)):
        parse_assignments([arg], USERS)


@pytest.mark.parametrize("text", [DIGITS_39, "1E126", "1E-131", "NaN", "Infinity"])
def test_a_number_key_must_be_a_dynamodb_number(text):
    with pytest.raises(BadArgument, match="key"):
        parse_key(text, NUMS)


# -- durations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("down", "--timeout", "-1"), ("down", "--timeout", "0"), ("down", "--timeout", "nan"),
    ("down", "--timeout", "inf"), ("reconcile", "--timeout", "0"), ("up", "--timeout", "-5"),
])
def test_a_non_positive_timeout_is_refused_before_anything_happens(home, args):
    one_line_error(georep(home, *args), "--timeout", "positive")
    assert lab_runs(home)


def test_up_with_a_bad_timeout_starts_nothing(tmp_path):
    fresh = tmp_path / "home"
    try:
        proc = georep(fresh, "up", "--timeout", "0", "--regions", str(make_regions(tmp_path)))
    finally:
        force_down(fresh)
    one_line_error(proc, "--timeout")
    assert not fresh.exists()


# -- operators and attribute names -------------------------------------------------------------

@pytest.mark.parametrize("args,needle", [
    (("update", "us-east", "acct", "k1", "balance*=2"), "'balance*=2'"),
    (("update", "us-east", "acct", "k1", "balance/=2"), "'balance/=2'"),
    (("put", "us-east", "users", "k1", "a*=1"), "'a*=1'"),
    (("put", "us-east", "users", "k1", "a+=1"), "'a+=1'"),
])
def test_an_unsupported_operator_is_refused_not_an_attribute_name(home, args, needle):
    line = one_line_error(georep(home, *args), needle, "operator")
    assert "=" in line
    assert count(home, args[2]) == 0


# -- numbers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("put", "us-east", "users", "k2", f"n:={DIGITS_39}"),
    ("put", "us-east", "users", "k2", f"n:=[1, {DIGITS_39}]"),
    ("put", "us-east", "users", "k2", "n:=1E126"),
    ("update", "us-east", "acct", "k2", f"balance+={DIGITS_41}"),
    ("rights", "transfer", "us-east", "acct", "k2", "balance", "--to", "eu-west", DIGITS_41),
    ("get", "us-east", "nums", DIGITS_39),
])
def test_a_number_dynamodb_cannot_hold_is_one_line(home, args):
    one_line_error(georep(home, *args), "38")
    assert count(home, "users") == count(home, "acct") == 0


def test_38_digits_are_fine(home):
    ok(home, "put", "us-east", "nums", "9" * 38, "v=x")
    assert count(home, "nums") == 1


# -- limits ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,needle", [
    (("put", "us-east", "users", "k" * 3000, "a=1"), "hash key 'id' is 3,000 bytes"),
    (("put", "us-east", "users", "k" * 2040, "a=1"), "tombstone row"),
    (("put", "us-east", "users", "big", *(f"a{i}={'x' * 120_000}" for i in range(4))),
     "at most 400,000"),
])
def test_a_key_or_item_over_the_limits_is_refused_before_writing(home, args, needle):
    one_line_error(georep(home, *args), needle)
    assert count(home, "users") == 0


# -- user text is never markup -----------------------------------------------------------------

def test_brackets_in_a_key_are_printed_as_given(home):
    proc = georep(home, "get", "us-east", "users", "a[/]")
    assert proc.returncode == 1
    one_line_error(proc, "a[/]: not found in us-east/users")
    out = ok(home, "put", "us-east", "users", "[red]k[/red]", "v=[bold]x")
    assert "[red]k[/red]" in out
    table = ok(home, "scan", "us-east", "users")
    assert "[red]k[/red]" in table and "[bold]x" in table
    ok(home, "delete", "us-east", "users", "[red]k[/red]")


def test_brackets_in_a_region_name_are_printed_as_given(home):
    one_line_error(georep(home, "put", "mars[/]", "users", "k", "a=1"), "'mars[/]'")


def test_brackets_in_a_path_are_printed_as_given(tmp_path):
    where = tmp_path / "x[red]y"
    one_line_error(georep(where, "status"), f"no lab is running in {where}")


@pytest.mark.parametrize("args", [("status",), ("up", "--timeout", "5")])
def test_a_home_that_cannot_be_a_folder_is_named(args):
    one_line_error(georep("/dev/null", *args), "/dev/null/", "Not a directory")


def test_brackets_in_a_policy_are_printed_as_given():
    one_line_error(georep_without_home("demo", "--policy", "a[/]"), "unknown policy 'a[/]'")


def test_help_shows_the_default_home():
    proc = georep_without_home("get", "--help")
    assert proc.returncode == 0
    assert "[default: ($GEOREP_HOME or .georep)]" in " ".join(proc.stdout.split())


# -- regions that are down or were reset ---------------------------------------------------------

def test_data_commands_name_a_region_that_was_reset_or_is_down(lab):
    home = lab
    st = state(home)
    ok(home, "put", "eu-west", "users", "k", "a=1")
    # As if the emulator was reset (its /moto-api/ is closed to everyone): the tables are gone.
    ddb = plain_client(home, "eu-west", "eu-west-1")
    for table in ("users", "georep_conflicts"):
        ddb.delete_table(TableName=table)
    for args in (("get", "eu-west", "users", "k"), ("put", "eu-west", "users", "k", "a=2"),
                 ("scan", "eu-west", "users")):
        one_line_error(georep(home, *args), "table users does not exist in eu-west")
    one_line_error(georep(home, "conflicts"), "table georep_conflicts does not exist in eu-west")
    pid, url = st["region_pids"]["us-east"], st["regions"]["us-east"]
    with open(f"/proc/{pid}/cmdline", "rb") as f:  # the lab's own moto server, nothing else
        cmdline = f.read()
    assert b"motoserve" in cmdline and url.rsplit(":", 1)[1].encode() in cmdline
    os.kill(pid, 9)
    for args in (("get", "us-east", "users", "k"), ("put", "us-east", "users", "k", "a=2"),
                 ("dlq", "list", "us-east:eu-west")):
        one_line_error(georep(home, *args), f"region us-east is not reachable at {url}",
                       "is the lab up?")

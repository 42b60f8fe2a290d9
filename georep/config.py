"""Regions and tables as data: the files in ``regions/`` turned into validated objects.

Place in the data flow: read once at start-up by the embedded lab, the live lab and the CLI;
everything downstream receives :class:`LabConfig`. Every error names the file and the field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .core.crdt_policy import check_types
from .core.meta import META
from .core.policies import POLICIES
from .errors import ConfigError

LAB_FILE = "lab.toml"
KEY_TYPES = ("S", "N", "B")
# georep's own tables in every region (georep_checkpoints, georep_conflicts, and any it adds).
RESERVED_PREFIX = "georep_"
TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")  # what DynamoDB accepts
# A region name becomes part of the link's SQS queue name, "georep-dlq-<src>-to-<dst>", which
# SQS limits to 80 letters, digits, hyphens and underscores.
REGION_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
REGION_FIELDS = ("name", "aws_region", "port", "endpoint", "streams_endpoint", "sqs_endpoint",
                 "profile", "ca_bundle")
# Credentials never go in a file georep reads: the standard chain finds them (the environment,
# the region file's ``profile``, an instance or task role).
SECRET_FIELDS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
AWS_ENDPOINTS = "aws"  # endpoint = "aws": every service at the AWS endpoints of aws_region
LAB_FIELDS = ("tables", "replicator", "links")
TABLE_FIELDS = ("hash_key", "range_key", "policy", "max_siblings", "crdt")
# batch_size is GetRecords' Limit, which DynamoDB Streams caps at 1000 records.
SETTING_MAX = {"batch_size": 1000}


@dataclass(frozen=True)
class Region:
    name: str
    aws_region: str
    port: int | None = None
    endpoint: str | None = None  # a URL, or "aws" (AWS_ENDPOINTS)
    source: str = ""
    streams_endpoint: str | None = None  # external regions: where each service answers, when
    sqs_endpoint: str | None = None      # not at ``endpoint`` (see :func:`service_url`)
    profile: str | None = None  # a profile of the AWS config files: credentials, not secrets
    ca_bundle: str | None = None  # a CA bundle (PEM) to trust for the region's https endpoints

    @property
    def local(self) -> bool:
        """Served by a moto server the lab starts (as opposed to an external endpoint)."""
        return self.endpoint is None

    def service_url(self, service: str) -> str | None:
        """An external region's URL for ``service`` (dynamodb, dynamodbstreams or sqs); None:
        the AWS endpoint of ``aws_region``. ``endpoint`` names DynamoDB's; the others answer
        there too (moto, LocalStack), unless the region file names them or ``endpoint`` is an
        AWS host, whose services each have their own host."""
        if self.endpoint is None:
            raise ValueError(f"region {self.name} is a lab region: its moto server has the URL")
        base = None if self.endpoint == AWS_ENDPOINTS else self.endpoint
        if service == "dynamodb":
            return base
        own = {"dynamodbstreams": self.streams_endpoint, "sqs": self.sqs_endpoint}[service]
        if own is not None:
            return own
        return None if base is None or aws_host(base) else base


def aws_host(url: str) -> bool:
    """An endpoint on AWS's own domains (its services do not share one host)."""
    host = (urlsplit(url).hostname or "").lower()
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))


@dataclass(frozen=True)
class KeyAttr:
    name: str
    type: str


@dataclass(frozen=True)
class Table:
    name: str
    hash_key: KeyAttr
    range_key: KeyAttr | None = None
    policy: str = "lww"
    max_siblings: int = 25  # vclock: concurrent values kept before the oldest are dropped
    crdt: dict[str, str] = field(default_factory=dict)  # crdt: attribute -> CRDT type

    def policy_options(self) -> dict[str, Any]:
        if self.policy == "vclock":
            return {"max_siblings": self.max_siblings}
        if self.policy == "crdt":
            return {"types": dict(self.crdt), "key_names": self.key_names}
        return {}

    @property
    def key_names(self) -> tuple[str, ...]:
        return (self.hash_key.name,) + ((self.range_key.name,) if self.range_key else ())


@dataclass(frozen=True)
class ReplicatorSettings:
    connect_timeout_s: float = 1.0
    read_timeout_s: float = 2.0
    idle_poll_max_ms: int = 100
    batch_size: int = 1000
    checkpoint_interval_ms: int = 100
    retry_base_ms: int = 50
    retry_cap_ms: int = 2000
    retry_max_attempts: int = 8
    retry_budget_s: float = 30.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 5.0
    unstamped_wait_s: float = 5.0
    # an HLC seen further ahead of the local clock than this is not followed by later writes
    max_clock_offset_ms: int = 60_000


@dataclass(frozen=True)
class LabConfig:
    regions: tuple[Region, ...]
    tables: tuple[Table, ...]
    replicator: ReplicatorSettings = field(default_factory=ReplicatorSettings)
    link_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def settings_for(self, src: str, dst: str) -> ReplicatorSettings:
        """The replicator settings of link src→dst: ``[replicator]`` with the link's
        ``[links."src>dst"]`` overrides applied."""
        from dataclasses import replace

        return replace(self.replicator, **self.link_overrides.get(f"{src}>{dst}", {}))

    def region(self, name: str) -> Region:
        for r in self.regions:
            if r.name == name:
                return r
        known = ", ".join(r.name for r in self.regions)
        raise ConfigError(f"unknown region {name!r} (known: {known})")

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.tables)
        raise ConfigError(f"unknown table {name!r} (known: {known})")

    @property
    def links(self) -> list[tuple[str, str]]:
        """Every directed pair of regions: the full mesh."""
        names = [r.name for r in self.regions]
        return [(a, b) for a in names for b in names if a != b]


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: not a file but a directory (rename or move it)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _no_unknown(doc: dict, known, where: str) -> None:
    unknown = sorted(set(doc) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(known)})")


def _field(doc: dict, key: str, kind: type | tuple[type, ...], where: str, required=True):
    if key not in doc:
        if required:
            raise ConfigError(f"{where}: missing field {key!r}")
        return None
    value = doc[key]
    numeric = kind in (int, float, (int, float))
    if not isinstance(value, kind) or (numeric and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        article = "an" if names[0] in "aeiou" else "a"
        raise ConfigError(f"{where}: field {key!r} must be {article} {names}, not {value!r}")
    return value


def load_region(path: Path) -> Region:
    doc = _read(path)
    where = str(path)
    for secret in SECRET_FIELDS:
        if secret in doc:
            raise ConfigError(f"{where}: field {secret!r}: credentials never go in a region "
                              "file; georep uses the standard chain (environment variables, "
                              "'profile = ...', an instance role)")
    _no_unknown(doc, REGION_FIELDS, where)
    name = _field(doc, "name", str, where)
    aws_region = _field(doc, "aws_region", str, where)
    port = _field(doc, "port", int, where, required=False)
    endpoint = _field(doc, "endpoint", str, where, required=False)
    if not REGION_NAME.fullmatch(name):
        raise ConfigError(f"{where}: field 'name' must be 1 to 32 letters, digits, '-' or '_', "
                          f"not {name!r}")
    if port is None and endpoint is None:
        raise ConfigError(f"{where}: missing field 'port' (or 'endpoint' for an external service)")
    if port is not None and endpoint is not None:
        raise ConfigError(f"{where}: fields 'port' and 'endpoint' exclude each other: 'port' for "
                          "a lab region, 'endpoint' for an external service")
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"{where}: field 'port' must be between 1 and 65535, not {port}")
    if endpoint is not None and endpoint != AWS_ENDPOINTS:
        _url(endpoint, "endpoint", where)
    external = {k: _field(doc, k, str, where, required=False)
                for k in ("streams_endpoint", "sqs_endpoint", "profile", "ca_bundle")}
    for k, value in external.items():
        if value is not None and port is not None:
            raise ConfigError(f"{where}: field {k!r} is for an external region ('endpoint'), "
                              "not a lab region ('port')")
    for k in ("streams_endpoint", "sqs_endpoint"):
        if external[k] is not None:
            _url(external[k], k, where)
    if external["profile"] is not None and not external["profile"].strip():
        raise ConfigError(f"{where}: field 'profile' must name a profile of the AWS config "
                          "files (leave it out for the default chain)")
    if external["ca_bundle"] is not None:
        bundle = (path.parent / external["ca_bundle"]).resolve()
        if not bundle.is_file():
            raise ConfigError(f"{where}: field 'ca_bundle': no file {str(bundle)!r}")
        external["ca_bundle"] = str(bundle)
    return Region(name, aws_region, port, endpoint, where, **external)


def _url(value: str, key: str, where: str) -> None:
    url = urlsplit(value)
    if "@" in url.netloc:
        raise ConfigError(f"{where}: field {key!r}: credentials never go in a region file "
                          "(not in a URL either); georep uses the standard chain")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"{where}: field {key!r} must be an http(s) URL"
                          + (" or \"aws\"" if key == "endpoint" else "") + f", not {value!r}")
    try:
        url.port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        raise ConfigError(f"{where}: field {key!r}: bad port in {value!r}") from None


def _key(doc: dict, key: str, where: str, required: bool,
         hash_key: KeyAttr | None = None) -> KeyAttr | None:
    spec = _field(doc, key, dict, where, required)
    if spec is None:
        return None
    at = f"{where}.{key}"
    _no_unknown(spec, ("name", "type"), at)
    name = _field(spec, "name", str, at)
    kind = _field(spec, "type", str, at)
    if not 1 <= len(name.encode()) <= 255:
        raise ConfigError(f"{at}: field 'name' must be 1 to 255 bytes long, not {name!r}")
    if name == META:
        raise ConfigError(f"{at}: field 'name': {META!r} is reserved for georep's metadata")
    if hash_key is not None and name == hash_key.name:
        raise ConfigError(f"{at}: field 'name': {name!r} is already the hash key's name")
    if kind not in KEY_TYPES:
        raise ConfigError(f"{at}: field 'type' must be one of S, N, B, not {kind!r}")
    return KeyAttr(name, kind)


def load_lab(path: Path):
    doc = _read(path)
    _no_unknown(doc, LAB_FIELDS, str(path))
    tables_doc = _field(doc, "tables", dict, str(path))
    if not tables_doc:
        raise ConfigError(f"{path}: field 'tables' defines no table")
    tables = tuple(_table(tname, tdoc, f"{path}: tables.{tname}")
                   for tname, tdoc in tables_doc.items())
    rdoc = _field(doc, "replicator", dict, str(path), required=False) or {}
    settings = _settings(rdoc, f"{path}: replicator")
    links_doc = _field(doc, "links", dict, str(path), required=False) or {}
    overrides = {}
    for link, ldoc in links_doc.items():
        where = f"{path}: links.{link}"
        if not isinstance(ldoc, dict) or link.count(">") != 1:
            raise ConfigError(f"{where}: expected [links.\"src>dst\"] with replicator fields")
        overrides[link] = _settings(ldoc, where)
    return tables, ReplicatorSettings(**settings), overrides


def _table(tname: str, tdoc: Any, where: str) -> Table:
    if not isinstance(tdoc, dict):
        raise ConfigError(f"{where}: must be a table of fields")
    if tname.startswith(RESERVED_PREFIX):
        raise ConfigError(f"{where}: the name {tname!r} is reserved for georep (its own tables "
                          f"are named {RESERVED_PREFIX}*)")
    if not TABLE_NAME.fullmatch(tname):
        raise ConfigError(f"{where}: the name {tname!r} is not a DynamoDB table name (3 to 255 "
                          "letters, digits, '_', '-' or '.')")
    _no_unknown(tdoc, TABLE_FIELDS, where)
    policy = _field(tdoc, "policy", str, where, required=False) or "lww"
    if policy not in POLICIES:
        known = ", ".join(sorted(POLICIES))
        raise ConfigError(f"{where}: field 'policy' must be one of {known}, not {policy!r}")
    hash_key = _key(tdoc, "hash_key", where, True)
    range_key = _key(tdoc, "range_key", where, False, hash_key)
    max_siblings = _field(tdoc, "max_siblings", int, where, required=False)
    if max_siblings is None:
        max_siblings = 25
    if max_siblings < 1:
        raise ConfigError(f"{where}: field 'max_siblings' must be at least 1, not {max_siblings}")
    crdt = _field(tdoc, "crdt", dict, where, required=False) or {}
    for attr, kind in crdt.items():
        if not isinstance(kind, str):
            raise ConfigError(f"{where}: field 'crdt.{attr}' must be a CRDT type name")
        if attr == META or attr in (hash_key.name, range_key and range_key.name):
            raise ConfigError(f"{where}: field 'crdt.{attr}': {attr!r} is a key attribute or "
                              "reserved, not a CRDT")
    try:
        check_types(crdt)
    except ValueError as exc:
        raise ConfigError(f"{where}: field 'crdt': {exc}") from None
    if crdt and policy != "crdt":
        raise ConfigError(f"{where}: field 'crdt' needs policy = \"crdt\"")
    return Table(tname, hash_key, range_key, policy, max_siblings, dict(crdt))


def _settings(rdoc: dict, where: str) -> dict[str, Any]:
    _no_unknown(rdoc, ReplicatorSettings.__dataclass_fields__, where)
    settings = {}
    for fname, default in ReplicatorSettings.__dataclass_fields__.items():
        kind = type(default.default)
        value = _field(rdoc, fname, (int, float) if kind is float else kind, where,
                       required=False)
        if value is None:
            continue
        if not value > 0 or value == float("inf"):
            raise ConfigError(f"{where}: field {fname!r} must be positive, not {value}")
        top = SETTING_MAX.get(fname)
        if top is not None and value > top:
            raise ConfigError(f"{where}: field {fname!r} must be between 1 and {top}, not "
                              f"{value}")
        settings[fname] = kind(value)
    return settings


def load(directory: str | Path = "regions") -> LabConfig:
    """Read a regions directory: every ``*.toml`` is a region, except ``lab.toml``."""
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(f"{d}: regions directory not found")
    regions = [load_region(p) for p in sorted(d.glob("*.toml")) if p.name != LAB_FILE]
    if len(regions) < 2:
        raise ConfigError(f"{d}: a lab needs at least two region files, found {len(regions)}")
    seen: dict[str, Region] = {}
    for r in regions:
        if r.name in seen:
            raise ConfigError(f"{r.source}: field 'name': {r.name!r} is also the name in "
                              f"{seen[r.name].source}")
        seen[r.name] = r
    by_aws: dict[str, Region] = {}
    for r in regions:
        if r.aws_region in by_aws:
            raise ConfigError(
                f"{r.source}: field 'aws_region': {r.aws_region!r} is also used by "
                f"{by_aws[r.aws_region].source}; moto keeps state per AWS region id, so each "
                "lab region needs its own"
            )
        by_aws[r.aws_region] = r
    ports: dict[int, Region] = {}
    for r in regions:
        if r.port is not None and r.port in ports:
            raise ConfigError(f"{r.source}: field 'port': {r.port} is also used by "
                              f"{ports[r.port].source}")
        if r.port is not None:
            ports[r.port] = r
    tables, settings, overrides = load_lab(d / LAB_FILE)
    names = {r.name for r in regions}
    for link in overrides:
        src, dst = link.split(">")
        if src not in names or dst not in names or src == dst:
            raise ConfigError(f"{d / LAB_FILE}: links.{link}: not a link between two regions "
                              f"of {d}")
    return LabConfig(tuple(regions), tables, settings, overrides)

"""The live lab's control API: HTTP on 127.0.0.1, every request needs the lab's token.

Place in the data flow: the supervisor serves it (aiohttp); CLI commands call it through
:class:`ControlClient`. Requests carry ``Authorization: Bearer <token>``; the token is random
per lab and stored in the lab home with mode 0600. Bodies are JSON, never evaluated.

    GET  /status                 regions, links, replicators, active faults
    GET  /replicators            links, faults and replicators (no item counts: cheap to poll)
    GET  /metrics                Prometheus text format
    POST /partition              {"a": .., "b": .., "one_way": false}
    POST /isolate                {"region": ..}
    POST /latency                {"a": .., "b": .., "ms": .., "jitter": 0, "one_way": false}
    POST /flap                   {"a": .., "b": .., "period": seconds}
    POST /skew                   {"region": .., "ms": ..}   (0 clears it)
    POST /heal                   {} or {"a": .., "b": ..}  (cuts, flaps and latency; not skew)
    POST /replicator/kill        {"src": .., "dst": ..}   (SIGKILL)
    POST /replicator/start       {"src": .., "dst": .., "takeover": false}  (takeover: though one
                                 runs; the old one becomes a zombie for the lease to fence)
    POST /replicator/pause       {"src": .., "dst": ..}   (SIGSTOP: alive, frozen)
    POST /replicator/resume      {"src": .., "dst": ..}   (SIGCONT, zombies included)
    POST /checkpoint/reset       {"src": .., "dst": .., "table": null, "to": "trim-horizon"}
    POST /down                   stop the lab
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any

from aiohttp import web

from ..core.meta import TOMBSTONE_PREFIX
from ..errors import GeorepError, LabError
from .home import LabHome, pid_alive
from .linkproc import stats_path

# live items: all but those whose metadata says tombstone (format 3: a string beginning "3-";
# format 2, still read: a map whose "t" is true). Metadata a plain client wrote that says
# neither (a number, a list, any other string) is a plain write: live. A forged string
# beginning "3-" counts as a tombstone until its stamp is written back (a filter cannot check
# the keyed hash).
LIVE_FILTER = ("NOT (attribute_type(#m, :s) AND begins_with(#m, :tomb)) AND "
               "NOT #m.#t = :true")


def authorized(given: str, token: str) -> bool:
    """``given`` is ``Bearer <token>`` (compared in constant time). A header with bytes that
    are not ASCII is refused first: aiohttp hands them over as lone surrogates, which
    ``str.encode`` cannot encode (the token itself is URL-safe base64)."""
    return given.isascii() and secrets.compare_digest(given.encode(), f"Bearer {token}".encode())


def region_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A region's name from the body: a one-line LabError if missing or not a string."""
    value = body.get(name)
    if value is None and not required:
        return None
    if name not in body:
        raise LabError(f"missing field {name!r}")
    if not isinstance(value, str):
        raise LabError(f"{name!r} must be a region's name, not {value!r}")
    return value


def number_field(body: dict[str, Any], name: str, default: float | None = None) -> Any:
    """The field as given (the fault mechanism checks the number); missing: ``default``."""
    if name not in body:
        if default is None:
            raise LabError(f"missing field {name!r}")
        return default
    return body[name]


def flag_field(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise LabError(f"{name!r} must be true or false, not {value!r}")
    return value


# -- faults: each route reads its fields, the supervisor's Faults checks and applies -----------

def _partition(sup, b: dict[str, Any]) -> dict[str, Any]:
    return {"cut": sup.partition(region_field(b, "a"), region_field(b, "b"),
                                 flag_field(b, "one_way"))}


def _isolate(sup, b: dict[str, Any]) -> dict[str, Any]:
    region = region_field(b, "region")
    return {"isolated": region, "links": sup.isolate(region)}


def _latency(sup, b: dict[str, Any]) -> dict[str, Any]:
    links = sup.latency(region_field(b, "a"), region_field(b, "b"), number_field(b, "ms"),
                        number_field(b, "jitter", 0), flag_field(b, "one_way"))
    return {"latency": links, "faults": sup.faults()}


def _flap(sup, b: dict[str, Any]) -> dict[str, Any]:
    sup.flap(region_field(b, "a"), region_field(b, "b"), number_field(b, "period"))
    return {"flapping": sup.faults()["flaps"]}


def _skew(sup, b: dict[str, Any]) -> dict[str, Any]:
    region = region_field(b, "region")
    return {"region": region, "skew_ms": sup.skew(region, number_field(b, "ms"))}


def _heal(sup, b: dict[str, Any]) -> dict[str, Any]:
    a, other = region_field(b, "a", required=False), region_field(b, "b", required=False)
    return {"healed": sup.heal(a, other)}


FAULT_ROUTES = {"/partition": _partition, "/isolate": _isolate, "/latency": _latency,
                "/flap": _flap, "/skew": _skew, "/heal": _heal}


def control_app(sup) -> web.Application:
    @web.middleware
    async def auth(request: web.Request, handler):
        if not authorized(request.headers.get("Authorization", ""), sup.token):
            return web.json_response({"error": "missing or wrong lab token"}, status=401)
        try:
            return await handler(request)
        except GeorepError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            return web.json_response({"error": f"bad request: {exc!r}"}, status=400)

    async def body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        data = await request.json()
        if not isinstance(data, dict):
            raise LabError("the request body must be a JSON object")
        return data

    async def status(request):
        return web.json_response(await lab_status(sup))

    async def replicators(request):
        return web.json_response(links_status(sup))

    async def metrics(request):
        from .metrics import render

        return web.Response(body=render(str(sup.home.metrics_dir)),
                            content_type="text/plain", charset="utf-8")

    async def kill(request):
        b = await body(request)
        return web.json_response({"killed": sup.kill_replicator(b["src"], b["dst"])})

    async def start(request):
        b = await body(request)
        # the process records its own replicator-start, as at the lab's start
        return web.json_response({"started": sup.start_replicator(
            b["src"], b["dst"], takeover=flag_field(b, "takeover"))})

    async def pause(request):
        b = await body(request)
        return web.json_response({"paused": sup.pause_replicator(b["src"], b["dst"])})

    async def resume(request):
        b = await body(request)
        return web.json_response({"resumed": sup.resume_replicator(b["src"], b["dst"])})

    async def reset(request):
        b = await body(request)
        table = b.get("table")
        if table is not None and not isinstance(table, str):
            raise LabError("'table' must be a table's name")
        done = await sup.reset_checkpoint(b["src"], b["dst"], table, str(b.get("to")))
        return web.json_response({"reset": done})

    async def down(request):
        asyncio.get_running_loop().call_later(0.05, sup.stopping.set)
        return web.json_response({"stopping": True})

    def fault(handle):
        async def route(request):
            return web.json_response(handle(sup, await body(request)))
        return route

    app = web.Application(middlewares=[auth])
    app.add_routes([
        web.get("/status", status), web.get("/replicators", replicators),
        web.get("/metrics", metrics),
        *(web.post(path, fault(handle)) for path, handle in FAULT_ROUTES.items()),
        web.post("/replicator/kill", kill), web.post("/replicator/start", start),
        web.post("/replicator/pause", pause), web.post("/replicator/resume", resume),
        web.post("/checkpoint/reset", reset),
        web.post("/down", down),
    ])
    return app


async def run_control(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


async def count_described(client, table: str) -> int | None:
    """The table's ItemCount as DescribeTable gives it; None if the region does not answer."""
    try:
        desc = await asyncio.wait_for(client.describe_table(TableName=table), 5)
    except Exception:
        return None
    return desc["Table"].get("ItemCount")


async def count_live(client, table: str) -> int | None:
    """Live items in ``table`` (tombstone items of unfinished deletes excluded); None if the
    region does not answer within 5 s a page."""
    kw = {"TableName": table, "Select": "COUNT", "FilterExpression": LIVE_FILTER,
          "ExpressionAttributeNames": {"#m": "_georep", "#t": "t"},
          "ExpressionAttributeValues": {":true": {"BOOL": True}, ":s": {"S": "S"},
                                        ":tomb": {"S": TOMBSTONE_PREFIX}}}
    total = 0
    try:
        while True:
            resp = await asyncio.wait_for(client.scan(**kw), 5)
            total += resp["Count"]
            if "LastEvaluatedKey" not in resp:
                return total
            kw["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    except Exception:
        return None


async def lab_status(sup) -> dict[str, Any]:
    regions = {}
    shown = sup.shown()
    for r in sup.config.regions:
        name, proc = r.name, sup.regions.get(r.name)  # no process: an external region
        if name not in sup.clients:
            continue  # not started
        # an external region's count is DescribeTable's (free, refreshed about every 6 hours):
        # a Scan of a real table costs read capacity
        count = count_live if proc is not None else count_described
        counts = {t.name: await count(sup.clients[name], t.name) for t in sup.config.tables}
        up = (proc is None or proc.alive()) and all(c is not None for c in counts.values())
        regions[name] = {"url": shown[name], "pid": proc.pid if proc else None, "up": up,
                         "external": proc is None, "items": counts}
    return {"run_id": sup.run_id, "home": str(sup.home.path), "regions": regions,
            **links_status(sup)}


def links_status(sup) -> dict[str, Any]:
    """The links' states and each replicator's figures (from its stats file)."""
    links = {name: {"state": p.state, "proxy_port": p.port,
                    "dropped_bytes": p.dropped_bytes} for name, p in sup.proxies.items()}
    replicators = {}
    for src, dst in sup.config.links:
        link = f"{src}>{dst}"
        proc = sup.replicators.get(link)
        alive = proc is not None and proc.poll() is None
        stats = sup.home.read_json(stats_path(sup.home, src, dst)) or {}
        fresh = alive and stats.get("pid") == proc.pid
        replicators[link] = {
            "alive": alive, "pid": proc.pid if alive else None,
            "paused": alive and proc.pid in sup.paused,
            "zombies": [z.pid for z in sup.zombies.get(link, []) if z.poll() is None],
            "exit_code": sup.exit_codes.get(link),
            "lag_ms": stats.get("lag_ms") if fresh else None,
            "pending": stats.get("pending") if fresh else None,
            "pending_capped": bool(stats.get("pending_capped")) if fresh else False,
            "pending_at": stats.get("pending_at") if fresh else None,
            **{k: stats.get(k) for k in ("applied", "suppressed", "skipped", "retries",
                                        "conflicts", "repaired", "dead_lettered",
                                        "unreplicable", "foreign",
                                        "last_error")},
            "breaker": stats.get("breaker") if fresh else None,
            "dlq_depth": stats.get("dlq_depth"),
            "stats_age_s": round(time.time() - stats["updated"], 1)
            if isinstance(stats.get("updated"), int | float) else None,
            # Why its last process stopped for good (an unreadable checkpoint), if it did.
            "stopped": stats.get("stopped") if proc is not None and not alive
            and stats.get("pid") == proc.pid else None,
        }
    return {"links": links, "faults": sup.faults(), "replicators": replicators}


class ControlClient:
    """The CLI's side: finds the running lab in its home and calls the API with the token."""

    def __init__(self, home: LabHome) -> None:
        self.home = home
        self.state = home.state()
        self.token = home.token()

    def call(self, method: str, path: str, data: dict | None = None,
             timeout: float = 30.0) -> Any:
        url = f"http://127.0.0.1:{self.state['control_port']}{path}"
        payload = json.dumps(data).encode() if data is not None else None
        req = urllib.request.Request(url, data=payload, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                kind = resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except (json.JSONDecodeError, AttributeError):
                message = exc.reason
            raise LabError(message) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            pid = self.state.get("pid")
            if pid and not pid_alive(pid):
                raise LabError(f"the lab in {self.home.path} is not running") from None
            raise LabError(f"the lab's control API did not answer: {exc}") from None
        return json.loads(raw) if "json" in kind else raw.decode()

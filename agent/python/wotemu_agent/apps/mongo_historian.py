"""mongo_historian: WoTemu 0.6's historian thing, which stores the property values of observed things and
answers queries over them — kept in SQLite (in the node's memory, or in the file `db_path`).

0.6 kept the values in MongoDB at `mongo_uri`. This version stores them in SQLite, the store it is tested
with; `mongo_uri` (and 0.6's `db_name`, `timeout_ping`) are accepted so that 0.6 topologies run unchanged,
and the app says at start that MongoDB is not used.

The thing (`urn:org:fundacionctic:thing:historian`), as 0.6's:
- property `observedThings`: `[{servient, thingId}]`;
- action `list`: the `{propertyName, thingId, servient}` stored;
- action `get` `{propertyName, fromUnix?, toUnix?, thingId?, servient?, buckets?}`: the values from `fromUnix`
  (default: a minute ago) to `toUnix`, oldest first; with `buckets`, the time range of the matching values is
  cut into that many equal buckets and each bucket's first value is returned (0.6's `$bucketAuto`);
- action `write` `{propertyName, thingId, servient, value, unixTime?}`.

Every `interval` seconds it reads every property of each observed thing (`observed_things`: 0.6's JSON list of
`{servient_host, thing_id}`) and stores the values; with `downlink_servient_host` and `downlink_thing_id` it
also copies, every `downlink_interval` seconds, what another historian holds (`list`, then `get` with
`downlink_buckets`).
"""

import asyncio
import json
import logging
import sqlite3
import time

from wotemu.utils import consume_from_catalogue, wait_node
from wotemu_agent.apps._common import action_input

THING_ID = "urn:org:fundacionctic:thing:historian"

_logger = logging.getLogger("wotemu.apps.mongo_historian")


def description(thing_id=THING_ID):
    obj = {"type": "object"}
    return {
        "id": thing_id,
        "title": "Historian",
        "properties": {"observedThings": {"readOnly": True, "type": "array", "items": obj}},
        "actions": {
            "list": {"safe": True, "idempotent": False, "output": {"type": "array", "items": obj}},
            "get": {
                "safe": True,
                "idempotent": False,
                "input": {
                    "type": "object",
                    "properties": {
                        "fromUnix": {"type": "number"},
                        "toUnix": {"type": "number"},
                        "thingId": {"type": "string"},
                        "propertyName": {"type": "string"},
                        "servient": {"type": "string"},
                        "buckets": {"type": "number"},
                    },
                    "required": ["propertyName"],
                },
                "output": {"type": "array", "items": obj},
            },
            "write": {
                "safe": False,
                "idempotent": False,
                "input": {
                    "type": "object",
                    "properties": {
                        "unixTime": {"type": "number"},
                        "propertyName": {"type": "string"},
                        "thingId": {"type": "string"},
                        "servient": {"type": "string"},
                    },
                    # `value` is any JSON value (WoTPy's schemas need a type, so it is not described).
                    "required": ["propertyName", "thingId", "servient"],
                },
            },
        },
    }


class Store:
    """Property values in SQLite: (unix_time, property_name, thing_id, servient, value as JSON)."""

    def __init__(self, path=":memory:"):
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS properties ("
            " unix_time REAL NOT NULL, property_name TEXT NOT NULL, thing_id TEXT NOT NULL,"
            " servient TEXT NOT NULL, value TEXT)"
        )
        self.db.execute(
            "CREATE INDEX IF NOT EXISTS by_time ON properties (property_name, unix_time, thing_id, servient)"
        )
        self.db.commit()

    def write(self, data):
        for key in ("propertyName", "thingId", "servient"):
            if not data.get(key):
                raise ValueError("`{}` is required".format(key))
        if "value" not in data:
            raise ValueError("`value` is required")
        unix = float(data.get("unixTime") or time.time())
        self.db.execute(
            "INSERT INTO properties VALUES (?, ?, ?, ?, ?)",
            (unix, data["propertyName"], data["thingId"], data["servient"], json.dumps(data["value"], default=str)),
        )
        self.db.commit()

    def list(self):
        rows = self.db.execute(
            "SELECT DISTINCT property_name, thing_id, servient FROM properties ORDER BY 1, 2, 3"
        ).fetchall()
        return [{"propertyName": p, "thingId": t, "servient": s} for p, t, s in rows]

    def get(self, query):
        if not query or not query.get("propertyName"):
            raise ValueError("`propertyName` is required")
        sql = "SELECT unix_time, property_name, thing_id, servient, value FROM properties WHERE property_name = ?"
        args = [query["propertyName"]]
        sql += " AND unix_time >= ?"
        args.append(float(query.get("fromUnix") or time.time() - 60))
        if query.get("toUnix"):
            sql += " AND unix_time < ?"
            args.append(float(query["toUnix"]))
        for key, column in (("thingId", "thing_id"), ("servient", "servient")):
            if query.get(key):
                sql += " AND {} = ?".format(column)
                args.append(query[key])
        rows = self.db.execute(sql + " ORDER BY unix_time", args).fetchall()
        docs = [
            {"unixTime": u, "propertyName": p, "thingId": t, "servient": s, "value": json.loads(v)}
            for u, p, t, s, v in rows
        ]
        buckets = int(query.get("buckets") or 0)
        if buckets <= 0 or not docs:
            return docs
        first, last = docs[0]["unixTime"], docs[-1]["unixTime"]
        width = (last - first) / buckets or 1.0
        out, seen = [], set()
        for doc in docs:
            b = min(buckets - 1, int((doc["unixTime"] - first) / width))
            if b not in seen:
                seen.add(b)
                out.append(doc)
        return out


async def observe_things(wot, conf, store, observed, interval):
    while True:
        for item in observed:
            host, thing_id = item["servient_host"], item["thing_id"]
            try:
                thing = await consume_from_catalogue(wot, conf.port_catalogue, host, thing_id)
                for name in list(thing.properties):
                    try:
                        value = await thing.properties[name].read()
                    except Exception as exc:
                        _logger.warning("reading %s of %s failed: %s", name, thing_id, exc)
                        continue
                    store.write({"propertyName": name, "thingId": thing_id, "servient": host, "value": value})
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _logger.warning("observing %s at %s failed: %s", thing_id, host, exc)
        await asyncio.sleep(float(interval))


async def observe_downlink(wot, conf, store, host, thing_id, buckets, interval):
    await wait_node(conf=conf, name=host)
    while True:
        await asyncio.sleep(float(interval))
        to_unix = time.time()
        try:
            thing = await consume_from_catalogue(wot, conf.port_catalogue, host, thing_id)
            for prop in await thing.actions["list"].invoke(None) or []:
                query = dict(prop, toUnix=to_unix, fromUnix=to_unix - float(interval), buckets=int(buckets))
                for doc in await thing.actions["get"].invoke(query) or []:
                    store.write(doc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _logger.warning("copying from the historian at %s failed: %s", host, exc)


async def app(wot, conf, loop, observed_things=None, interval=5, db_path=":memory:", thing_id=THING_ID,
              downlink_servient_host=None, downlink_thing_id=None, downlink_buckets=1, downlink_interval=60,
              mongo_uri=None, db_name=None, timeout_ping=None):
    if bool(downlink_servient_host) != bool(downlink_thing_id):
        raise ValueError("give both downlink_servient_host and downlink_thing_id, or neither")
    if mongo_uri:
        _logger.warning(
            "mongo_uri=%s is not used: this version's historian keeps its values in SQLite (%s)", mongo_uri, db_path
        )
    observed = observed_things or []
    if isinstance(observed, str):
        observed = json.loads(observed)
    store = Store(db_path)
    exposed = wot.produce(json.dumps(description(thing_id)))

    async def things():
        return [{"servient": i["servient_host"], "thingId": i["thing_id"]} for i in observed]

    async def do_list(input_value=None):
        return store.list()

    async def do_get(input_value):
        return store.get(action_input(input_value) or {})

    async def do_write(input_value):
        store.write(action_input(input_value) or {})

    exposed.set_property_read_handler("observedThings", things)
    exposed.set_action_handler("list", do_list)
    exposed.set_action_handler("get", do_get)
    exposed.set_action_handler("write", do_write)
    exposed.expose()
    if observed:
        loop.create_task(observe_things(wot, conf, store, observed, interval))
    if downlink_servient_host:
        loop.create_task(
            observe_downlink(
                wot, conf, store, downlink_servient_host, downlink_thing_id, downlink_buckets, downlink_interval
            )
        )

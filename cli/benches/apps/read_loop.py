"""Times a tight read loop with and without the agent's interaction recording (the agent benchmark).

Each round reads a property `n` times through the recorded method and through the original WoTPy method
(`__wrapped__`), alternating to cancel drift, on an exposed thing (local, the worst case: the read itself costs
a few µs) and on the same thing consumed over HTTP on loopback (a real interaction). Prints one JSON line.
"""

import asyncio
import json
import time

from wotpy.wot.consumed.thing import ConsumedThing
from wotpy.wot.exposed.thing import ExposedThing

TD = {"id": "urn:bench", "title": "bench", "properties": {"x": {"type": "number"}}}


async def _time(fn, n):
    start = time.perf_counter()
    for _ in range(n):
        await fn()
    return time.perf_counter() - start


async def app(wot, conf, loop, n="20000", n_http="1000", rounds="5"):
    n, n_http, rounds = int(n), int(n_http), int(rounds)
    exposed = wot.produce(json.dumps(TD))
    await exposed.write_property("x", 1.0)
    exposed.expose()
    consumed = await wot.consume_from_url("http://127.0.0.1:{}/bench".format(conf.port_catalogue))
    raw_exposed = ExposedThing.read_property.__wrapped__
    raw_consumed = ConsumedThing.read_property.__wrapped__
    out = {"exposed": [0.0, 0.0], "consumed": [0.0, 0.0]}
    for _ in range(rounds):
        out["exposed"][0] += await _time(lambda: raw_exposed(exposed, "x"), n)
        out["exposed"][1] += await _time(lambda: exposed.read_property("x"), n)
        out["consumed"][0] += await _time(lambda: raw_consumed(consumed, "x"), n_http)
        out["consumed"][1] += await _time(lambda: consumed.read_property("x"), n_http)
    result = {
        k: {"plain_us": v[0] / (rounds * (n if k == "exposed" else n_http)) * 1e6,
            "recorded_us": v[1] / (rounds * (n if k == "exposed" else n_http)) * 1e6,
            "overhead_pct": (v[1] - v[0]) / v[0] * 100.0}
        for k, v in out.items()
    }
    print("WOTEMU_BENCH " + json.dumps(result), flush=True)

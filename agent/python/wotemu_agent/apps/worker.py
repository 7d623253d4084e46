"""worker: exposes a thing with an action `work` that does CPU work (`iterations` rounds of hashing)."""

import hashlib
import json
import time

from wotemu_agent.apps._common import action_input

THING_ID = "urn:org:fundacionctic:thing:worker"


def _work(iterations):
    digest = b"wotemu"
    for _ in range(iterations):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


async def app(wot, conf, loop, iterations=20000, thing_id=THING_ID):
    td = {
        "id": thing_id,
        "title": "worker",
        "actions": {"work": {"input": {"type": "object"}, "output": {"type": "object"}}},
    }
    exposed = wot.produce(json.dumps(td))

    async def handler(params):
        n = int((action_input(params) or {}).get("iterations", iterations))
        start = time.perf_counter()
        digest = await loop.run_in_executor(None, _work, n)
        return {"digest": digest, "seconds": time.perf_counter() - start}

    exposed.set_action_handler("work", handler)
    exposed.expose()

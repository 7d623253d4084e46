"""clock: exposes a thing with a `time` property (UNIX time) updated every `interval` seconds and a `tick`
event emitted at each update."""

import asyncio
import json
import time

THING_ID = "urn:org:fundacionctic:thing:clock"


async def app(wot, conf, loop, interval=1.0, thing_id=THING_ID):
    td = {
        "id": thing_id,
        "title": "clock",
        "properties": {"time": {"type": "number", "observable": True, "readOnly": True}},
        "events": {"tick": {"data": {"type": "number"}}},
    }
    exposed = wot.produce(json.dumps(td))
    await exposed.write_property("time", time.time())
    exposed.expose()

    async def tick():
        while True:
            await asyncio.sleep(float(interval))
            now = time.time()
            await exposed.write_property("time", now)
            exposed.emit_event("tick", now)

    loop.create_task(tick())

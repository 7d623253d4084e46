"""The quickstart server of WoTemu 0.6 (the gist it loaded): exposes a thing with two properties.

`async def app(wot, conf, loop, **params)`, as every wotemu app.
"""

import asyncio
import json
import logging
import random

_ID = "urn:wotemu:quickstart:thing"

_TD = {
    "id": _ID,
    "name": "Quickstart thing",
    "properties": {
        "temperature": {"type": "number", "observable": True},
        "humidity": {"type": "number", "observable": True},
    },
}

_logger = logging.getLogger(__name__)


async def app(wot, conf, loop, update_every=2.0):
    exposed = wot.produce(json.dumps(_TD))

    async def update():
        while True:
            await exposed.write_property("temperature", round(random.uniform(15.0, 30.0), 2))
            await exposed.write_property("humidity", round(random.uniform(20.0, 80.0), 2))
            await asyncio.sleep(float(update_every))

    await exposed.write_property("temperature", 21.0)
    await exposed.write_property("humidity", 50.0)
    exposed.expose()
    _logger.info("Exposed %s", _ID)
    loop.create_task(update())

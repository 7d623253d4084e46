"""reader: reads every property of `thing_id` at `servient_host` every `read_sleep` seconds."""

import asyncio
import logging

from wotemu_agent.apps._common import consume

_logger = logging.getLogger("wotemu.apps.reader")


async def app(wot, conf, loop, servient_host, thing_id=None, read_sleep=2.0, port_catalogue=None):
    port = int(port_catalogue or conf.port_catalogue)
    thing = await consume(wot, servient_host, thing_id, port)
    names = list(thing.properties.keys()) if hasattr(thing.properties, "keys") else list(thing.td.properties)
    _logger.info("Reading %s from %s", names, servient_host)

    async def read_loop():
        while True:
            for name in names:
                try:
                    await thing.read_property(name)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # recorded by the agent; keep reading
                    _logger.warning("read %s failed: %s", name, exc)
            await asyncio.sleep(float(read_sleep))

    loop.create_task(read_loop())

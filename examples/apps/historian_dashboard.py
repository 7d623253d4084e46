"""A dashboard written as WoTemu 0.6 apps are: it waits for the historian's node (`wotemu.utils.wait_node`),
consumes its thing from the node's catalogue (`consume_from_catalogue` on `conf.port_catalogue`), invokes
`get` every `interval` seconds, and records what came back with `wotemu.monitor.utils.write_metric`.
"""

import asyncio
import logging
import time

from wotemu.monitor.utils import write_metric
from wotemu.utils import consume_from_catalogue, wait_node

HISTORIAN_ID = "urn:org:fundacionctic:thing:historian"

_logger = logging.getLogger("historian_dashboard")


async def app(wot, conf, loop, servient_host, property_name, thing_id=HISTORIAN_ID, interval=5, window=60):
    await wait_node(conf=conf, name=servient_host.split(".")[0])
    historian = await consume_from_catalogue(wot, conf.port_catalogue, servient_host, thing_id)
    while True:
        start = time.time()
        try:
            values = await historian.actions["get"].invoke(
                {"propertyName": property_name, "fromUnix": start - float(window)})
            await write_metric(key="historian_get", data={
                "values": len(values or []),
                "latency": time.time() - start,
                "servient": servient_host,
            })
            _logger.info("%s values of %s from %s", len(values or []), property_name, servient_host)
        except Exception as exc:
            _logger.warning("get from %s failed: %s", servient_host, exc)
        await asyncio.sleep(float(interval))

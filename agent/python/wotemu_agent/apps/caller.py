"""caller: invokes actions of the thing `thing_id` at `servient_host` periodically.

Without `params`, the worker's `work` action every `call_sleep` seconds (`iterations` as its input). With
`params` (WoTemu 0.6's form: a JSON object, action name → input), every action of the thing in turn, each
with its input from `params` (none when absent), every `interval` seconds — or, with `lambd`, after waits
drawn from an exponential distribution of mean `lambd` seconds (a Poisson process of calls).

With `pace` "period" (the default) the period (or the drawn wait) runs from one round's start to the next's;
with "after", as WoTemu 0.6's caller, it is waited after each round (see `_common.pause`).
"""

import asyncio
import json
import logging
import random

from wotemu_agent.apps._common import check_pace, consume, pause
from wotemu_agent.apps._common import check_params  # noqa: F401  (the dry run's check of `pace`)
from wotemu_agent.apps.worker import THING_ID

_logger = logging.getLogger("wotemu.apps.caller")


async def app(wot, conf, loop, servient_host, thing_id=THING_ID, call_sleep=2.0, iterations=None,
              port_catalogue=None, params=None, timeout=300, interval=None, lambd=None, pace="period"):
    check_pace(pace)
    port = int(port_catalogue or conf.port_catalogue)
    thing = await consume(wot, servient_host, thing_id, port)
    if isinstance(params, str):
        params = json.loads(params)
    if params is None:
        calls = [("work", {"iterations": int(iterations)} if iterations else {})]
        period = float(interval or call_sleep)
    else:
        calls = [(name, (params or {}).get(name)) for name in thing.actions]
        period = float(interval or 5)
    rng = random.Random()

    def wait():
        return rng.expovariate(1.0 / float(lambd)) if lambd else period

    async def call_loop():
        while True:
            started = loop.time()
            for name, arg in calls:
                try:
                    await asyncio.wait_for(thing.invoke_action(name, arg), float(timeout))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    _logger.warning("calling %s failed: %s", name, exc)
            await asyncio.sleep(pause(pace, started, loop.time(), wait()))

    loop.create_task(call_loop())

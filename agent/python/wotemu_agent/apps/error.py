"""error: starts, waits `delay` seconds and raises, to test how failures show up."""

import asyncio


class WotemuBuiltinError(Exception):
    pass


async def app(wot, conf, loop, delay=2.0, message="Error raised on purpose by the wotemu error app"):
    await asyncio.sleep(float(delay))
    raise WotemuBuiltinError(message)

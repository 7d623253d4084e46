"""An app that does nothing: the agent's own cost, measured by the agent benchmark."""


async def app(wot, conf, loop):
    pass

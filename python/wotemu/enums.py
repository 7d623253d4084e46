"""`wotemu.enums` of WoTemu 0.6, as topology files use it."""

import enum

from wotemu import _BUILTINS


class NetworkConditions(enum.Enum):
    """Network presets (one-way delay ± jitter, rate): the values are the preset names wotemu reads."""

    GPRS = "gprs"
    EDGE = "edge"
    REGULAR_3G = "regular_3g"
    FAST_3G = "fast_3g"
    LTE = "lte"
    WIFI = "wifi"
    CABLE = "cable"


# The builtin applications, by their 0.6 path names (`BuiltinApps.READER.value == "wotemu_reader"`), built
# from wotemu's one list of builtins (`wotemu_contract::apps::BUILTINS`), which wotemu sets as
# `wotemu._BUILTINS` before this module runs.
BuiltinApps = enum.Enum(
    "BuiltinApps",
    [(member, "wotemu_" + name) for name, member in _BUILTINS],
    module=__name__,
)
BuiltinApps.__doc__ = "The builtin applications, by their 0.6 path names."


class NodePlatforms(enum.Enum):
    CONSTRAINED = "CONSTRAINED"
    GATEWAY = "GATEWAY"
    CLOUD = "CLOUD"
    UNCONSTRAINED = "UNCONSTRAINED"


def _netem(latency=None, jitter=None, rate=None):
    import json

    return json.dumps({"latency": latency, "jitter": jitter, "rate": rate})


# 0.6.0's gateway arguments of each preset: a list of JSON strings, as `Network(netem=…)` also takes them.
NETEM_CONDITIONS = {
    NetworkConditions.GPRS: [_netem(latency=700, jitter=100, rate="50kbit")],
    NetworkConditions.EDGE: [_netem(latency=700, jitter=100, rate="100kbit")],
    NetworkConditions.REGULAR_3G: [_netem(latency=300, jitter=150, rate="1500kbit")],
    NetworkConditions.FAST_3G: [_netem(latency=150, jitter=50, rate="4000kbit")],
    NetworkConditions.LTE: [_netem(latency=40, jitter=10, rate="15mbit")],
    NetworkConditions.WIFI: [_netem(latency=25, jitter=5, rate="50mbit")],
    NetworkConditions.CABLE: [_netem(latency=5, jitter=5, rate="100mbit")],
}

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

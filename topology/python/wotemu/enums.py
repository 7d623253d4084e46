"""`wotemu.enums` of WoTemu 0.6, as topology files use it."""

import enum


class NetworkConditions(enum.Enum):
    """Network presets (one-way delay ± jitter, rate): the values are the preset names wotemu reads."""

    GPRS = "gprs"
    EDGE = "edge"
    REGULAR_3G = "regular_3g"
    FAST_3G = "fast_3g"
    LTE = "lte"
    WIFI = "wifi"
    CABLE = "cable"


class BuiltinApps(enum.Enum):
    """The builtin applications, by their 0.6 path names."""

    CLOCK = "wotemu_clock"
    ERROR = "wotemu_error"
    READER = "wotemu_reader"
    SUBSCRIBER = "wotemu_subscriber"
    WORKER = "wotemu_worker"
    CALLER = "wotemu_caller"
    MONGO_HISTORIAN = "wotemu_mongo_historian"
    CAMERA = "wotemu_camera"
    DETECTOR = "wotemu_detector"

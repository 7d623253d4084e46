"""Historians at the edge and in the cloud (after WoTemu 0.6's `historian` example).

A clock on the field Wi-Fi; an edge historian (0.6's `mongo_historian`, which this version keeps in SQLite)
stores its property values every 2 s; a cloud historian, over 3G, copies what the edge one holds every 10 s
(`list`, then `get` in 5 buckets); a dashboard (`apps/historian_dashboard.py`, a 0.6-style app using
`wotemu.utils` and `wotemu.monitor.utils`) asks the cloud historian for the last minute of values and records
how many it got as the app metric `historian_get`.

    sudo wotemu run examples/historian.py --duration 60s
"""

import json

from wotemu.enums import NetworkConditions
from wotemu.topology.models import BuiltinApps, Network, Node, NodeApp, Topology

CLOCK_ID = "urn:org:fundacionctic:thing:clock"
HISTORIAN_ID = "urn:org:fundacionctic:thing:historian"


def topology():
    field = Network(name="field", conditions=NetworkConditions.WIFI)
    uplink = Network(name="uplink", conditions=NetworkConditions.REGULAR_3G)

    clock = Node(name="clock", app=NodeApp(path=BuiltinApps.CLOCK, http=True), networks=[field])

    edge = Node(
        name="edge_historian",
        app=NodeApp(path=BuiltinApps.MONGO_HISTORIAN, http=True, params={
            "mongo_uri": "mongodb://unused",
            "observed_things": json.dumps([{"servient_host": "clock.field", "thing_id": CLOCK_ID}]),
            "interval": 2,
        }),
        networks=[field, uplink])

    cloud = Node(
        name="cloud_historian",
        app=NodeApp(path=BuiltinApps.MONGO_HISTORIAN, http=True, params={
            "mongo_uri": "mongodb://unused",
            "downlink_servient_host": "edge_historian.uplink",
            "downlink_thing_id": HISTORIAN_ID,
            "downlink_buckets": 5,
            "downlink_interval": 10,
        }),
        networks=[uplink])

    dashboard = Node(
        name="dashboard",
        app=NodeApp(path="apps/historian_dashboard.py", http=True, params={
            "servient_host": "cloud_historian.uplink",
            "property_name": "time",
        }),
        networks=[uplink])

    return Topology(nodes=[clock, edge, cloud, dashboard])

"""scenario.yml as a WoTemu 0.6-style file: `Topology` takes `scenario=` (the same events as in YAML)."""

from wotemu.enums import NetworkConditions
from wotemu.topology.models import BuiltinApps, Network, Node, NodeApp, Topology

_THING = "urn:wotemu:quickstart:thing"


def topology():
    net = Network(name="3g", conditions=NetworkConditions.REGULAR_3G)
    server = Node(
        name="server",
        app=NodeApp(path="apps/quickstart_server.py", http=True),
        networks=[net])
    reader = Node(
        name="reader",
        app=NodeApp(path=BuiltinApps.READER, params={"servient_host": "server.3g", "thing_id": _THING}),
        networks=[net],
        scale=4)
    scenario = [
        {"at": "15s", "kill": "reader.1"},
        {"at": "30s", "for": "10s", "partition": {"network": net}},
        {"at": "45s", "for": "5s", "pause": {"node": reader, "share": "50%"}},
        {"at": "60s", "for": "15s", "conditions": {"network": net, "conditions": NetworkConditions.GPRS}},
    ]
    return Topology(nodes=[server, reader], scenario=scenario)

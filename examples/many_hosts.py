"""many_hosts.yml as a WoTemu 0.6 Python file: `placement=` takes wotemu's form or the Docker SDK's
`docker.types.Placement`."""

from docker.types import Placement
from wotemu.enums import NetworkConditions
from wotemu.topology.models import (BuiltinApps, Network, Node, NodeApp,
                                    NodeResources, Topology)


def topology():
    network_3g = Network(
        name="3g",
        conditions=NetworkConditions.REGULAR_3G,
        placement_gw={"host": "worker-2"})

    node_server = Node(
        name="server",
        app=NodeApp(path="apps/quickstart_server.py", http=True),
        networks=[network_3g],
        placement={"host": "manager"})

    node_reader = Node(
        name="reader",
        app=NodeApp(
            path=BuiltinApps.READER,
            params={
                "servient_host": "server.3g",
                "thing_id": "urn:wotemu:quickstart:thing"
            }),
        networks=[network_3g],
        resources=NodeResources(mem_limit="150M"),
        scale=4,
        placement=Placement(
            constraints=["node.role == worker"],
            preferences=[("spread", "node.labels.wotemu.host")]))

    return Topology(nodes=[node_server, node_reader])

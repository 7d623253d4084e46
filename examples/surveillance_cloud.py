"""Video surveillance, detection in the cloud (after WoTemu 0.6's `surveillance_cloud` example).

Two mock cameras send their frames over LTE to a face detector in the cloud: the node `cloud` on the network
`cloud` (a node may share its network's name, as in 0.6). The detector centres the cameras on the faces it
finds with their `controlPTZ` action. Compare with `surveillance_edge_constrained.py`, where the detector sits
behind a 3G link on a node with a quarter of a CPU.

    sudo wotemu run examples/surveillance_cloud.py --duration 60s
"""

import json

from wotemu.enums import NetworkConditions
from wotemu.topology.models import BuiltinApps, Network, Node, NodeApp, NodeResources, Topology

CAMERAS = ["camera_a", "camera_b"]


def topology():
    network = Network(name="cloud", conditions=NetworkConditions.LTE)

    cameras = [
        Node(name=name, app=NodeApp(path=BuiltinApps.CAMERA, http=True), networks=[network],
             resources=NodeResources(mem_limit="256M"))
        for name in CAMERAS
    ]

    detector = Node(
        name="cloud",
        app=NodeApp(
            path=BuiltinApps.DETECTOR,
            http=True,
            params={"cameras": json.dumps([{"servient_host": "{}.cloud".format(c)} for c in CAMERAS])}),
        networks=[network],
        resources=NodeResources(mem_limit="512M"))

    return Topology(nodes=cameras + [detector])

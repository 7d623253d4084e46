"""Video surveillance, detection on a constrained edge node (after WoTemu 0.6's
`surveillance_edge_constrained` example).

The same cameras and detector as `surveillance_cloud.py`, but the detector runs on a small edge node (a quarter
of a CPU, 256 MB) reached over a regular 3G link (300 ± 150 ms, 1.5 Mbit/s): frames queue on the link and wait
for the CPU, and the report's `detection_latency` metric shows by how much.

    sudo wotemu run examples/surveillance_edge_constrained.py --duration 60s
"""

import json

from wotemu.enums import NetworkConditions
from wotemu.topology.models import BuiltinApps, Network, Node, NodeApp, NodeResources, Topology

CAMERAS = ["camera_a", "camera_b"]


def topology():
    network = Network(name="edge", conditions=NetworkConditions.REGULAR_3G)

    cameras = [
        Node(name=name, app=NodeApp(path=BuiltinApps.CAMERA, http=True), networks=[network],
             resources=NodeResources(mem_limit="256M"))
        for name in CAMERAS
    ]

    detector = Node(
        name="edge",
        app=NodeApp(
            path=BuiltinApps.DETECTOR,
            http=True,
            params={"cameras": json.dumps([{"servient_host": "{}.edge".format(c)} for c in CAMERAS])}),
        networks=[network],
        resources=NodeResources(cpu_limit=0.25, mem_limit="256M"))

    return Topology(nodes=cameras + [detector])

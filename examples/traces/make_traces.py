#!/usr/bin/env python3
"""Writes the example traces of this folder, synthetic and reproducible (a fixed seed, no data from
elsewhere), so that they can be regenerated and changed freely:

- cellular.csv: a cellular link as a walk would see it, one row per second for 120 s: the delay, its
  jitter, the rate each way and the loss drift, with a 10 s fade (high delay, low rate, 5 % loss) at 60 s.
- commute.mahi: a mahimahi packet-delivery trace (one millisecond timestamp per 1500-byte delivery
  opportunity) of 60 s whose capacity swings between about 0.5 and 6 Mbit/s.
- walk.csv: a node moving along a path (WALK: where it is at each time, metres from its access point at
  (0, 0), straight lines between the points) turned into its link's conditions second by second by a
  distance -> conditions table (RANGES, the first band whose distance is not below the node's); beyond the
  last band the node is out of range (every packet lost). Change WALK and RANGES to make your own.

Usage: python3 examples/traces/make_traces.py   (writes beside this script)
"""

import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


def cellular(path):
    rnd = random.Random(20261129)
    delay, rate = 60.0, 8_000_000.0
    with open(path, "w") as f:
        f.write("# Synthetic cellular link, one row per second (examples/traces/make_traces.py).\n")
        f.write("time,delay,jitter,rate,rate_up,loss\n")
        for t in range(120):
            delay = min(max(delay + rnd.gauss(0, 6), 30), 150)
            rate = min(max(rate * math.exp(rnd.gauss(0, 0.15)), 1_000_000), 20_000_000)
            fade = 60 <= t < 70
            d = 400 if fade else delay
            r = 200_000 if fade else rate
            loss = 5 if fade else round(max(0.0, rnd.gauss(0.3, 0.2)), 2)
            f.write(f"{t},{d:.0f},{d / 10:.0f},{r:.0f},{r / 4:.0f},{loss}\n")


def commute(path):
    rnd = random.Random(7)
    with open(path, "w") as f:
        for second in range(60):
            mbit = 3.25 + 2.75 * math.sin(second / 60 * 2 * math.pi * 2) + rnd.uniform(-0.3, 0.3)
            per_ms = max(mbit, 0.5) * 1e6 / 8 / 1500 / 1000  # opportunities per millisecond
            acc = 0.0
            for ms in range(1000):
                acc += per_ms
                while acc >= 1.0:
                    f.write(f"{second * 1000 + ms}\n")
                    acc -= 1.0


# (time s, x m, y m): 10 m/s away from the access point, 10 s out of range, then back.
WALK = [(0, 20, 0), (30, 320, 0), (40, 320, 40), (70, 20, 0)]
# (up to this distance m, delay ms, rate bit/s, loss %): a Wi-Fi access point's cell as it fades.
RANGES = [
    (50, 10, 20_000_000, 0.0),
    (150, 30, 6_000_000, 0.0),
    (250, 80, 1_000_000, 1.0),
    (300, 200, 200_000, 5.0),
]


def position(t):
    """Where the node is at `t` s: on the straight line between the points around it."""
    for (t0, x0, y0), (t1, x1, y1) in zip(WALK, WALK[1:]):
        if t0 <= t <= t1:
            f = (t - t0) / (t1 - t0)
            return x0 + f * (x1 - x0), y0 + f * (y1 - y0)
    return WALK[-1][1], WALK[-1][2]


def conditions(distance):
    """The link's (delay ms, rate bit/s, loss %) at `distance` m from the access point."""
    for reach, delay, rate, loss in RANGES:
        if distance <= reach:
            return delay, rate, loss
    return RANGES[-1][1], RANGES[-1][2], 100.0


def walk(path):
    with open(path, "w") as f:
        f.write("# A node walking away from its access point and back (examples/traces/make_traces.py).\n")
        f.write("time,delay,jitter,rate,rate_up,loss\n")
        for t in range(WALK[-1][0]):
            x, y = position(t)
            delay, rate, loss = conditions(math.hypot(x, y))
            f.write(f"{t},{delay},{delay / 10:g},{rate},{rate // 2},{loss:g}\n")


if __name__ == "__main__":
    cellular(os.path.join(HERE, "cellular.csv"))
    commute(os.path.join(HERE, "commute.mahi"))
    walk(os.path.join(HERE, "walk.csv"))

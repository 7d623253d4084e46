"""`wotemu.monitor.utils` of WoTemu 0.6: an app's own metrics.

`await write_metric(key, data)` records `data` (a dict, with `created_at` added as 0.6 did) as a row of the
dataset's `app` table under `key`; the report draws its numeric fields over time, per node. Inside the
wotemu agent only (it ships the rows with the node's other records).
"""

import copy
import json
import time


async def write_metric(key, data):
    try:
        from wotemu_agent import recorder
    except ImportError as exc:  # pragma: no cover - outside the agent
        raise RuntimeError("write_metric works inside a wotemu agent only") from exc
    rec = recorder()
    if rec is None:
        raise RuntimeError("write_metric works inside a running wotemu agent only")
    value = copy.copy(data) if isinstance(data, dict) else {"value": data}
    value["created_at"] = time.time()
    rec.app_value(str(key), json.dumps(value, default=str))

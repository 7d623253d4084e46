"""detector: face detection on the frames of cameras, as WoTemu 0.6's `detector` app.

`cameras` is 0.6's parameter: a JSON list (or a list) of `{servient_host, thing_id?, frame_event?}`. The
detector waits for each camera's node, consumes its thing from its catalogue and subscribes to its frames
(resubscribing after an error). Frames go through a last-in-first-out queue of `queue_maxsize` (0.6's
parameter; 5 by default here): the newest frames are searched first, new frames are dropped when it is full,
and frames older than 10 s are skipped, as in 0.6. Each is decoded and searched for faces with OpenCV's Haar
cascade (`haarcascade_frontalface_default.xml`, shipped inside opencv-python-headless) on a worker thread.
Every frame records the app metric `detection_latency` (0.6's fields: `time_capture`, `time_arrival`,
`time_detect`, `latency_frame`, `latency_detect`, `detect_cost`, `camera_id`, and `faces`).
A frame with faces becomes the camera's entry in the `latestDetections` property and, unless the camera is
still moving, a `controlPTZ` invocation that centres the first face (`pan`, `tilt` in pixels, with 0.6's
time fields).
"""

import asyncio
import base64
import functools
import json
import logging
import os
import time

import cv2
import numpy as np

from wotemu.monitor.utils import write_metric
from wotemu.utils import consume_from_catalogue, wait_node

THING_ID = "urn:org:fundacionctic:thing:wotemu:detector"
DEFAULT_CAMERA_ID = "urn:org:fundacionctic:thing:wotemu:camera"
DEFAULT_FRAME_EVENT = "jpgVideoFrame"
PTZ_ACTION = "controlPTZ"
METRIC_LATENCY = "detection_latency"
QUEUE_MAXSIZE = 5
QUEUE_MAX_SECONDS = 10.0

_logger = logging.getLogger("wotemu.apps.detector")


def description(thing_id=THING_ID):
    return {
        "id": thing_id,
        "title": "Camera detection",
        "properties": {
            "cameras": {
                "readOnly": True,
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "servient_host": {"type": "string"},
                        "thing_id": {"type": "string"},
                        "frame_event": {"type": "string"},
                    },
                    "required": ["servient_host"],
                },
            },
            "latestDetections": {
                "type": "array",
                "readOnly": True,
                "items": {
                    "type": "object",
                    "properties": {
                        "cameraId": {"type": "string"},
                        "jpgB64": {"type": "string"},
                        "faceLocations": {"type": "array"},
                        "unixTime": {"type": "number"},
                    },
                    "required": ["cameraId", "jpgB64", "faceLocations", "unixTime"],
                },
            },
        },
    }


class FaceDetector:
    """OpenCV's frontal face Haar cascade."""

    def __init__(self, scale_factor=1.1, min_neighbors=5):
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError("cannot load the Haar cascade {}".format(path))
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)

    def faces(self, frame):
        """Face boxes (top, right, bottom, left) — 0.6's face_recognition order — in a BGR or grey frame."""
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes = self.cascade.detectMultiScale(grey, self.scale_factor, self.min_neighbors)
        return [(int(y), int(x + w), int(y + h), int(x)) for (x, y, w, h) in boxes]

    def faces_in_jpg(self, b64_jpg):
        data = np.frombuffer(base64.b64decode(b64_jpg), np.uint8)
        frame = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if frame is None:
            raise ValueError("not a JPEG image")
        return frame.shape, self.faces(frame)


def parse_cameras(cameras):
    if isinstance(cameras, str):
        cameras = json.loads(cameras)
    if not isinstance(cameras, list) or not all(isinstance(c, dict) and c.get("servient_host") for c in cameras):
        raise ValueError("`cameras` must be a JSON list of {servient_host, thing_id?, frame_event?}")
    return cameras


def camera_key(camera):
    return "{} :: {}".format(camera["servient_host"], camera.get("thing_id", DEFAULT_CAMERA_ID))


class Detector:
    def __init__(self, wot, conf, cameras, detector, queue_maxsize=QUEUE_MAXSIZE):
        self.wot = wot
        self.conf = conf
        self.cameras = cameras
        self.detector = detector
        self.queue = asyncio.LifoQueue(maxsize=max(1, int(queue_maxsize)))
        self.store = []
        self.locks = {}
        self.things = {}

    def on_frame(self, cam_id, item):
        data = item.data if hasattr(item, "data") else item
        try:
            self.queue.put_nowait(
                {
                    "b64_jpg": data["b64_jpg"],
                    "time_capture": float(data["time_capture"]),
                    "time_arrival": time.time(),
                    "cam_id": cam_id,
                }
            )
        except asyncio.QueueFull:
            _logger.debug("detection queue full: frame of %s dropped", cam_id)

    async def subscribe(self, camera, failed):
        host = camera["servient_host"]
        thing_id = camera.get("thing_id", DEFAULT_CAMERA_ID)
        cam_id = camera_key(camera)
        await wait_node(conf=self.conf, name=host)
        thing = await consume_from_catalogue(self.wot, self.conf.port_catalogue, host, thing_id)
        self.things[cam_id] = thing
        loop = asyncio.get_running_loop()

        def on_error(err):
            _logger.warning("[%s] subscription error: %s", cam_id, err)
            loop.call_soon_threadsafe(failed.set)

        event = camera.get("frame_event", DEFAULT_FRAME_EVENT)
        return thing.events[event].subscribe(on_next=functools.partial(self.on_frame, cam_id), on_error=on_error)

    async def subscriptions(self):
        failed = asyncio.Event()
        while True:
            failed.clear()
            subs = []
            try:
                subs = await asyncio.gather(*[self.subscribe(c, failed) for c in self.cameras])
                await failed.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _logger.warning("subscribing to the cameras failed: %s", exc)
                await asyncio.sleep(2)
            finally:
                for sub in subs:
                    try:
                        sub.dispose()
                    except Exception as exc:
                        _logger.debug("disposing of a subscription failed: %s", exc)

    async def ptz(self, cam_id, lock, data):
        async with lock:
            try:
                await self.things[cam_id].actions[PTZ_ACTION].invoke(data)
            except Exception as exc:
                _logger.warning("[%s] PTZ control failed: %s", cam_id, exc)

    async def process(self):
        loop = asyncio.get_running_loop()
        while True:
            item = await self.queue.get()
            if time.time() - item["time_arrival"] >= QUEUE_MAX_SECONDS:
                continue
            cam_id = item["cam_id"]
            before = time.time()
            try:
                shape, faces = await loop.run_in_executor(None, self.detector.faces_in_jpg, item["b64_jpg"])
            except Exception as exc:
                _logger.warning("[%s] frame not readable: %s", cam_id, exc)
                continue
            done = time.time()
            await write_metric(
                key=METRIC_LATENCY,
                data={
                    "time_capture": item["time_capture"],
                    "time_arrival": item["time_arrival"],
                    "time_detect": done,
                    "latency_frame": item["time_arrival"] - item["time_capture"],
                    "latency_detect": done - item["time_arrival"],
                    "detect_cost": done - before,
                    "camera_id": cam_id,
                    "faces": len(faces),
                },
            )
            if not faces:
                continue
            _logger.info("[%s] faces: %s", cam_id, faces)
            self.store[:] = [d for d in self.store if d["cameraId"] != cam_id]
            self.store.append(
                {"cameraId": cam_id, "jpgB64": item["b64_jpg"], "faceLocations": faces, "unixTime": item["time_capture"]}
            )
            lock = self.locks.setdefault(cam_id, asyncio.Lock())
            if lock.locked() or cam_id not in self.things:
                continue
            top, right, bottom, left = faces[0]
            height, width = shape[0], shape[1]
            loop.create_task(
                self.ptz(
                    cam_id,
                    lock,
                    {
                        "pan": (left + right) / 2 - width / 2,
                        "tilt": (top + bottom) / 2 - height / 2,
                        "time_capture": item["time_capture"],
                        "time_arrival": item["time_arrival"],
                        "time_detect": done,
                    },
                )
            )


async def app(wot, conf, loop, cameras, queue_maxsize=QUEUE_MAXSIZE, thing_id=THING_ID, scale_factor=1.1,
              min_neighbors=5):
    cameras = parse_cameras(cameras)
    detector = Detector(wot, conf, cameras, FaceDetector(scale_factor, min_neighbors), queue_maxsize)
    exposed = wot.produce(json.dumps(description(thing_id)))

    async def latest():
        return list(detector.store)

    async def listed():
        return cameras

    exposed.set_property_read_handler("latestDetections", latest)
    exposed.set_property_read_handler("cameras", listed)
    exposed.expose()
    loop.create_task(detector.process())
    loop.create_task(detector.subscriptions())

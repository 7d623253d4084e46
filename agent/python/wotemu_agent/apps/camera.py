"""camera: a mock video camera with pan, tilt and zoom, as WoTemu 0.6's `camera` app exposes it.

The camera looks at a panorama made of the sample photographs that scikit-image ships in its package (nothing
is downloaded; the folder `WOTEMU_SAMPLE_PHOTOS` names, when set, holds the same files, as in wotemu's vision image): a 320×240 view of it at `fps` frames per second (0.6's 12). It patrols: it holds still on a
photograph for `hold_secs`, then pans (`pan_speed` pixels/s) to the next one, starting on the astronaut. Naive motion detection as 0.6's: the mean absolute difference between
consecutive grey frames over the last second; a frame is emitted as the `jpgVideoFrame` event
(`{time_capture, b64_jpg}`, JPEG quality 60) only while that score is above `motion_threshold`, so a camera
holding still sends nothing.

The `controlPTZ` action really moves the view: its input may hold `pan` and `tilt` (pixels of the current
frame to move the view's centre by) and `zoom` (1 to 4); the move takes |N(0, 1)| seconds as in 0.6, after
which the camera stays on its target for `track_secs` before patrolling again. With `time_capture` in the
input, the app metric `ptz_latency` records now − time_capture with the input, as 0.6 did. The action replies
with its input.
"""

import asyncio
import base64
import collections
import importlib.util
import json
import logging
import os
import random
import time

import cv2
import numpy as np

from wotemu.monitor.utils import write_metric
from wotemu_agent.apps._common import action_input

THING_ID = "urn:org:fundacionctic:thing:wotemu:camera"
FRAME_EVENT = "jpgVideoFrame"
PTZ_ACTION = "controlPTZ"
WIDTH, HEIGHT = 320, 240
JPEG_QUALITY = 60
METRIC_PTZ_LATENCY = "ptz_latency"
# The sample photographs the panorama is made of (scikit-image's package data; two of them show faces).
SCENE = ("coffee.png", "astronaut.png", "chelsea.png", "camera.png", "rocket.jpg", "motorcycle_left.png")

_logger = logging.getLogger("wotemu.apps.camera")


def description(thing_id=THING_ID):
    return {
        "id": thing_id,
        "title": "Mock video camera",
        "properties": {
            "ptz": {
                "type": "object",
                "readOnly": True,
                "description": "where the camera looks: pan and tilt (pixels of the panorama), zoom",
            }
        },
        "actions": {
            PTZ_ACTION: {
                "safe": True,
                "idempotent": False,
                # WoTPy keeps only the described fields of an object input.
                "input": {
                    "type": "object",
                    "properties": {
                        k: {"type": "number"}
                        for k in ("pan", "tilt", "zoom", "time_capture", "time_arrival", "time_detect")
                    },
                },
            }
        },
        "events": {FRAME_EVENT: {"data": {"type": "object"}}},
    }


def _sample_dir():
    # The vision image carries the photographs alone (scikit-image and SciPy weigh 200 MB).
    folder = os.environ.get("WOTEMU_SAMPLE_PHOTOS")
    if folder:
        return folder
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise RuntimeError("the camera needs scikit-image's sample photographs: pip install scikit-image")
    return os.path.join(os.path.dirname(spec.origin), "data")


def _photos(height):
    folder = _sample_dir()
    parts = []
    for name in SCENE:
        img = cv2.imread(os.path.join(folder, name), cv2.IMREAD_COLOR)
        if img is None:
            raise RuntimeError("cannot read the sample photograph {}".format(os.path.join(folder, name)))
        w = int(round(img.shape[1] * height / img.shape[0]))
        parts.append(cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA))
    return parts


def panorama(height=360):
    """The scene: the sample photographs side by side, `height` pixels high (BGR)."""
    return np.hstack(_photos(height))


def photo_centres(height=360):
    """The x of each photograph's centre in the panorama."""
    out, x = [], 0
    for p in _photos(height):
        out.append(x + p.shape[1] / 2)
        x += p.shape[1]
    return out


class View:
    """A pan-tilt-zoom window over the panorama."""

    def __init__(self, scene, x=None, y=None, zoom=1.0):
        self.scene = scene
        self.h, self.w = scene.shape[:2]
        self.zoom = 1.0
        self.x = float(WIDTH / 2 if x is None else x)
        self.y = float(self.h / 2 if y is None else y)
        self.set(self.x, self.y, zoom)

    def set(self, x, y, zoom=None):
        if zoom is not None:
            self.zoom = float(min(4.0, max(1.0, zoom)))
        half_w, half_h = WIDTH / 2 / self.zoom, HEIGHT / 2 / self.zoom
        self.x = float(min(self.w - half_w, max(half_w, x)))
        self.y = float(min(self.h - half_h, max(half_h, y)))

    def move(self, dx, dy, zoom=None):
        """Moves the centre by (dx, dy) pixels of the current frame."""
        self.set(self.x + dx / self.zoom, self.y + dy / self.zoom, zoom)

    def state(self):
        return {"pan": round(self.x, 1), "tilt": round(self.y, 1), "zoom": round(self.zoom, 2)}

    def frame(self):
        half_w, half_h = WIDTH / 2 / self.zoom, HEIGHT / 2 / self.zoom
        x0, y0 = int(round(self.x - half_w)), int(round(self.y - half_h))
        x1, y1 = x0 + int(round(2 * half_w)), y0 + int(round(2 * half_h))
        crop = self.scene[y0:y1, x0:x1]
        if crop.shape[1] != WIDTH or crop.shape[0] != HEIGHT:
            crop = cv2.resize(crop, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
        return crop


class Motion:
    """0.6's naive motion score: the mean absolute difference of consecutive grey frames in a window."""

    def __init__(self, size):
        self.frames = collections.deque([], max(2, int(size)))

    def score(self, frame):
        self.frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.int16))
        if len(self.frames) < 2:
            return 0.0
        f = list(self.frames)
        return float(np.mean([np.mean(np.abs(b - a)) for a, b in zip(f, f[1:])]))


def to_b64_jpg(frame, quality=JPEG_QUALITY):
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


class Camera:
    def __init__(self, fps, motion_threshold, hold_secs, pan_speed, track_secs, seed=None):
        self.rng = random.Random(seed)
        self.view = View(panorama())
        self.fps = float(fps)
        self.motion = Motion(self.fps)
        self.threshold = float(motion_threshold)
        self.hold_secs = float(hold_secs)
        self.pan_speed = float(pan_speed)
        self.track_secs = float(track_secs)
        # Sensor noise, precomputed (a few frames, cycled): a still camera's frames are not identical.
        noise_rng = np.random.default_rng(seed)
        self.noise = [noise_rng.normal(0, 2.0, (HEIGHT, WIDTH, 3)).astype(np.int16) for _ in range(4)]
        self.tick = 0
        # The patrol stops at each photograph, starting on the astronaut, tilted up a little so that the
        # faces of the astronaut and the cameraman are in view as the camera passes them.
        self.stops = photo_centres()
        self.stop = 2 % len(self.stops)
        self.view.set(self.stops[1], self.view.h / 2 - 40)
        self.hold_until = time.time() + self.hold_secs
        self.tracking_until = 0.0
        self.moving = False

    def patrol(self, dt):
        """Advances the patrol by `dt` seconds."""
        now = time.time()
        if self.moving or now < self.tracking_until or now < self.hold_until:
            return
        target = self.stops[self.stop]
        step = self.pan_speed * dt
        if abs(target - self.view.x) <= step:
            self.view.set(target, self.view.y)
            self.stop = (self.stop + 1) % len(self.stops)
            self.hold_until = now + self.hold_secs
        else:
            self.view.set(self.view.x + step * (1 if target > self.view.x else -1), self.view.y)

    def capture(self):
        frame = self.view.frame().astype(np.int16) + self.noise[self.tick % len(self.noise)]
        self.tick += 1
        return np.clip(frame, 0, 255).astype(np.uint8)

    async def ptz(self, data):
        """Moves the view as `data` (the action's input) says; returns the input."""
        data = dict(data or {})
        _logger.info("controlPTZ %s", data)
        if data.get("time_capture"):
            latency = time.time() - float(data["time_capture"])
            data["latency_ptz"] = latency
            await write_metric(key=METRIC_PTZ_LATENCY, data=data)
        self.moving = True
        try:
            await asyncio.sleep(abs(self.rng.gauss(0.0, 1.0)))
            self.view.move(float(data.get("pan", 0) or 0), float(data.get("tilt", 0) or 0), data.get("zoom"))
        finally:
            self.moving = False
            self.tracking_until = time.time() + self.track_secs
        return data

    async def run(self, exposed):
        period = 1.0 / self.fps
        last = time.time()
        while True:
            start = time.time()
            self.patrol(start - last)
            last = start
            frame = self.capture()
            if self.motion.score(frame) > self.threshold:
                exposed.emit_event(FRAME_EVENT, {"time_capture": time.time(), "b64_jpg": to_b64_jpg(frame)})
            await asyncio.sleep(max(0.0, period - (time.time() - start)))


async def app(wot, conf, loop, fps=12, motion_threshold=6.0, hold_secs=2.0, pan_speed=80.0, track_secs=5.0,
              thing_id=THING_ID, seed=None):
    camera = Camera(fps, motion_threshold, hold_secs, pan_speed, track_secs, seed)
    exposed = wot.produce(json.dumps(description(thing_id)))

    async def ptz_handler(input_value):
        return await camera.ptz(action_input(input_value))

    async def ptz_state():
        return camera.view.state()

    exposed.set_action_handler(PTZ_ACTION, ptz_handler)
    exposed.set_property_read_handler("ptz", ptz_state)
    exposed.expose()
    _logger.info("camera %s at %s fps, looking at %s", thing_id, fps, camera.view.state())
    loop.create_task(camera.run(exposed))

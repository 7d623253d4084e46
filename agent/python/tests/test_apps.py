"""Unit tests of the camera, detector and historian apps' logic on real frames and a real SQLite store.

Run by `cargo nextest` (agent/tests/it/python_apps.rs) with the checkout's venv:
    PYTHONPATH=agent/python:python .venv/bin/python -m unittest discover -s agent/python/tests -v
"""

import asyncio
import base64
import os
import sys
import time
import unittest

import cv2
import numpy as np

# `wotemu.enums` reads the one list of builtins that wotemu sets before it imports the package.
import wotemu

wotemu._BUILTINS = [("clock", "CLOCK"), ("camera", "CAMERA")]

from wotemu.config import ConfigVars, EnvConfig, get_env_config  # noqa: E402
from wotemu_agent.apps import _common, camera, detector, mongo_historian, reader  # noqa: E402


def sample(name):
    return cv2.imread(os.path.join(camera._sample_dir(), name), cv2.IMREAD_COLOR)


class CameraTest(unittest.TestCase):
    def test_the_view_is_a_frame_of_the_panorama_and_moves_with_ptz(self):
        scene = camera.panorama()
        self.assertGreater(scene.shape[1], 4 * camera.WIDTH)
        view = camera.View(scene)
        before = view.frame()
        self.assertEqual(before.shape, (camera.HEIGHT, camera.WIDTH, 3))
        view.move(200, 0)
        after = view.frame()
        self.assertEqual(view.state()["pan"], camera.WIDTH / 2 + 200)
        self.assertGreater(float(np.mean(np.abs(after.astype(int) - before.astype(int)))), 10.0)
        view.move(0, 0, zoom=2)
        self.assertEqual(view.state()["zoom"], 2.0)
        self.assertEqual(view.frame().shape, (camera.HEIGHT, camera.WIDTH, 3))
        # The view stays inside the scene.
        view.move(-10**6, -10**6)
        self.assertGreaterEqual(view.x, camera.WIDTH / 4)

    def test_motion_is_low_while_still_and_high_while_panning(self):
        cam = camera.Camera(fps=12, motion_threshold=6.0, hold_secs=0, pan_speed=60, track_secs=0, seed=1)
        still = camera.Motion(12)
        scores = [still.score(cam.capture()) for _ in range(12)]
        self.assertLess(max(scores), 6.0, scores)
        moving = camera.Motion(12)
        scores = []
        for _ in range(12):
            cam.view.move(5, 0)
            scores.append(moving.score(cam.capture()))
        self.assertGreater(scores[-1], 6.0, scores)

    def test_a_frame_is_a_base64_jpeg(self):
        frame = camera.View(camera.panorama()).frame()
        data = base64.b64decode(camera.to_b64_jpg(frame))
        self.assertEqual(data[:2], b"\xff\xd8")
        back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        self.assertEqual(back.shape, frame.shape)

    def test_ptz_moves_the_view_and_records_its_latency(self):
        cam = camera.Camera(fps=12, motion_threshold=6.0, hold_secs=0, pan_speed=60, track_secs=5, seed=3)
        recorded = []

        async def write_metric(key, data):
            recorded.append((key, dict(data)))

        camera.write_metric = write_metric
        x = cam.view.x
        reply = asyncio.run(cam.ptz({"pan": 40, "tilt": 0, "time_capture": time.time() - 0.5}))
        self.assertEqual(cam.view.x, x + 40)
        self.assertEqual(reply["pan"], 40)
        self.assertEqual(recorded[0][0], "ptz_latency")
        self.assertGreaterEqual(recorded[0][1]["latency_ptz"], 0.5)


class DetectorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.faces = detector.FaceDetector()

    def test_a_face_is_found_in_a_photograph_of_a_person(self):
        boxes = self.faces.faces(sample("astronaut.png"))
        self.assertGreaterEqual(len(boxes), 1, boxes)
        top, right, bottom, left = boxes[0]
        self.assertLess(top, bottom)
        self.assertLess(left, right)

    def test_no_face_in_a_blank_frame_or_a_cup_of_coffee(self):
        blank = np.full((240, 320, 3), 128, np.uint8)
        self.assertEqual(self.faces.faces(blank), [])
        self.assertEqual(self.faces.faces(sample("coffee.png")), [])

    def test_a_camera_frame_with_the_astronaut_in_view_has_a_face(self):
        scene = camera.panorama()
        # The astronaut is the second photograph of the panorama: look at its centre.
        first = sample(camera.SCENE[0])
        h = scene.shape[0]
        x = first.shape[1] * h / first.shape[0] + h / 2
        view = camera.View(scene, x=x, y=h / 2 - 40, zoom=1.0)
        shape, boxes = self.faces.faces_in_jpg(camera.to_b64_jpg(view.frame()))
        self.assertEqual(shape[:2], (camera.HEIGHT, camera.WIDTH))
        self.assertGreaterEqual(len(boxes), 1)

    def test_cameras_parameter_as_0_6_gives_it(self):
        cams = detector.parse_cameras('[{"servient_host": "camera_1"}]')
        self.assertEqual(detector.camera_key(cams[0]), "camera_1 :: " + detector.DEFAULT_CAMERA_ID)
        with self.assertRaises(ValueError):
            detector.parse_cameras('[{"thing_id": "x"}]')


class HistorianTest(unittest.TestCase):
    def test_values_are_listed_and_got_by_time_and_buckets(self):
        store = mongo_historian.Store()
        base = time.time() - 30
        for i in range(10):
            store.write({"unixTime": base + i, "propertyName": "time", "thingId": "clock", "servient": "c",
                         "value": i})
        store.write({"unixTime": base, "propertyName": "other", "thingId": "clock", "servient": "c", "value": "x"})
        self.assertEqual(store.list(), [
            {"propertyName": "other", "thingId": "clock", "servient": "c"},
            {"propertyName": "time", "thingId": "clock", "servient": "c"},
        ])
        got = store.get({"propertyName": "time"})
        self.assertEqual([d["value"] for d in got], list(range(10)))
        window = store.get({"propertyName": "time", "fromUnix": base + 2, "toUnix": base + 5})
        self.assertEqual([d["value"] for d in window], [2, 3, 4])
        buckets = store.get({"propertyName": "time", "buckets": 2})
        self.assertEqual([d["value"] for d in buckets], [0, 5])
        self.assertEqual(store.get({"propertyName": "time", "thingId": "nope"}), [])
        with self.assertRaises(ValueError):
            store.get({})
        with self.assertRaises(ValueError):
            store.write({"propertyName": "time"})

    def test_a_file_store_keeps_its_values(self):
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "h.sqlite")
            mongo_historian.Store(path).write({"propertyName": "p", "thingId": "t", "servient": "s", "value": 1})
            self.assertEqual(mongo_historian.Store(path).get({"propertyName": "p"})[0]["value"], 1)


class ConfigTest(unittest.TestCase):
    def test_the_environment_is_read_as_0_6_did(self):
        env = {"PORT_CATALOGUE": "9999", "MQTT_BROKER_HOST": "broker.wifi", "OTHER_PORTS_TCP": "1,2"}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            conf = get_env_config()
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k)
                else:
                    os.environ[k] = v
        self.assertIsInstance(conf, EnvConfig)
        self.assertEqual(conf.port_catalogue, 9999)
        self.assertEqual(conf.port_http, 80)
        self.assertEqual(conf.mqtt_url, "mqtt://broker.wifi:1883")
        self.assertEqual(conf.other_ports_tcp, [1, 2])
        self.assertEqual(ConfigVars.REDIS_URL.value, "REDIS_URL")


class PaceTest(unittest.TestCase):
    def test_a_period_runs_from_one_start_to_the_next_and_after_waits_it_whole(self):
        self.assertAlmostEqual(_common.pause("period", 10.0, 10.3, 2.0), 1.7)
        # A round that outlasts its period is followed at once, not by the rounds it missed.
        self.assertEqual(_common.pause("period", 10.0, 15.0, 2.0), 0.0)
        self.assertEqual(_common.pause("after", 10.0, 10.3, 2.0), 2.0)

    def test_an_unknown_pace_is_refused_naming_the_two_there_are(self):
        self.assertEqual(_common.check_pace("after"), "after")
        with self.assertRaises(ValueError) as cm:
            _common.check_pace("fast")
        for word in ("'fast'", '"period"', '"after"'):
            self.assertIn(word, str(cm.exception))

    def test_a_readers_rate_is_its_period_whatever_the_latency_and_falls_with_it_after(self):
        class SlowThing:
            reads = 0

            async def read_property(self, name):
                await asyncio.sleep(0.2)
                self.reads += 1

        async def main():
            period, after = SlowThing(), SlowThing()
            tasks = [asyncio.create_task(reader.read_rounds(period, ["p"], 0.25, "period")),
                     asyncio.create_task(reader.read_rounds(after, ["p"], 0.25, "after"))]
            await asyncio.sleep(3.0)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return period.reads, after.reads

        period, after = asyncio.run(main())
        # A round every 0.25 s: 12 reads end within 3 s (the first at 0.2 s, then every 0.25 s).
        self.assertGreaterEqual(period, 10)
        # 0.25 s after each 0.2 s read: a read ends at 0.2 + 0.45 k s at the earliest, so at most 7 in 3 s.
        self.assertLessEqual(after, 7)


if __name__ == "__main__":
    unittest.main()

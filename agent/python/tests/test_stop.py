"""The agent's stop ends whatever its tasks do: `wotemu_agent._run_bounded` (the agent's `asyncio.run`) gives
up on a task that swallows every cancellation after `LEFT_TASKS_SECS`, where `asyncio.run` would wait for it
forever, and still ends a task that swallows one cancellation but not the next.

Run by `cargo nextest` (agent/tests/it/python_apps.rs) with the checkout's venv."""

import asyncio
import logging
import time
import unittest

import wotemu_agent


class BoundedStop(unittest.TestCase):
    def test_a_task_that_swallows_every_cancellation_is_left_after_the_grace(self):
        state = {"cancels": 0, "main_ended": False}

        async def stubborn():
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    state["cancels"] += 1

        async def main():
            asyncio.get_running_loop().create_task(stubborn())
            await asyncio.sleep(0)
            state["main_ended"] = True
            return "result"

        t0 = time.monotonic()
        with self.assertLogs("wotemu", level=logging.WARNING) as logs:
            self.assertEqual(wotemu_agent._run_bounded(main()), "result")
        took = time.monotonic() - t0
        self.assertTrue(state["main_ended"])
        # Cancelled more than once (a task that swallowed one gets another), then given up on.
        self.assertGreater(state["cancels"], 1)
        self.assertGreaterEqual(took, wotemu_agent.LEFT_TASKS_SECS)
        self.assertLess(took, wotemu_agent.LEFT_TASKS_SECS + 3)
        self.assertIn("1 tasks did not end", "\n".join(logs.output))
        self.assertIn("stubborn", "\n".join(logs.output))

    def test_a_task_that_swallows_one_cancellation_ends_at_the_next(self):
        state = {"cancels": 0, "ended": False}

        async def swallows_once():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                state["cancels"] += 1
            try:
                await asyncio.sleep(3600)
            finally:
                state["ended"] = True

        async def main():
            asyncio.get_running_loop().create_task(swallows_once())
            await asyncio.sleep(0)

        t0 = time.monotonic()
        wotemu_agent._run_bounded(main())
        self.assertTrue(state["ended"])
        self.assertEqual(state["cancels"], 1)
        self.assertLess(time.monotonic() - t0, wotemu_agent.LEFT_TASKS_SECS)

    def test_what_main_raises_is_raised(self):
        async def main():
            raise ValueError("the app failed")

        with self.assertRaisesRegex(ValueError, "the app failed"):
            wotemu_agent._run_bounded(main())
        # The loop is closed and unset, as asyncio.run leaves it.
        with self.assertRaises(RuntimeError):
            asyncio.get_running_loop()


if __name__ == "__main__":
    unittest.main()

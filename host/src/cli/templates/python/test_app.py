"""Unit tests: `python3 -m unittest`. Outside a component the host imports
are served by `squall.local`."""

import unittest

import app  # noqa: F401  (registers the actions and sensors)
import squall


class AppTest(unittest.TestCase):
    def setUp(self):
        squall.local.reset()

    def test_hello_greets_by_name_and_logs(self):
        self.assertEqual(squall.run_action("hello", {"name": "ops"}), {"message": "hello, ops"})
        self.assertEqual(squall.local.lines, [("info", "greeting ops")])

    def test_ticks_count_on_from_the_cursor(self):
        poll = squall.run_sensor("ticker", {}, "41")
        self.assertEqual(poll.cursor, "42")
        self.assertEqual([e.payload for e in poll.events], [{"n": 42}])


if __name__ == "__main__":
    unittest.main()

"""Unit tests: `python3 -m unittest`. Outside a component the host imports
are served by `squall.local`, and `run_action` prepares the parameters as
the server does (pack.toml's defaults and schema, by `squall pack params`:
squall on PATH, or SQUALL_BIN)."""

import unittest

import app  # noqa: F401  (registers the actions and sensors)
import squall


class AppTest(unittest.TestCase):
    def setUp(self):
        squall.local.reset()

    def test_hello_greets_by_name_and_logs(self):
        self.assertEqual(squall.run_action("hello", {"name": "ops"}), {"message": "hello, ops"})
        self.assertEqual(squall.local.lines, [("info", "greeting ops")])

    def test_the_name_defaults_to_world_as_on_the_server(self):
        self.assertEqual(squall.run_action("hello", {}), {"message": "hello, world"})

    def test_parameters_the_schema_refuses_never_reach_the_action(self):
        with self.assertRaises(squall.InvalidInput) as refused:
            squall.run_action("hello", {"name": 42})
        self.assertIn("parameter `name`", str(refused.exception))
        self.assertEqual(squall.local.lines, [])

    def test_ticks_count_on_from_the_cursor(self):
        poll = squall.run_sensor("ticker", {}, "41")
        self.assertEqual(poll.cursor, "42")
        self.assertEqual([e.payload for e in poll.events], [{"n": 42}])


if __name__ == "__main__":
    unittest.main()

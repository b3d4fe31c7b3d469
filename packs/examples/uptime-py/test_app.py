"""`PYTHONPATH=../../../sdk/python python3 -m unittest`: the logic without a
host. Outside a component HTTP is denied, which the tests rely on."""

import unittest

import app  # noqa: F401
import squall


class UptimeTest(unittest.TestCase):
    def setUp(self):
        squall.local.reset()

    def test_a_check_needs_http(self):
        with self.assertRaises(squall.Denied):
            squall.run_action("check", {"url": "http://127.0.0.1/", "timeout_seconds": 1})

    def test_the_watch_needs_a_url(self):
        with self.assertRaises(squall.InvalidInput):
            squall.run_sensor("watch", {}, None)


if __name__ == "__main__":
    unittest.main()

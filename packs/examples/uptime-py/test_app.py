"""`PYTHONPATH=../../../sdk/python python3 -m unittest`, with squall on PATH
(or SQUALL_BIN): the logic without a host. Outside a component HTTP is
denied, which the tests rely on; the parameters are prepared from pack.toml
as the server prepares them."""

import unittest

import app  # noqa: F401
import squall


class UptimeTest(unittest.TestCase):
    def setUp(self):
        squall.local.reset()

    def test_a_check_needs_http(self):
        with self.assertRaises(squall.Denied):
            squall.run_action("check", {"url": "http://127.0.0.1/", "timeout_seconds": 1})

    def test_the_timeout_defaults_to_ten_seconds(self):
        self.assertEqual(squall.parameters("check", {"url": "http://127.0.0.1/"}),
                         {"url": "http://127.0.0.1/", "timeout_seconds": 10})

    def test_a_check_needs_a_url_and_a_positive_timeout(self):
        with self.assertRaisesRegex(squall.InvalidInput, "url"):
            squall.run_action("check", {"timeout_seconds": 1})
        with self.assertRaisesRegex(squall.InvalidInput, "parameter `timeout_seconds`"):
            squall.run_action("check", {"url": "http://127.0.0.1/", "timeout_seconds": 0})

    def test_the_watch_needs_a_url(self):
        with self.assertRaises(squall.InvalidInput):
            squall.run_sensor("watch", {}, None)


if __name__ == "__main__":
    unittest.main()

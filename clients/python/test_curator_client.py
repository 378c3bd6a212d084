"""Tests of curator_client against a real curator-daemon.

Run by tests/python_client_test.cc, which starts PostgreSQL and the daemon
with one registered night of three pending tasks and passes CURATORCTL,
CURATOR_DAEMON and CURATOR_CONFIG (whose security section has the operator
token); run alone, only the checks that need no daemon run.
"""

import os
import unittest

from curator_client import Curator, CuratorError, CuratorRefused

CURATORCTL = os.environ.get("CURATORCTL", "curatorctl")
DAEMON = os.environ.get("CURATOR_DAEMON")
CONFIG = os.environ.get("CURATOR_CONFIG")


class DescriptionTest(unittest.TestCase):
    def setUp(self):
        self.c = Curator(CURATORCTL, daemon=DAEMON or "127.0.0.1:1", config=CONFIG)

    def test_every_described_command_is_a_method(self):
        names = {spec["name"] for spec in self.c.description["commands"]
                 if spec["where"] != "here"}
        self.assertIn("approve", names)
        self.assertIn("release create", names)
        for name in names:
            self.assertTrue(callable(getattr(self.c, name.replace(" ", "_"))), name)

    def test_arguments_are_checked_before_anything_runs(self):
        with self.assertRaisesRegex(TypeError, r"approve\(\): task_ids must be a list of int64"):
            self.c.approve("12")
        with self.assertRaisesRegex(TypeError, r"approve\(\): task_ids must be an integer"):
            self.c.approve([1, "2"])
        with self.assertRaisesRegex(TypeError, r"log\(\): task_id must be an integer"):
            self.c.log(True)
        with self.assertRaisesRegex(ValueError, r"register\(\): nights must be a YYYYMMDD"):
            self.c.register(["2007-10-21"])
        with self.assertRaisesRegex(TypeError, r"tasks\(\): .*arguments: state"):
            self.c.tasks(status="running")
        with self.assertRaisesRegex(TypeError, r"approve\(\): all must be True or False"):
            self.c.approve(all="yes")
        with self.assertRaisesRegex(TypeError, r"approve\(\): task_ids is required"):
            self.c.approve()
        with self.assertRaisesRegex(ValueError, r"tasks\(\): state is one of pending, .*"):
            self.c.tasks(state="bogus")
        with self.assertRaisesRegex(TypeError, r"retire\(\): reason is required"):
            self.c.retire("20071021")

    def test_docstrings_say_what_comes_back(self):
        self.assertIn("Returns curator.v1.ListTasksResponse", self.c.tasks.__doc__)
        self.assertIn("tasks: list of curator.v1.TaskInfo", self.c.tasks.__doc__)
        self.assertIn("one of pending, approved", self.c.tasks.__doc__)
        self.assertIn("Raises CuratorRefused when", self.c.cancel.__doc__)

    def test_a_missing_curatorctl_is_named(self):
        with self.assertRaisesRegex(CuratorError, r"no-such-curatorctl not found"):
            Curator("no-such-curatorctl")

    @unittest.skipUnless(CONFIG, "CURATOR_CONFIG is not set")
    def test_an_unreachable_daemon_raises_with_curatorctls_message(self):
        c = Curator(CURATORCTL, daemon="127.0.0.1:1", config=CONFIG)
        with self.assertRaises(CuratorError) as e:
            c.tasks()
        self.assertEqual(e.exception.exit_code, 3)
        self.assertIn("127.0.0.1:1", e.exception.message)

    def test_without_a_config_curatorctl_says_what_is_missing(self):
        c = Curator(CURATORCTL, daemon="127.0.0.1:1", config="")
        with self.assertRaises(CuratorError) as e:
            c.tasks()
        self.assertEqual(e.exception.exit_code, 1)
        self.assertIn("give --config FILE", e.exception.message)


@unittest.skipUnless(DAEMON and CONFIG, "CURATOR_DAEMON and CURATOR_CONFIG are not set")
class DaemonTest(unittest.TestCase):
    def setUp(self):
        self.c = Curator(CURATORCTL, daemon=DAEMON, config=CONFIG)

    def test_the_operators_cycle(self):
        nights = self.c.nights()["nights"]
        self.assertEqual([n["night"] for n in nights], ["20071021"])
        tasks = self.c.tasks(state="pending")["tasks"]
        # The CUs by name, as the daemon's registry knows them.
        self.assertEqual([c["name"] for c in self.c.cus()["cus"]], ["CU3", "CU4", "CU2"])
        self.assertEqual(sorted(t["cu"] for t in tasks), ["CU2", "CU3", "CU4"])
        # Ids are numbers, as the docstrings say.
        cu3 = next(t["task_id"] for t in tasks if t["cu"] == "CU3")
        self.assertIsInstance(cu3, int)
        # Approved, then rejected back to pending.
        self.assertEqual(self.c.approve([cu3])["approved"], [cu3])
        self.assertEqual(self.c.tasks(state="approved")["tasks"][0]["cu"], "CU3")
        self.assertEqual(self.c.reject([cu3])["changed"], [cu3])
        # Exit code 2, a refusal: raised with the answer, or returned when
        # asked.
        with self.assertRaises(CuratorRefused) as e:
            self.c.retry([cu3])
        self.assertIn("only failed or cancelled tasks can be retried",
                      e.exception.answer["refused"][0])
        self.assertIn("only failed or cancelled", e.exception.message)
        refused = self.c.retry([cu3], partial_ok=True)
        self.assertEqual(refused["changed"], [])
        # Pause and resume answer with the dispatch state.
        self.assertTrue(self.c.pause()["paused"])
        self.assertFalse(self.c.resume()["paused"])
        # Every state is there, with 0 where there are none.
        self.assertEqual(self.c.status()["tasks"]["failed"], 0)
        self.assertEqual(self.c.audit(limit=2)["entries"][0]["command"], "resume")
        # A task that does not exist: curatorctl's error, raised.
        with self.assertRaises(CuratorError) as e:
            self.c.log(999999)
        self.assertIn("no task 999999", e.exception.message)
        self.assertEqual(e.exception.exit_code, 2)
        # A value that looks like an option is still a value: this one is
        # no file the daemon knows (a refusal, 2), not a daemon address.
        with self.assertRaises(CuratorRefused) as e:
            self.c.deprecate(["--daemon=127.0.0.1:1"], reason="test")
        self.assertEqual(e.exception.exit_code, 2)
        # 0 is an id like any other (no such task), not a missing one.
        with self.assertRaises(CuratorRefused):
            self.c.log(0)
        self.assertEqual(self.c.tasks(cu=3)["tasks"][0]["cu"], "CU3")
        # A command of two words is a method with an underscore.
        self.assertEqual(self.c.release_list(), {"releases": []})
        with self.assertRaises(CuratorError) as e:
            self.c.release_verify("nosuch")
        self.assertIn("no release nosuch", e.exception.message)


if __name__ == "__main__":
    unittest.main(verbosity=2)

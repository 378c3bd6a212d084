"""A Python client for Curator, built from `curatorctl describe --json`.

In the spirit of CLIPPy: the command-line tool describes its commands, and
this module turns each into a method that checks its arguments against the
description, runs `curatorctl <command> --json` and returns the parsed
JSON. Needs only Python 3's standard library and the curatorctl binary.

    from curator_client import Curator
    c = Curator(daemon="pixel00:7400")
    pending = [t["task_id"] for t in c.tasks(state="pending")["tasks"]]
    c.approve(pending)
    print(c.nights())

Exit codes follow curatorctl's description: 0 returns the answer; 2 (done,
with problems reported, e.g. some tasks refused) returns the answer too,
with the refusals in it; 1 (bad usage) and 3 (failed) raise CuratorError
with curatorctl's message.
"""

import inspect
import json
import re
import subprocess

__all__ = ["Curator", "CuratorError"]


class CuratorError(Exception):
    """curatorctl failed: `exit_code`, its `message`, the `command` run."""

    def __init__(self, command, exit_code, message):
        super().__init__(f"{' '.join(command)}: exit {exit_code}: {message}")
        self.command = command
        self.exit_code = exit_code
        self.message = message


_NIGHT = re.compile(r"^\d{8}$")


def _check(command, arg, value):
    """Raises TypeError or ValueError unless `value` fits `arg`'s type."""
    kind = arg["type"]
    name = f"{command}(): {arg['name']}"
    base = kind[:-2] if kind.endswith("[]") else kind
    if kind.endswith("[]"):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise TypeError(f"{name} must be a list of {base}, not {value!r}")
        values = list(value)
    else:
        values = [value]
    for v in values:
        if base == "bool":
            if not isinstance(v, bool):
                raise TypeError(f"{name} must be True or False, not {v!r}")
        elif base == "int64":
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an integer, not {v!r}")
            if not -(2**63) <= v < 2**63:
                raise ValueError(f"{name} is out of the int64 range: {v}")
        elif base == "night":
            if not isinstance(v, str) or not _NIGHT.match(v):
                raise ValueError(f"{name} must be a YYYYMMDD string, not {v!r}")
        elif base == "string":
            if not isinstance(v, str):
                raise TypeError(f"{name} must be a string, not {v!r}")
        else:
            raise TypeError(f"{name} has a type this client does not know: {kind}")
    return values


class Curator:
    """The commands of `curatorctl describe --json`, as methods.

    Options given here (daemon, config, db, archive) go with every command.
    """

    def __init__(self, curatorctl="curatorctl", daemon=None, config=None,
                 db=None, archive=None, timeout=120):
        self._curatorctl = curatorctl
        self._timeout = timeout
        self._common = []
        for flag, value in (("daemon", daemon), ("config", config), ("db", db),
                            ("archive", archive)):
            if value is not None:
                self._common.append(f"--{flag}={value}")
        done = subprocess.run([curatorctl, "describe", "--json"], capture_output=True,
                              text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise CuratorError([curatorctl, "describe", "--json"], done.returncode,
                               done.stderr.strip())
        self.description = json.loads(done.stdout)
        self.commands = {}
        for spec in self.description["commands"]:
            if spec["name"] == "describe":
                continue
            # A command of two words ("release create") is the method
            # release_create.
            name = spec["name"].replace(" ", "_")
            self.commands[name] = spec
            setattr(self, name, self._method(spec))

    def _method(self, spec):
        positional = [a for a in spec["arguments"] if a["positional"]]
        options = [a for a in spec["arguments"] if not a["positional"]]
        params = [inspect.Parameter(a["name"], inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    default=None) for a in positional]
        params += [inspect.Parameter(a["name"], inspect.Parameter.KEYWORD_ONLY, default=None)
                   for a in options]
        signature = inspect.Signature(params)

        def method(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as e:
                allowed = ", ".join(a["name"] for a in spec["arguments"]) or "none"
                raise TypeError(f"{spec['name']}(): {e} (arguments: {allowed})") from None
            argv = spec["name"].split(" ")
            for arg in spec["arguments"]:
                value = bound.arguments.get(arg["name"])
                if value is None:
                    continue
                values = _check(spec["name"], arg, value)
                if arg["positional"]:
                    argv += [str(v) for v in values]
                elif arg["type"] == "bool":
                    if value:
                        argv.append(f"--{arg['name']}")
                else:
                    argv.append(f"--{arg['name']}={values[0]}")
            return self._run(argv)

        method.__name__ = spec["name"].replace(" ", "_")
        method.__signature__ = signature
        method.__doc__ = spec["help"] + "".join(
            f"\n  {a['name']} ({a['type']}): {a['help']}" for a in spec["arguments"])
        return method

    def _run(self, argv):
        command = [self._curatorctl] + argv + ["--json"] + self._common
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=self._timeout, check=False)
        text = done.stdout.strip()
        # 2 with an answer is done with problems, reported in the answer;
        # 2 without one is a refusal (no such task, not allowed): raised.
        if done.returncode not in (0, 2) or (done.returncode == 2 and not text):
            raise CuratorError(command, done.returncode,
                               done.stderr.strip() or text)
        return json.loads(text) if text else {}

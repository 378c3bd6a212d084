"""A Python client for Curator, built from `curatorctl describe --json`.

In the spirit of CLIPPy: the command-line tool describes its commands, and
this module turns each into a method that checks its arguments against the
description, runs `curatorctl <command> --json` and returns the parsed
JSON. Needs only Python 3's standard library and the curatorctl binary.

    from curator_client import Curator
    c = Curator(daemon="pixel00:7400", config="/etc/curator/curator.conf")
    pending = [t["task_id"] for t in c.tasks(state="pending")["tasks"]]
    c.approve(pending)
    c.watch(night="20071021", timeout=600)   # until the night settles
    print(c.nights())

curatorctl is found as given, else as $CURATORCTL, else on $PATH; the
config as given, else $CURATOR_CONFIG, else /etc/curator/curator.conf if
it exists.

Exit codes follow curatorctl's description: 0 returns the answer (a dict;
`watch` a list of its updates). 2 (done with problems, or refused: some
tasks refused, no such task, a release that differs from its manifest)
raises CuratorRefused, which carries the answer as `answer` when there is
one; pass partial_ok=True to a method to get the answer back instead.
1 (bad usage) and 3 (failed: the daemon or database unreachable) raise
CuratorError with curatorctl's message. Arguments are checked against the
description (types, choices, required ones) before anything runs.
"""

import inspect
import json
import os
import re
import shutil
import subprocess

__all__ = ["Curator", "CuratorError", "CuratorRefused"]


class CuratorError(Exception):
    """curatorctl failed: `exit_code`, its `message`, the `command` run."""

    def __init__(self, command, exit_code, message, answer=None):
        super().__init__(f"{' '.join(command)}: exit {exit_code}: {message}")
        self.command = command
        self.exit_code = exit_code
        self.message = message
        self.answer = answer


class CuratorRefused(CuratorError):
    """Exit 2: done with problems, or refused. `answer` is curatorctl's
    JSON answer when it gave one (e.g. {"changed": [...], "refused": [...]}),
    else None."""


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
        elif base == "number":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"{name} must be a number, not {v!r}")
        else:
            raise TypeError(f"{name} has a type this client does not know: {kind}")
        if arg.get("choices") and v not in arg["choices"] and not (
                arg["name"] == "cu" and str(v).isdigit()):
            raise ValueError(f"{name} is one of {', '.join(arg['choices'])}, not {v!r}")
    return values


def _fields(description, message, depth=0):
    """The fields of `message`, from the description, for a docstring."""
    schema = description.get("messages", {}).get(message, {})
    lines = []
    for f in schema.get("fields", []):
        kind = f["type"]
        if kind == "array":
            kind = f"list of {f['items']}"
        elif kind == "object":
            kind = f"dict of {f['values']}"
        lines.append(f"{'  ' * (depth + 2)}{f['name']}: {kind}")
    return lines


class Curator:
    """The commands of `curatorctl describe --json`, as methods.

    Options given here (daemon, config, db, archive) go with every command.
    """

    def __init__(self, curatorctl=None, daemon=None, config=None,
                 db=None, archive=None, timeout=120):
        curatorctl = curatorctl or os.environ.get("CURATORCTL") or "curatorctl"
        found = shutil.which(curatorctl)
        if found is None:
            raise CuratorError([curatorctl], 127,
                               f"{curatorctl} not found: install curator (the .deb puts it in "
                               "/usr/bin), or give Curator(curatorctl=PATH) or $CURATORCTL")
        curatorctl = found
        if config is None:
            config = os.environ.get("CURATOR_CONFIG")
            if config is None and os.path.exists("/etc/curator/curator.conf"):
                config = "/etc/curator/curator.conf"
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
            if spec.get("where") == "here" or spec["name"] in ("describe", "help"):
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
        params.append(inspect.Parameter("partial_ok", inspect.Parameter.KEYWORD_ONLY,
                                        default=False))
        signature = inspect.Signature(params)

        def method(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as e:
                allowed = ", ".join(a["name"] for a in spec["arguments"]) or "none"
                raise TypeError(f"{spec['name']}(): {e} (arguments: {allowed})") from None
            argv = spec["name"].split(" ")
            positionals = []

            def is_given(v):
                return v is not None and v is not False and not (
                    isinstance(v, (list, tuple)) and not v)

            given = {a["name"] for a in spec["arguments"]
                     if is_given(bound.arguments.get(a["name"]))}
            for arg in spec["arguments"]:
                value = bound.arguments.get(arg["name"])
                if arg.get("required") and arg["name"] not in given and not (
                        "all" in given and arg["positional"]):
                    raise TypeError(f"{spec['name']}(): {arg['name']} is required")
                if value is None:
                    continue
                if arg["name"] == "cu" and isinstance(value, int) and not isinstance(value, bool):
                    value = f"CU{value}"
                values = _check(spec["name"], arg, value)
                if arg["positional"]:
                    positionals += [str(v) for v in values]
                elif arg["type"] == "bool":
                    if value:
                        argv.append(f"--{arg['name']}")
                else:
                    argv.append(f"--{arg['name']}={values[0]}")
            # After "--", a value that starts with '-' (a file named
            # -x.fit, or a hostile "--daemon=...") is never an option.
            return self._run(argv, positionals, bound.arguments.get("partial_ok", False),
                             lines=spec["name"] == "watch",
                             long=spec["name"] in ("release create", "release verify"))

        method.__name__ = spec["name"].replace(" ", "_")
        method.__signature__ = signature
        doc = [spec["help"] + "."]
        doc += [f"  {a['name']} ({a['type']}{', required' if a.get('required') else ''}): "
                f"{a['help']}" + (f"; one of {', '.join(a['choices'])}" if a.get("choices")
                                  else "") for a in spec["arguments"]]
        doc.append("  partial_ok (bool): return the answer on exit 2 instead of raising")
        if spec.get("returns"):
            doc.append(f"Returns {spec['returns']}" + (" (a list of them, one per update)"
                                                      if spec["name"] == "watch" else "") + ":")
            doc += _fields(self.description, spec["returns"])
        if spec.get("exit_2"):
            doc.append(f"Raises CuratorRefused when {spec['exit_2']}.")
        method.__doc__ = "\n".join(doc)
        return method

    def _run(self, argv, positionals=(), partial_ok=False, lines=False, long=False):
        command = [self._curatorctl] + argv + ["--json"] + self._common
        if positionals:
            command += ["--"] + list(positionals)
        # watch has its own --timeout, and a release takes as long as the
        # archive is big (the daemon gives it 48 h): no timeout of ours.
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=None if lines or long else self._timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise CuratorError(command, 3, f"no answer within {self._timeout} s") from None
        text = done.stdout.strip()
        try:
            if lines:
                answer = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                answer = json.loads(text) if text else None
        except json.JSONDecodeError as e:
            raise CuratorError(command, done.returncode,
                               f"not JSON ({e}): {text[:200]!r}") from None
        if done.returncode == 2:
            if partial_ok and answer is not None:
                return answer
            message = done.stderr.strip()
            if not message and isinstance(answer, dict) and answer.get("refused"):
                message = "refused: " + "; ".join(answer["refused"])
            raise CuratorRefused(command, 2, message or "done, with problems reported", answer)
        if done.returncode != 0:
            raise CuratorError(command, done.returncode, done.stderr.strip() or text)
        return answer if answer is not None else {}

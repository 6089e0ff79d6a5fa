#!/usr/bin/env python3
"""llmhost's host-side helper, copied to <llmhost_root>/bin/llmhost-hosttool and run with an engine
venv's Python. Standard library only, except `fetch`, which imports huggingface_hub from that venv.

  check     wait for /health, then send one chat completion; print one JSON line (always exit 0)
  fetch     download a hub model into a directory (resumable) and write its sha256 manifest
  manifest  write the sha256 manifest of a directory
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

MANIFEST_VERSION = 1


def _tail(path: str, lines: int = 40) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return [f"(cannot read {path}: {e})"]
    return text.splitlines()[-lines:]


def _env_value(env_files: list[str], key: str) -> str | None:
    for env_file in env_files:
        try:
            for line in Path(env_file).read_text().splitlines():
                k, sep, v = line.partition("=")
                if sep and k.strip() == key:
                    return v.strip()
        except OSError:
            pass
    return None


def check(args) -> int:
    started = time.monotonic()
    result = {"ok": False, "health_seconds": None, "chat_seconds": None, "reply": None,
              "error": None, "log_tail": []}
    deadline = started + args.timeout
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(f"{args.url}/health", timeout=5) as resp:
                if resp.status == 200:
                    result["health_seconds"] = round(time.monotonic() - started, 2)
                    break
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            last = str(getattr(e, "reason", e))
        if time.monotonic() >= deadline:
            result["error"] = f"{args.url}/health not healthy after {args.timeout}s (last: {last})"
            result["log_tail"] = _tail(args.log)
            print(json.dumps(result))
            return 0
        time.sleep(2)

    body = json.dumps({
        "model": args.model,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8,
        "temperature": 0,
    }).encode()
    headers = {"Content-Type": "application/json"}
    api_key = _env_value(args.env_file, "VLLM_API_KEY")
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(f"{args.url}/v1/chat/completions", data=body, headers=headers)
    chat_started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            answer = json.loads(resp.read())
        result["chat_seconds"] = round(time.monotonic() - chat_started, 3)
        choice = answer["choices"][0]
        result["reply"] = choice["message"]["content"]
        if answer.get("model") != args.model:
            result["error"] = f"answered for model {answer.get('model')!r}, expected {args.model!r}"
        elif not answer.get("usage", {}).get("completion_tokens"):
            result["error"] = "the chat completion produced no tokens"
        else:
            result["ok"] = True
    except urllib.error.HTTPError as e:
        result["error"] = f"POST /v1/chat/completions: HTTP {e.code} {e.read()[:300]!r}"
    except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError) as e:
        result["error"] = f"POST /v1/chat/completions failed: {e}"
    if not result["ok"]:
        result["log_tail"] = _tail(args.log)
    print(json.dumps(result))
    return 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path, manifest_path: Path, source: str) -> dict:
    files = {}
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in rel.split("/")):
            continue
        files[rel] = {"sha256": _sha256(path), "size": path.stat().st_size}
    manifest = {"version": MANIFEST_VERSION, "source": source, "files": files}
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp.replace(manifest_path)
    return manifest


def fetch(args) -> int:
    from huggingface_hub import snapshot_download  # from the engine venv

    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    snapshot_download(repo_id=args.repo, revision=args.revision, local_dir=str(dest))
    source = f"hf:{args.repo}" + (f"@{args.revision}" if args.revision else "")
    write_manifest(dest, Path(args.manifest), source)
    return 0


def manifest(args) -> int:
    write_manifest(Path(args.dir), Path(args.manifest), args.source)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="llmhost-hosttool")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check")
    p.add_argument("--url", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("--log", default="")
    p.set_defaults(func=check)
    p = sub.add_parser("fetch")
    p.add_argument("--repo", required=True)
    p.add_argument("--revision")
    p.add_argument("--dest", required=True)
    p.add_argument("--manifest", required=True)
    p.set_defaults(func=fetch)
    p = sub.add_parser("manifest")
    p.add_argument("--dir", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--source", required=True)
    p.set_defaults(func=manifest)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""A stand-in Ollama release for the fleet tests (no real one can be downloaded on the machines the
tests run on): ``v<version>/ollama-linux-amd64.tar.zst`` in Ollama's layout (``bin/ollama``,
``lib/ollama/``) and the ``sha256sum.txt`` Ollama publishes beside it (``<sha256>  ./<file>``).

Its ``bin/ollama`` is a small Python program, not Ollama: ``--version``; ``serve`` (an HTTP daemon
on ``OLLAMA_HOST`` keeping models under ``OLLAMA_MODELS`` in Ollama's manifest layout, ``GET /``
answering "Ollama is running"); ``create NAME -f Modelfile`` (the client: reads the Modelfile's
``FROM`` GGUF, hashes it, posts it to the daemon). Its chat completions generate nothing: the
reply reports what the daemon was given (its settings from the drop-in, its user, the imported
GGUF's sha256 and parameters), which is what the tests check llmhost's Ollama layer delivered.
"""

from __future__ import annotations

import hashlib
import subprocess
import textwrap
from pathlib import Path

FILENAME = "ollama-linux-amd64.tar.zst"

STAND_IN = textwrap.dedent('''\
    #!/usr/bin/python3
    """Stand-in for the ollama binary (llmhost tests/fleet/ollama_release.py): not Ollama."""
    import getpass, hashlib, http.server, json, os, pathlib, sys, urllib.request

    VERSION = "@VERSION@"
    LIBRARY = "manifests/registry.ollama.ai/library"


    def address():
        host = os.environ.get("OLLAMA_HOST", "127.0.0.1:11434").removeprefix("http://")
        name, _, port = host.rpartition(":")
        return name or "127.0.0.1", int(port)


    def manifest(store, model):
        name, _, tag = model.partition(":")
        return pathlib.Path(store) / LIBRARY / name / (tag or "latest")


    class Daemon(http.server.BaseHTTPRequestHandler):
        def reply(self, code, body, kind="application/json"):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/":
                return self.reply(200, "Ollama is running", "text/plain")
            if self.path == "/api/version":
                return self.reply(200, {"version": VERSION})
            self.reply(404, {"error": "not found"})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            store = os.environ.get("OLLAMA_MODELS", os.path.expanduser("~/.ollama/models"))
            if self.path == "/api/create":
                path = manifest(store, body["model"])
                path.parent.mkdir(parents=True, exist_ok=True)  # fails unless the store is the daemon's
                path.write_text(json.dumps(body, sort_keys=True))
                return self.reply(200, {"status": "success"})
            if self.path == "/v1/chat/completions":
                path = manifest(store, body["model"])
                if not path.is_file():
                    return self.reply(404, {"error": f"model {body['model']!r} not found"})
                seen = {"user": getpass.getuser(), "model": json.loads(path.read_text()),
                        "env": {k: v for k, v in os.environ.items() if k.startswith(("OLLAMA_", "CUDA_"))}}
                return self.reply(200, {"model": body["model"], "object": "chat.completion",
                                        "choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(seen)},
                                                     "finish_reason": "stop"}],
                                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
            self.reply(404, {"error": "not found"})

        def log_message(self, *args):
            sys.stderr.write("stand-in ollama: " + (args[0] % args[1:]) + "\\n")


    def create(model, modelfile):
        lines = pathlib.Path(modelfile).read_text().splitlines()
        source = next(l.split(None, 1)[1] for l in lines if l.startswith("FROM "))
        parameters = dict(l.split()[1:3] for l in lines if l.startswith("PARAMETER "))
        digest = hashlib.sha256(pathlib.Path(source).read_bytes()).hexdigest()
        host, port = address()
        body = json.dumps({"model": model, "from": source, "sha256": digest, "parameters": parameters}).encode()
        request = urllib.request.Request(f"http://{host}:{port}/api/create", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=30) as resp:
            print(json.loads(resp.read())["status"])


    def main(args):
        if args in (["--version"], ["-v"]):
            print(f"ollama version is {VERSION} (llmhost stand-in)")
        elif args[:1] == ["serve"]:
            print(f"stand-in ollama {VERSION} serving on {address()} as {getpass.getuser()}", flush=True)
            http.server.ThreadingHTTPServer(address(), Daemon).serve_forever()
        elif args[:1] == ["create"] and "-f" in args:
            create(args[1], args[args.index("-f") + 1])
        else:
            sys.exit(f"stand-in ollama: unsupported arguments {args}")


    main(sys.argv[1:])
''')


def build(base: Path, version: str) -> Path:
    """The release directory ``base/v<version>`` (the tarball and sha256sum.txt); same bytes every time."""
    release, tree = base / f"v{version}", base / f"tree-{version}"
    (tree / "bin").mkdir(parents=True, exist_ok=True)
    (tree / "lib" / "ollama").mkdir(parents=True, exist_ok=True)
    (tree / "lib" / "ollama" / "README").write_text("stand-in: Ollama keeps its runners and CUDA libraries here\n")
    binary = tree / "bin" / "ollama"
    binary.write_text(STAND_IN.replace("@VERSION@", version))
    binary.chmod(0o755)
    release.mkdir(parents=True, exist_ok=True)
    archive = release / FILENAME
    subprocess.run(
        [
            "tar",
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-I",
            "zstd",
            "-cf",
            str(archive),
            "-C",
            str(tree),
            "bin",
            "lib",
        ],
        check=True,
    )
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (release / "sha256sum.txt").write_text(f"{'0' * 64}  ./ollama-linux-arm64.tar.zst\n{digest}  ./{FILENAME}\n")
    return release

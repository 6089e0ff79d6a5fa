"""A real Hugging Face-compatible hub for the tests: olah (PyPI) serving local git repositories.

No model hub is reachable from the development machines, so the tests publish the tiny model as a
git repository the way the Hub stores it (small files in git, weights as a git-lfs pointer with the
object under .git/lfs/objects) and serve it with olah's local-mirror mode. huggingface_hub then runs
unchanged against it: revision -> commit, the tree API with LFS sha256, file downloads.

Used by the e2e fixtures (tests/e2e/conftest.py) and by hand:

    python -m tests.hub build/hub 8090     # serve until Ctrl-C
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ORG = "llmhost-test"
_GIT_ID = ("-c", "user.name=llmhost tests", "-c", "user.email=tests@llmhost.invalid", "-c", "commit.gpgsign=false")
_LFS_ATTRIBUTES = "*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"


def _git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        ["git", *_GIT_ID, *args], cwd=repo, check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def _is_lfs(rel: str) -> bool:
    return rel.endswith((".safetensors", ".bin", ".gguf"))


@dataclass
class Hub:
    root: Path  # olah's mirrors-path and state live here
    url: str | None = None
    process: subprocess.Popen | None = None

    def repo_dir(self, name: str, org: str = ORG) -> Path:
        return self.root / "mirrors" / "models" / org / name

    def publish(
        self, name: str, files: dict[str, bytes], message: str = "publish", org: str = ORG, declared: dict | None = None
    ) -> str:
        """Commit ``files`` (path -> bytes) as the repository's new main; returns the commit id.
        Weights are stored as git-lfs pointers with their objects under .git/lfs/objects.
        ``declared``: path -> the size its pointer says, for a metadata-only repository whose object
        holds the file's head alone (a safetensors header: the hub's listing says the real size)."""
        repo = self.repo_dir(name, org)
        if not (repo / ".git").exists():
            repo.mkdir(parents=True, exist_ok=True)
            _git(repo, "init", "-q", "-b", "main")
            (repo / ".gitattributes").write_text(_LFS_ATTRIBUTES)
        for rel, data in files.items():
            target = repo / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if _is_lfs(rel):
                oid = hashlib.sha256(data).hexdigest()
                obj = repo / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
                obj.parent.mkdir(parents=True, exist_ok=True)
                obj.write_bytes(data)
                size = (declared or {}).get(rel, len(data))
                data = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()
            target.write_bytes(data)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "--allow-empty", "-m", message)
        return _git(repo, "rev-parse", "HEAD")

    def head(self, name: str) -> str:
        return _git(self.repo_dir(name), "rev-parse", "HEAD")

    def start(self, olah_cli: str, port: int | None = None, timeout: float = 60) -> str:
        port = port or _free_port()
        config = self.root / "olah.toml"
        config.write_text(
            "[basic]\n"
            'host = "127.0.0.1"\n'
            f"port = {port}\n"
            f'repos-path = "{self.root / "repos"}"\n'
            f'mirrors-path = ["{self.root / "mirrors"}"]\n'
            "metadata-cache-ttl = 0\n"  # a new commit is visible at once
            "[accessibility]\n"
            "offline = true\n"  # never reach for huggingface.co
        )
        with open(self.root / "olah.log", "ab") as log:  # the server keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [olah_cli, "-c", str(config)], cwd=self.root, stdout=log, stderr=log, start_new_session=True
            )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"olah exited with {self.process.returncode}; see {self.root / 'olah.log'}")
            try:  # any answer: the server is up (its HTML index page may fail under a newer jinja2)
                requests.get(f"{self.url}/api/models/{ORG}/none/revision/main", timeout=2)
                return self.url
            except requests.RequestException:
                time.sleep(0.5)
        raise RuntimeError(f"olah did not answer within {timeout}s; see {self.root / 'olah.log'}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_files(directory: Path) -> dict[str, bytes]:
    """path -> bytes of a model directory's files (hidden entries, such as a hub client's .cache/, aside)."""
    files = {}
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory).as_posix()
        if p.is_file() and not any(part.startswith(".") for part in rel.split("/")):
            files[rel] = p.read_bytes()
    return files


def fresh_hub(root: Path) -> Hub:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return Hub(root)


if __name__ == "__main__":
    hub = fresh_hub(Path(sys.argv[1]))
    from tests.conftest import TINY

    print("published", hub.publish("tiny-qwen2", model_files(TINY)))
    print("serving at", hub.start(str(Path(sys.executable).with_name("olah-cli")), int(sys.argv[2])))
    try:
        hub.process.wait()
    except KeyboardInterrupt:
        hub.stop()

"""Manifests: the controller and the host-side tool write the same bytes for the same files."""

from __future__ import annotations

import json
import subprocess
import sys

from llmhost.manifest import build_manifest, dumps, sha256_file, stale_files, total_bytes
from llmhost.resources import hostside_tool


def _tree(tmp_path):
    d = tmp_path / "m"
    (d / "sub").mkdir(parents=True)
    (d / "a.json").write_text('{"x": 1}\n')
    (d / "sub" / "w.bin").write_bytes(bytes(range(256)) * 10)
    (d / ".cache").mkdir()
    (d / ".cache" / "junk").write_text("skip me")
    return d


def test_manifest_content(tmp_path):
    d = _tree(tmp_path)
    m = build_manifest(d, "controller:m")
    assert sorted(m["files"]) == ["a.json", "sub/w.bin"]  # hidden files are not part of a model
    assert m["files"]["sub/w.bin"] == {"sha256": sha256_file(d / "sub" / "w.bin"), "size": 2560}
    assert total_bytes(m) == 2560 + 9
    assert dumps(m) == dumps(build_manifest(d, "controller:m"))


def test_host_tool_writes_the_same_manifest(tmp_path):
    d = _tree(tmp_path)
    out = tmp_path / "m.manifest.json"
    subprocess.run(
        [
            sys.executable,
            hostside_tool(),
            "manifest",
            "--dir",
            str(d),
            "--manifest",
            str(out),
            "--source",
            "controller:m",
        ],
        check=True,
    )
    assert out.read_text() == dumps(build_manifest(d, "controller:m"))


def test_stale_files_are_those_whose_hash_or_size_disagree(tmp_path):
    m = build_manifest(_tree(tmp_path), "s")
    sizes = {rel: e["size"] for rel, e in m["files"].items()}
    assert stale_files(m, {"manifest": m, "sizes": sizes}) == []
    assert stale_files(m, {"manifest": None, "sizes": sizes}) == ["a.json", "sub/w.bin"]
    truncated = {**sizes, "sub/w.bin": 100}  # a half-written file
    assert stale_files(m, {"manifest": m, "sizes": truncated}) == ["sub/w.bin"]
    other = json.loads(json.dumps(m))
    other["files"]["a.json"]["sha256"] = "0" * 64
    assert stale_files(m, {"manifest": other, "sizes": sizes}) == ["a.json"]


def test_hashes_are_cached_by_size_inode_and_times_and_a_rewrite_is_hashed_again(tmp_path, monkeypatch):
    from llmhost import manifest

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(manifest, "_memo", {})
    now = manifest._now_ns()
    monkeypatch.setattr(manifest, "_now_ns", lambda: now + 10**10)  # hashed well after the files' times
    d = tmp_path / "m"
    d.mkdir()
    (d / "a.bin").write_bytes(b"one")
    first = manifest.build_manifest(d, "t")
    assert manifest.cache_file().is_file()
    calls = []
    monkeypatch.setattr(manifest, "sha256_file", lambda p: calls.append(p) or "never")
    monkeypatch.setattr(manifest, "_memo", {})  # a new run: the cache file answers
    assert manifest.build_manifest(d, "t") == first and calls == []
    (d / "a.bin").write_bytes(b"two")  # same size, new content: ctime moves
    assert manifest.build_manifest(d, "t")["files"]["a.bin"]["sha256"] == "never" and len(calls) == 1
    monkeypatch.setattr(manifest, "_now_ns", lambda: now)  # hashed as the file was written: racy
    (d / "a.bin").write_bytes(b"thr")
    manifest.build_manifest(d, "t")
    manifest.build_manifest(d, "t")
    assert len(calls) == 3  # hashed again each time, until the entry is older than its file by 2 s

"""llmhost.operations.model.pushed at the command level: what the manifest check read decides every
command (one removal, one mkdir, an upload per stale file, their modes together), with no fact read
per file."""

from __future__ import annotations

from pyinfra.api import FileUploadCommand

from llmhost.manifest import build_manifest
from llmhost.operations import model
from tests.helpers import FakeHost


def run(monkeypatch, tmp_path, remote):
    src = tmp_path / "m"
    (src / "sub").mkdir(parents=True)
    (src / "a.json").write_text("{}")
    (src / "sub" / "b.bin").write_bytes(b"xy")
    manifest = build_manifest(str(src), "controller:m")
    fake = FakeHost(remote(manifest) if callable(remote) else remote)
    monkeypatch.setattr(model, "host", fake)
    commands = list(
        model.pushed._inner(src=str(src), dest="/opt/m/x", manifest=manifest, manifest_path="/opt/m/x.manifest.json")
    )
    shown = [
        f"upload {c.src if isinstance(c.src, str) else 'manifest'} -> {c.dest}"
        if isinstance(c, FileUploadCommand)
        else str(c.get_raw_value())
        for c in commands
    ]
    return shown, fake, src


def test_a_bare_host_gets_every_file_and_the_manifest_with_no_fact_per_file(monkeypatch, tmp_path):
    shown, fake, src = run(monkeypatch, tmp_path, {"manifest": None, "sizes": {}, "hashes": None})
    assert shown == [
        "mkdir -p /opt/m /opt/m/x /opt/m/x/sub",
        f"upload {src}/a.json -> /opt/m/x/a.json",
        f"upload {src}/sub/b.bin -> /opt/m/x/sub/b.bin",
        "upload manifest -> /opt/m/x.manifest.json",
        "chmod 644 /opt/m/x/a.json /opt/m/x/sub/b.bin /opt/m/x.manifest.json",
    ]
    assert fake.kwargs == {"path": "/opt/m/x", "manifest": "/opt/m/x.manifest.json", "hashes": False}


def test_only_stale_files_travel_and_extra_files_go(monkeypatch, tmp_path):
    def remote(manifest):
        return {"manifest": manifest, "sizes": {"a.json": 2, "sub/b.bin": 1, "old.bin": 9}, "hashes": None}

    shown, _, src = run(monkeypatch, tmp_path, remote)
    assert shown == [
        "rm -f /opt/m/x/old.bin",
        "mkdir -p /opt/m /opt/m/x/sub",
        f"upload {src}/sub/b.bin -> /opt/m/x/sub/b.bin",
        "upload manifest -> /opt/m/x.manifest.json",
        "chmod 644 /opt/m/x/sub/b.bin /opt/m/x.manifest.json",
    ]


def test_a_matching_directory_is_a_noop(monkeypatch, tmp_path):
    def remote(manifest):
        return {"manifest": manifest, "sizes": {"a.json": 2, "sub/b.bin": 2}, "hashes": None}

    shown, fake, _ = run(monkeypatch, tmp_path, remote)
    assert shown == [] and fake.noops == ["/opt/m/x matches its manifest (2 files, 4 bytes; manifest and sizes)"]


def test_thousands_of_files_stay_within_a_command_line(monkeypatch):
    assert [len(c) for c in model._chunks([f"/m/{i}" for i in range(600)])] == [256, 256, 88]

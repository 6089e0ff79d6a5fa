"""Unit tier fixtures: the demo model written into a temporary directory (each module gets its own
copy), and a guard that keeps the tier off the network: a connection to anything but this machine's
loopback fails the test that made it."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from llmhost.tinymodel import write_tiny_gguf, write_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    """The tiny checkpoint (config.json, tokenizer, safetensors), as a path string for the data."""
    return str(write_tiny_model(tmp_path_factory.mktemp("m") / "tiny-qwen2"))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The tiny checkpoint and a directory holding the same model as one GGUF file."""
    root = tmp_path_factory.mktemp("m")
    hf = write_tiny_model(root / "tiny-qwen2")
    return hf, write_tiny_gguf(hf, root / "tiny-gguf").parent


def _loopback(address) -> bool:
    if not isinstance(address, tuple):
        return True  # a Unix socket
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name to resolve: somewhere else


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded(method):
        def call(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
                raise AssertionError(
                    f"a unit test reached for the network: {address!r} (the unit tier stays on loopback)"
                )
            return method(self, address)

        return call

    monkeypatch.setattr(socket.socket, "connect", guarded(connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(connect_ex))

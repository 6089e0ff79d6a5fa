"""The unit tier keeps to this machine: its conftest fails a test that connects anywhere but loopback."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest


def test_a_connection_off_this_machine_fails_the_test():
    with socket.socket() as s, pytest.raises(AssertionError, match="reached for the network: \\('192.0.2.1', 80\\)"):
        s.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed, and never tried


def test_loopback_is_allowed():
    class Ok(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    with HTTPServer(("127.0.0.1", 0), Ok) as server:
        threading.Thread(target=server.handle_request, daemon=True).start()
        with socket.create_connection(server.server_address, timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert s.recv(64).startswith(b"HTTP/1.0 204")

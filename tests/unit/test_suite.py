"""The test suite's own rules: the unit tier keeps to this machine (its conftest fails a test that
connects anywhere but loopback); test modules share through conftest, common and helper modules,
never by importing each other; no test's assertions all sit in a loop that may run zero times;
every fact and operation of llmhost is named by a test."""

from __future__ import annotations

import ast
import inspect
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from pyinfra.api import FactBase

import llmhost.facts
import llmhost.operations
from tests.helpers import REPO

TESTS = sorted((REPO / "tests").rglob("*.py"))


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


def test_no_test_module_imports_another():
    imports = []
    for path in TESTS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[-1].startswith("test_"):
                imports.append(f"{path.relative_to(REPO)} imports {node.module}")
    assert len(TESTS) > 60 and imports == []


def _asserts(node, in_loop: bool = False):
    """(inside a loop?, assert) for each assert of a function's body, nested functions left out."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Assert):
            yield in_loop, child
        elif isinstance(child, (ast.For, ast.AsyncFor, ast.While)):
            for part in child.body + child.orelse:
                yield from _asserts(ast.Module(body=[part], type_ignores=[]), True)
        elif not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _asserts(child, in_loop)


def test_no_test_asserts_only_inside_a_loop():
    """A loop over nothing skips its assertions: the test passes having checked nothing."""
    looping = []
    for path in TESTS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found = list(_asserts(node))
                if found and all(in_loop for in_loop, _ in found):
                    looping.append(f"{path.relative_to(REPO)}::{node.name}")
    assert looping == []


def _members(package, keep):
    import importlib
    import pkgutil

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, value in vars(module).items():
            if getattr(value, "__module__", None) == module.__name__ and keep(value):
                found[f"{info.name}.{name}"] = name
    return found


def test_every_fact_and_operation_is_named_by_a_test():
    """By its name in a test module or a fact fixture (tests/fixtures/facts/<Fact>.<case>.json)."""
    facts = _members(llmhost.facts, lambda v: inspect.isclass(v) and issubclass(v, FactBase) and v is not FactBase)
    operations = _members(llmhost.operations, lambda v: callable(v) and hasattr(v, "_inner"))
    text = "\n".join(p.read_text() for p in TESTS if p.name.startswith("test_"))
    fixtures = {p.name.split(".")[0] for p in (REPO / "tests" / "fixtures" / "facts").glob("*.json")}
    assert len(facts) > 30 and len(operations) > 20
    unnamed = [k for k, name in facts.items() if name not in fixtures and f"{name}" not in text]
    unnamed += [k for k in operations if not re.search(r"\w*{}(_ops)?\.{}\b".format(*k.split(".")), text)]
    assert unnamed == []

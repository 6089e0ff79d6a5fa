"""A file fetched onto the host and checked by sha256, shared by the operations that install from
a download (Miniforge's installer, llama.cpp's source archive, NVIDIA's keyring package)."""

from __future__ import annotations

from pyinfra.api import StringCommand
from pyinfra.api.command import QuoteString


def fetch(url: str, dest: str) -> StringCommand:
    """``url`` (https:// or file://) saved at ``dest``; an HTTP error fails it (curl -f)."""
    return StringCommand("curl", "-fsSL", "--retry", "3", "-o", QuoteString(dest), QuoteString(url))


def check(sha256: str, dest: str) -> StringCommand:
    """Fails unless ``dest`` has the sha256 ``sha256``."""
    return StringCommand("echo", QuoteString(f"{sha256}  {dest}"), "|", "sha256sum", "--check", "--strict", "-")


def listed(sums: str, dest: str, filename: str | None = None) -> StringCommand:
    """Fails unless ``dest`` has the sha256 a publisher's sums file lists: its line for
    ``filename`` (``<sha256>  [./]<filename>``, as in Ollama's sha256sum.txt), or, without
    ``filename``, the one hash the file holds (Miniforge's ``<installer>.sha256``)."""
    pick = ('$2 == f || $2 == "./" f {print $1 "  " d}',) if filename else ('{print $1 "  " d}',)
    named = ("-v", QuoteString(f"f={filename}")) if filename else ()
    return StringCommand("awk", *named, "-v", QuoteString(f"d={dest}"), *(QuoteString(p) for p in pick),
                         QuoteString(sums), "|", "sha256sum", "--check", "--strict", "-")  # fmt: skip


def checked(url: str, dest: str, sha256: str) -> list[StringCommand]:
    """``url`` saved at ``dest`` and checked against ``sha256`` before anything uses it."""
    return [fetch(url, dest), check(sha256, dest)]

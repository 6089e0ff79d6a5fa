"""A file fetched onto the host and checked by sha256, shared by the operations that install from
a download (Miniforge's installer, llama.cpp's source archive, NVIDIA's keyring package)."""

from __future__ import annotations

from pyinfra.api import StringCommand
from pyinfra.api.command import QuoteString

# An unreachable or stalled source ends the fetch in bounded time: 20 s to connect, 2 retries, and
# a transfer slower than 1 KiB/s for 60 s is abandoned.
BOUNDS = (
    "--connect-timeout",
    "20",
    "--retry",
    "2",
    "--retry-delay",
    "2",
    "--speed-limit",
    "1024",
    "--speed-time",
    "60",
)


def fetch(url: str, dest: str, key: str | None = None) -> StringCommand:
    """``url`` (https:// or file://) saved at ``dest``; an HTTP error fails it (curl -f), and an
    unreachable or stalled source in bounded time, naming ``key`` (the data key that sets ``url``)."""
    curl = StringCommand("curl", "-fsSL", *BOUNDS, "-o", QuoteString(dest), QuoteString(url))
    if not key:
        return curl
    return StringCommand(
        curl,
        "||",
        "{",
        "echo",
        QuoteString(f"{key}: {url} could not be fetched from this host"),
        ">&2;",
        "exit",
        "1;",
        "}",
    )


def check(sha256: str, dest: str) -> StringCommand:
    """Fails unless ``dest`` has the sha256 ``sha256``."""
    return StringCommand("echo", QuoteString(f"{sha256}  {dest}"), "|", "sha256sum", "--check", "--strict", "-")


def listed(sums: str, dest: str, filename: str | None = None) -> StringCommand:
    """Fails unless ``dest`` has the sha256 a publisher's sums file lists: its line for
    ``filename`` (``<sha256>  [./]<filename>``, as in Ollama's sha256sum.txt), or, without
    ``filename``, the one hash the file holds (Miniforge's ``<installer>.sha256``)."""
    pick = ('$2 == f || $2 == "./" f {print $1 "  " d}',) if filename else ('{print $1 "  " d}',)
    named = ("-v", QuoteString(f"f={filename}")) if filename else ()
    return StringCommand(
        "awk",
        *named,
        "-v",
        QuoteString(f"d={dest}"),
        *(QuoteString(p) for p in pick),
        QuoteString(sums),
        "|",
        "sha256sum",
        "--check",
        "--strict",
        "-",
    )


def checked(url: str, dest: str, sha256: str, key: str | None = None) -> list[StringCommand]:
    """``url`` saved at ``dest`` and checked against ``sha256`` before anything uses it."""
    return [fetch(url, dest, key), check(sha256, dest)]

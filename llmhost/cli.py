"""The `llmhost` command line."""

from __future__ import annotations

import argparse
import sys

from llmhost import __version__


def _tiny_model(args) -> int:
    from llmhost.manifest import build_manifest, total_bytes
    from llmhost.tinymodel import write_tiny_model

    out = write_tiny_model(args.directory)
    manifest = build_manifest(out, "llmhost tiny-model")
    print(f"{out}: {len(manifest['files'])} files, {total_bytes(manifest)} bytes")
    for rel, entry in sorted(manifest["files"].items()):
        print(f"  {entry['sha256']}  {rel}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmhost", description=__doc__)
    parser.add_argument("--version", action="version", version=f"llmhost {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "tiny-model",
        help="write the deterministic tiny Qwen2-architecture demo model into DIRECTORY",
    )
    p.add_argument("directory")
    p.set_defaults(func=_tiny_model)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (OSError, ValueError) as e:
        print(f"llmhost {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

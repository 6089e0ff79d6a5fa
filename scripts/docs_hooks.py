"""MkDocs hooks of llmhost's docs site: the reference pages that must never be written by hand are
generated from the code at build time. A page holds a marker, an HTML comment alone on its line,
and the build puts the generated text in its place:

- ``<!-- llmhost:data-keys -->``: every key of the data contract, from group_data/all.py's own
  comments and defaults (the file that documents each key once);
- ``<!-- llmhost:cli -->``: ``llmhost --help`` and each subcommand's, from llmhost.cli's parser;
- ``<!-- llmhost:errors -->``: every refusal llmhost can say (PlanError, DataError), from the code;
- a line ``--8<-- "docs/seeds.md:<seed>"`` (inside a code block): that seed's ``llmhost plan``
  transcript from docs/seeds.md, which tests/golden.py generates and checks.

An unknown marker fails the build. tests/unit/test_docs_site.py builds the site with ``--strict``
and reads the generated pages back."""

from __future__ import annotations

import ast
import html
import io
import os
import re
import sys
from contextlib import redirect_stdout
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- llmhost:([a-z-]+) -->$", re.MULTILINE)
_TOP = re.compile(r"^(llmhost_\w+|__llmhost_\w+_keys__) = ")
_SUB = re.compile(r'^    "(\w+)": ')


def _markdown(comments: list[str]) -> str:
    """A key's comment lines as Markdown: the prose escaped (``<root>``, ``__x__``, ``*`` stay as
    written), each ``Example:`` and the lines indented under it as a Python block."""
    out, code = [], None
    for raw in comments:
        text = raw[2:] if raw.startswith("# ") else raw.lstrip("#")
        if text.startswith("Example:"):
            if code is not None:
                out.append("```python\n" + "\n".join(code) + "\n```")
            code = [text.removeprefix("Example:").strip()] if text.removeprefix("Example:").strip() else []
            continue
        if code is not None and text.startswith("  "):
            code.append(text[2:])
            continue
        if code is not None:
            out.append("```python\n" + "\n".join(code) + "\n```")
            code = None
        prose = re.sub(r"([*_\[\]`\\])", r"\\\1", html.escape(text, quote=False))
        out.append(prose.replace("{", "&#123;").replace("}", "&#125;"))  # braces are not attr_list's
    if code is not None:
        out.append("```python\n" + "\n".join(code) + "\n```")
    # a code block stands apart from the prose around it
    return re.sub(r"\n?(```python\n.*?\n```)\n?", r"\n\n\1\n\n", "\n".join(out), flags=re.DOTALL).strip()


def _comments_above(lines: list[str], i: int, indent: str) -> list[str]:
    block = []
    j = i - 1
    while j >= 0 and lines[j].startswith(indent + "#"):
        block.insert(0, lines[j][len(indent) :])
        j -= 1
    return block


def data_keys() -> str:
    """Every key of group_data/all.py: its comment there and its default."""
    sys.path.insert(0, str(REPO))
    from llmhost.contract import defaults, keys_of

    lines = (REPO / "group_data" / "all.py").read_text().splitlines()
    known, parts, within = defaults(), [], None
    for i, line in enumerate(lines):
        top = _TOP.match(line)
        if top:
            name = top.group(1)
            within = name.removeprefix("__").removesuffix("_keys__") if name.startswith("__") else None
            if within:
                parts.append(f"### Keys of each `{within}` entry\n" if within == "llmhost_services" else "")
                continue
            parts.append(_entry(f"`{name}`", name, _comments_above(lines, i, ""), known[name], level=2))
            continue
        if within and line.startswith("}"):
            within = None
            continue
        sub = _SUB.match(line) if within else None
        if sub:
            key = sub.group(1)
            default = keys_of(within)[key]
            title = f"`{within}{'[]' if within == 'llmhost_services' else ''}.{key}`"
            parts.append(_entry(title, f"{within}-{key}", _comments_above(lines, i, "    "), default, level=4))
    return "\n".join(p for p in parts if p)


def _entry(title: str, anchor: str, comments: list[str], default, level: int) -> str:
    shown = "required" if default is None and title.endswith((".name`", ".model`")) else f"`{default!r}`"
    return f"{'#' * level} {title} {{#{anchor}}}\n\nDefault: {shown}\n\n{_markdown(comments)}\n"


def cli() -> str:
    """``llmhost --help`` and every subcommand's help, as the parser prints them."""
    sys.path.insert(0, str(REPO))
    from llmhost.cli import parser

    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: the page is the same everywhere
    top = parser()
    parts = ["## llmhost\n", "```text\n" + top.format_help().rstrip() + "\n```\n"]
    sub = next(a for a in top._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, command in sub.choices.items():
        parts += [f"## llmhost {name}\n", "```text\n" + command.format_help().rstrip() + "\n```\n"]
    return "\n".join(parts)


def _template(node: ast.AST) -> str | None:
    """A message as written: an f-string's expressions as ``{...}``; None where it is no literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}" for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left), _template(node.right)
        return None if left is None and right is None else (left or "{...}") + (right or "{...}")
    return None


def refusals() -> list[tuple[str, str, str]]:
    """(the key or "plan", the message, file:line) of every PlanError and DataError the code raises."""
    found = []
    for path in sorted((REPO / "llmhost").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("PlanError", "DataError")):
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if node.func.id == "DataError" and len(node.args) == 2:
                key, message = _template(node.args[0]), _template(node.args[1])
                if message is not None:
                    found.append((key or "{key}", message, where))
            elif node.args:
                message = _template(node.args[0])
                if message is not None:
                    key, _, rest = message.partition(": ")
                    found.append((key, rest, where) if rest and " " not in key.strip("{}") else ("", message, where))
    return sorted(found, key=lambda f: (f[2].split(":")[0], int(f[2].split(":")[1])))


def errors() -> str:
    rows = ["| key | what it says | where |", "|---|---|---|"]
    for key, message, where in refusals():
        cell = html.escape(message.replace("\n", " "), quote=False).replace("|", "\\|")
        cell = re.sub(r"([*_\[\]`])", r"\\\1", cell).replace("{", "&#123;").replace("}", "&#125;")  # not attr_list's
        rows.append(f"| `{key}` | {cell} | `{where}` |" if key else f"| | {cell} | `{where}` |")
    return "\n".join(rows) + "\n"


GENERATORS = {"data-keys": data_keys, "cli": cli, "errors": errors}
SEED_TRANSCRIPT = re.compile(r'^--8<-- "docs/seeds\.md:([\w-]+)"$', re.MULTILINE)


def seed_transcript(seed: str) -> str:
    """The lines of ``llmhost plan inventories/<seed>.py --hardware ...`` as docs/seeds.md holds them
    (generated by tests/golden.py and tested equal to what the command prints)."""
    text = (REPO / "docs" / "seeds.md").read_text()
    found = re.search(rf"^## {re.escape(seed)}\n\n```\n(.*?)```$", text, re.MULTILINE | re.DOTALL)
    if not found:
        raise ValueError(f"docs/seeds.md has no transcript of seed {seed!r}")
    return found.group(1).rstrip("\n")


def on_page_markdown(markdown: str, page, config, files) -> str:
    def generated(match: re.Match) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_path}: no generator for <!-- llmhost:{name} -->")
        with redirect_stdout(io.StringIO()):
            return GENERATORS[name]()

    markdown = SEED_TRANSCRIPT.sub(lambda m: seed_transcript(m.group(1)), markdown)
    return MARKER.sub(generated, markdown)

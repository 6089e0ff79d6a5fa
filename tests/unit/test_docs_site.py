"""The docs site as a reader gets it: `mkdocs build --strict` of mkdocs.yml (a broken link, a missing
page or a missing include fails), its generated reference pages read back (every data key with the
default group_data/all.py writes, every command's help, every refusal), the host pages' commands
each run by a test or marked as not runnable here, the zh-CN pages naming the same commands as
their English pages, and the README a page a newcomer reads. ~15 s (the build)."""

from __future__ import annotations

import html
import re
import runpy
import sys
from pathlib import Path

import pytest

from llmhost.contract import defaults, keys_of
from tests.helpers import REPO, build_docs

sys.path.insert(0, str(REPO / "scripts"))
import docs_hooks

DOCS = REPO / "docs"
HOSTS = ["wsl-laptop", "cpu-server", "v100", "rtx4060-laptop", "a800"]
TRANSLATED = ["getting-started.md"] + [f"hosts/{h}.md" for h in HOSTS]
# the commands of a host page that a test runs: each seed's plan (docs/seeds.md, tests/golden.py)
# and the README's two commands (tests/fleet/test_quickstart.py, .ci/run)
RUN_BY_TESTS = set(re.findall(r"^\$ (llmhost plan .+)$", (DOCS / "seeds.md").read_text(), re.MULTILINE)) | {
    "make serve",
    "make test",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build_docs(out)
    return out


def text_of(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def commands(page: Path) -> list[tuple[str, bool]]:
    """Each `$ ` line of the page's console blocks, and whether its block is marked not runnable."""
    found, marked, inside = [], False, False
    previous = ""
    for line in page.read_text().splitlines():
        if line.startswith("```console"):
            inside, marked = True, previous.startswith("<!-- not-run: ")
        elif line.startswith("```"):
            inside = False
        elif inside and line.startswith("$ "):
            found.append((line[2:].strip(), marked))
        if line.strip():
            previous = line.strip()
    return found


def test_the_site_builds_strict_and_has_every_page_of_its_nav(site):
    import yaml

    def pages(nav) -> list[str]:
        return [p for item in nav for v in item.values() for p in ([v] if isinstance(v, str) else pages(v))]

    listed = pages(yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"])
    assert len(listed) >= 35 and {f"zh/{p}" for p in TRANSLATED} <= set(listed)
    missing = [p for p in listed if not (site / p.removesuffix(".md").removesuffix("index") / "index.html").is_file()]
    assert missing == []


def test_the_data_keys_page_is_the_contract(site):
    """Each key a heading of its own, with the default group_data/all.py writes for it."""
    page = (site / "reference" / "data-keys" / "index.html").read_text()

    def said(anchor: str, default) -> bool:
        shown = "required" if anchor in ("llmhost_services-name", "llmhost_services-model") else None
        shown = shown or f"<code>{html.escape(repr(default), quote=False)}</code>"
        pattern = rf'<h[24] id="{re.escape(anchor)}">.*?</h[24]>\s*<p>Default: {re.escape(shown)}</p>'
        return re.search(pattern, page, re.DOTALL) is not None

    assert [k for k, default in defaults().items() if not said(k, default)] == []
    for key in ("llmhost_services", "llmhost_gateway", "llmhost_webui"):
        nested = keys_of(key)
        assert len(re.findall(rf'<h4 id="{key}-', page)) == len(nested), key
        assert [sub for sub, default in nested.items() if not said(f"{key}-{sub}", default)] == [], key


def test_the_cli_page_is_the_parsers_help(site):
    from llmhost.cli import parser

    page = text_of(site / "reference" / "cli" / "index.html")
    sub = next(a for a in parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    assert len(sub.choices) >= 8
    for name, command in sub.choices.items():
        assert f"usage: llmhost {name}" in page, name
        assert all(
            f"--{o}" in page for a in command._actions for o in [s[2:] for s in a.option_strings if s.startswith("--")]
        )


def test_the_error_index_lists_every_refusal_of_the_code(site):
    page = text_of(site / "reference" / "errors" / "index.html")
    found = docs_hooks.refusals()
    assert len(found) > 150
    for _, _, where in found:
        assert where in page, where
    # one refusal as the code writes it
    assert "no Miniforge installer for {facts.arch}" in page


@pytest.mark.parametrize("host", HOSTS)
def test_a_host_page_includes_its_real_files_and_its_plan(site, host):
    source = (DOCS / "hosts" / f"{host}.md").read_text()
    assert f'--8<-- "inventories/{host}.py"' in source and f'--8<-- "group_data/{host}.py"' in source
    assert f'--8<-- "docs/seeds.md:{host}"' in source
    page = text_of(site / "hosts" / host / "index.html")
    transcript = docs_hooks.seed_transcript(host)
    assert transcript.splitlines()[0] in page and transcript.splitlines()[-1].strip() in page


@pytest.mark.parametrize(
    "page", [f"hosts/{h}.md" for h in HOSTS + ["multi-node"]] + [f"zh/hosts/{h}.md" for h in HOSTS]
)
def test_every_command_on_a_host_page_is_run_by_a_test_or_marked_not_runnable(page):
    shown = commands(DOCS / page)
    unmarked = [c for c, marked in shown if not marked and c not in RUN_BY_TESTS]
    assert unmarked == [], f"{page}: run these in a test, or mark their block <!-- not-run: why -->"


@pytest.mark.parametrize("page", TRANSLATED)
def test_the_chinese_page_names_the_same_commands_and_files(page):
    english, chinese = (DOCS / page).read_text(), (DOCS / "zh" / page).read_text()
    assert commands(DOCS / "zh" / page) == commands(DOCS / page)
    includes = re.compile(r'^--8<-- ".+"$', re.MULTILINE)
    assert includes.findall(chinese) == includes.findall(english)
    assert (
        re.search(r"[\u4e00-\u9fff]{20}", chinese.replace(" ", ""))
        or len(re.findall(r"[\u4e00-\u9fff]", chinese)) > 200
    )


def test_the_multi_node_example_is_a_real_inventory_and_valid_data():
    from llmhost.settings import load

    inventory = runpy.run_path(str(REPO / "inventories" / "a800-pair.py"))
    hosts = {name for value in inventory.values() if isinstance(value, list) for name, _ in value}
    data = runpy.run_path(str(REPO / "group_data" / "a800_pair.py"))
    settings = load({k: v for k, v in data.items() if k.startswith("llmhost_")})
    nodes = {node for service in settings.services for node in service.nodes}
    assert nodes and nodes <= hosts
    source = (DOCS / "hosts" / "multi-node.md").read_text()
    assert '--8<-- "inventories/a800-pair.py"' in source and '--8<-- "group_data/a800_pair.py"' in source


def test_the_readme_fits_a_screenful_and_names_the_two_commands():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 170
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.DOTALL)
    assert "make serve\n" in blocks and "make test\n" in blocks
    assert "MIT License" in (REPO / "LICENSE").read_text()
    # every docs link of the README is a page of the site
    for link in re.findall(r"\]\((docs/[^)#]+)\)", readme):
        assert (REPO / link).exists(), link


def test_the_tiny_models_size_in_the_cli_help_is_what_it_writes(tmp_path):
    from llmhost.cli import parser
    from llmhost.tinymodel import write_tiny_model

    write_tiny_model(tmp_path / "tiny")
    weights = (tmp_path / "tiny" / "model.safetensors").stat().st_size / 1e6
    sub = next(a for a in parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    said = re.search(r"tiny \(default: ([\d.]+) MB", sub.choices["tiny-model"].format_help().replace("\n", " "))
    assert said and abs(float(said.group(1)) - weights) < 0.1, (said, weights)


def test_every_document_the_code_cites_is_in_the_repository():
    """The code once cited reference/engines.md, a file outside the repository: every docs/ path a
    module, deploy, template or test names exists."""
    cited = set()
    for root in ("llmhost", "deploys", "templates", "tests", "scripts", "group_data"):
        for path in (REPO / root).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".j2", ".md", ".json"):
                cited |= set(re.findall(r"\bdocs/[\w./-]+\.(?:md|txt|png)\b", path.read_text(errors="replace")))
    assert len(cited) >= 4
    assert sorted(c for c in cited if not (REPO / c).exists()) == []
    assert not [p for p in (REPO / "llmhost").rglob("*.py") if "reference/engines.md" in p.read_text()]

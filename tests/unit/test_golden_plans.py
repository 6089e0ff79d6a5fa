"""The golden plans (tests/golden.py): every plan in tests/fixtures/plans/ is rendered again and must
be byte-identical. A planner change that moves a plan fails here with the diff; when the change is
meant, regenerate (`.venv/bin/python -m tests.golden`) and commit the new plans with it."""

from __future__ import annotations

import difflib

import pytest

from tests import golden

NAMES = (
    [f"cli-{hw}.txt" for hw in golden.SEEDS]
    + [f"inventory-{name}.json" for name in (*golden.SEEDS, "local")]
    + [f"plan-{name}.json" for name in golden.SCENARIOS]
    + [f"hub-{hw}.txt" for hw in golden.SEEDS]
)


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    with golden.workdir() as base:
        return golden.render_all(base)


def test_every_golden_file_is_rendered_and_nothing_else():
    on_disk = sorted(p.name for p in golden.GOLDEN.iterdir())
    assert on_disk == sorted(NAMES), "regenerate with: .venv/bin/python -m tests.golden"


@pytest.mark.parametrize("name", NAMES)
def test_plan_is_byte_identical_to_its_golden_file(rendered, name):
    want = (golden.GOLDEN / name).read_text()
    got = rendered[name]
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), f"golden/{name}", "now", n=2))
        pytest.fail(f"the plan changed (regenerate with `.venv/bin/python -m tests.golden` if meant):\n{diff[:6000]}")


def test_the_golden_set_covers_every_engine_and_refusals(rendered):
    """The set is worth keeping only if it reaches the planner's branches: every engine is planned,
    and refusals are recorded as well as plans."""
    plans = [golden.json.loads(rendered[n]) for n in NAMES if n.startswith("plan-")]
    engines = {e["engine"] for p in plans if "engines" in p for e in p["engines"]}
    assert engines == {"vllm-cpu", "vllm", "llamacpp", "ollama", "gateway", "webui"}
    assert sum("refused" in p for p in plans) >= 20 and sum("refused" not in p for p in plans) >= 40
    assert any(p.get("driver") and p["driver"]["install"] for p in plans)
    assert any(p.get("conda") for p in plans) and any(p.get("ollama") for p in plans)


def test_the_seeds_page_is_what_llmhost_plan_prints_now():
    """docs/seeds.md: each seed's `llmhost plan INVENTORY --hardware FILE`, as generated now."""
    want = golden.SEEDS_DOC.read_text()
    got = golden.render_seeds_doc()
    assert got == want, "docs/seeds.md is stale: regenerate with `.venv/bin/python -m tests.golden`"
    assert got.count("$ llmhost plan inventories/") == len(golden.SEEDS) and "[exit" not in got


def test_the_models_page_is_the_hub_plans_now(rendered):
    """docs/models.md: the test hub's models on every seed, from the hub-*.txt plans rendered now."""
    got = golden.render_models_doc(rendered)
    assert got == golden.MODELS_DOC.read_text(), (
        "docs/models.md is stale: regenerate with `.venv/bin/python -m tests.golden`"
    )
    assert got.count("\n## hf:") >= 12 and "refused" in got and "vllm 0.14.1, bfloat16" in got

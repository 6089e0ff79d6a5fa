"""The guard rails of the `llmhost` commands over an inventory, read on the controller before any
host is touched: a misspelt inventory, an empty one, a failing inventory or group data file (named
by file and line), a --limit matching nothing; group data found beside the inventory from any
folder, and a deploy run by pyinfra itself that would miss it."""

from __future__ import annotations

import contextlib
import io
import os

import pytest

from llmhost import inventory
from llmhost.cli import main
from tests.helpers import REPO

HARDWARE = str(REPO / "tests" / "fixtures" / "hardware" / "cpu-server.yaml")


def llmhost(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A user's project: inventories/ and group_data/ side by side, the current folder elsewhere."""
    (tmp_path / "inventories").mkdir()
    (tmp_path / "group_data").mkdir()
    (tmp_path / "inventories" / "lab.py").write_text('hosts = ["gpu-1", "cpu-1"]\n')
    (tmp_path / "group_data" / "lab.py").write_text(
        'llmhost_services = [{"name": "qwen", "model": "Qwen/Qwen2.5-0.5B-Instruct", "engine": "vllm-cpu"}]\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return tmp_path


@pytest.mark.parametrize("command", [["plan"], ["status"], ["serve", "-y"], ["stop"], ["bench"]])
def test_a_misspelt_inventory_is_one_line_not_a_silent_success(project, command):
    rc, out, err = llmhost(*command, str(project / "inventories" / "lab2.py"))
    assert (rc, out) == (2, "")
    assert err == f"llmhost {command[0]}: {project}/inventories/lab2.py: no such inventory file\n"


def test_an_inventory_without_hosts_is_refused(project):
    (project / "inventories" / "none.py").write_text("hosts = []\n")
    rc, _, err = llmhost("status", str(project / "inventories" / "none.py"))
    assert rc == 2 and err == f"llmhost status: {project}/inventories/none.py: the inventory has no hosts\n"


def test_a_group_data_file_that_does_not_parse_is_named_by_file_and_line(project):
    (project / "group_data" / "lab.py").write_text('llmhost_services = [\n    {"name": "a",\n')
    rc, _, err = llmhost("plan", str(project / "inventories" / "lab.py"), "--hardware", HARDWARE)
    assert rc == 2 and err == (f"llmhost plan: {project}/group_data/lab.py:2: SyntaxError: '{{' was never closed\n")


def test_an_inventory_that_raises_is_named_by_its_line(project):
    (project / "inventories" / "lab.py").write_text('import os\n\nhosts = [os.environ["NO_SUCH_VARIABLE"]]\n')
    rc, _, err = llmhost("plan", str(project / "inventories" / "lab.py"), "--hardware", HARDWARE)
    assert rc == 2 and err == f"llmhost plan: {project}/inventories/lab.py:3: KeyError: 'NO_SUCH_VARIABLE'\n"


def test_a_limit_that_matches_no_host_is_refused(project):
    rc, _, err = llmhost("plan", str(project / "inventories" / "lab.py"), "--hardware", HARDWARE, "--limit", "tpu-*")
    assert rc == 2 and err == f"llmhost plan: --limit tpu-*: no host of {project}/inventories/lab.py matches\n"


def test_group_data_beside_the_inventory_is_read_from_any_folder(project):
    """pyinfra reads group_data/ from the current folder and the inventory's own; llmhost hands it
    the one beside the inventory's folder too, so the plan has the group's service from anywhere."""
    rc, out, err = llmhost("plan", str(project / "inventories" / "lab.py"), "--hardware", HARDWARE, "--limit", "cpu-*")
    assert rc == 0, err
    assert out.startswith("host cpu-1: ") and "  service qwen" in out and "host gpu-1" not in out
    assert inventory.group_data_dirs(str(project / "inventories" / "lab.py")) == [str(project / "group_data")]
    os.chdir(project)  # run from the project: pyinfra reads it itself, nothing to add
    assert inventory.group_data_dirs("inventories/lab.py") == []


def test_a_deploy_run_by_pyinfra_from_another_folder_knows_the_group_data_it_missed(project):
    lab = str(project / "inventories" / "lab.py")
    deploy = str(REPO / "deploys" / "serve.py")
    cwd = os.getcwd()
    assert inventory.unread_group_data(["pyinfra", "-y", lab, deploy], cwd) == str(project / "group_data")
    given = ["pyinfra", "--group-data", str(project / "group_data"), lab, deploy]
    assert inventory.unread_group_data(given, cwd) is None
    assert inventory.unread_group_data(["pyinfra", "@local", deploy], cwd) is None  # no inventory file
    assert inventory.unread_group_data(["pyinfra", lab, deploy], str(project)) is None


def test_an_inventory_plan_from_a_hardware_file_needs_no_model_flag(project):
    rc, _, err = llmhost("plan", str(project / "inventories" / "lab.py"), "--hardware", HARDWARE, "--model", "x/y")
    assert rc == 2 and "--model plans a hardware file alone" in err


def test_the_seeds_plan_offline_from_another_folder(tmp_path, monkeypatch):
    """The repository's seeds, planned from a folder that is not the repository's root."""
    monkeypatch.chdir(tmp_path)
    seed = REPO / "inventories" / "v100.py"
    rc, out, err = llmhost("plan", str(seed), "--hardware", str(REPO / "tests/fixtures/hardware/v100.yaml"))
    assert rc == 0, err
    assert (
        out
        == (REPO / "docs" / "seeds.md")
        .read_text()
        .split("$ llmhost plan inventories/v100.py")[1]
        .split("\n", 1)[1]
        .split("```")[0]
    ), "the same plan as from the repository's root"


def test_serve_validates_every_hosts_data_before_pyinfra_starts(project):
    """Bad data (here from --data) is one line naming the host and the key, before any connection."""
    lab = str(project / "inventories" / "lab.py")
    rc, out, err = llmhost("serve", "-y", lab, "--limit", "cpu-1", "--data", "lmhost_mirror=tuna")
    assert (rc, out) == (2, "")
    assert err == (
        "llmhost serve: cpu-1: lmhost_mirror: unknown key; did you mean llmhost_mirror? "
        "(documented keys are in group_data/all.py)\n"
    )
    rc, _, err = llmhost("serve", "-y", lab, "--data", "oops")
    assert rc == 2 and err == "llmhost serve: --data oops: expected KEY=VALUE\n"

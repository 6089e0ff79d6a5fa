"""Open WebUI's admin account kept as the data has it."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation

from llmhost.facts.model import WebuiAdmin, webui_admin_args


@operation()
def admin(python: str, tool: str, database: str, email: str, env_files: list[str], force: bool = False):
    """
    Keep Open WebUI's admin account at ``email`` with the password of ``env_files``
    (WEBUI_ADMIN_PASSWORD). Open WebUI creates the admin from its environment only at its first
    start, and never changes it afterwards: a changed password (or e-mail) in the data is set here,
    in its database, by the host-side tool (bcrypt, as Open WebUI hashes).

    + python: the web UI venv's Python (it has bcrypt)
    + tool: path of llmhost's host-side tool on the host
    + database: Open WebUI's ``webui.db``
    + email: the admin's e-mail address (llmhost_webui.admin_email)
    + env_files: the web UI's env files (the password is read there, on the host)
    + force: run the host-side tool without reading the fact first: for a run that rewrites the env
      file (the fact reads the file as it was before the run); the tool itself changes only what
      differs

    No database yet (before the UI's first start): nothing to do; the UI creates the admin.

    **Example:**

    .. code:: python

        webui.admin(
            name="Admin account of llmhost-webui",
            python="/opt/llmhost/venvs/webui-current/bin/python",
            tool="/opt/llmhost/bin/llmhost-hosttool",
            database="/opt/llmhost/webui/webui.db",
            email="admin@llmhost.local",
            env_files=["/etc/llmhost/webui.env"],
        )
    """
    command = StringCommand(webui_admin_args(python, tool, database, email, env_files, apply=True))
    if force:
        yield command
        return
    state = host.get_fact(
        WebuiAdmin, python=python, tool=tool, database=database, email=email, env_files=tuple(env_files)
    )
    if not state["database"]:
        host.noop(f"{database} does not exist yet: Open WebUI creates {email} at its first start")
        return
    if state["account"] == "exists" and state["matches"]:
        host.noop(f"{email}: the admin account, with the data's password")
        return
    if state["account"] == "none":
        host.noop(f"{database} holds no admin account: Open WebUI creates {email} at its next start")
        return
    yield command

"""Supervise long-running commands in detached tmux sessions (hosts without systemd as PID 1)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString

from llmhost.facts.tmux import TmuxSessions


def _stop(session: str, pid: int, timeout: int) -> StringCommand:
    # The pane's process leads its own process group (tmux starts panes with setsid): hang up the
    # session, then wait until no process of that group is left, so a restarted engine never
    # races its predecessor for the port. SIGKILL the group after `timeout` seconds.
    rounds = max(1, timeout * 2)
    script = (
        f"tmux kill-session -t ={session} 2>/dev/null; i=0; "
        f"while kill -0 -{pid} 2>/dev/null; do i=$((i+1)); "
        f"if [ $i -ge {rounds} ]; then kill -9 -{pid} 2>/dev/null; sleep 1; break; fi; "
        "sleep 0.5; done"
    )
    return StringCommand("sh", "-c", QuoteString(script))


@operation()
def session(
    session: str,
    command: str,
    present: bool = True,
    restarted: bool = False,
    stop_timeout: int = 60,
):
    """
    Keep a detached tmux session running one command, or stop it.

    + session: session name (exact; used as ``-t =session``)
    + command: the command the session runs, e.g. a launcher script
    + present: whether the session should be running
    + restarted: stop the running session (waiting for its processes) and start it again
    + stop_timeout: seconds to wait for the session's processes to exit before SIGKILL

    A session ends when its command exits, so "running" means the command is alive. Gate
    ``restarted=True`` with ``_if=`` on the operations that changed the command's inputs. The
    session starts in ``/``, as systemd starts a system service: the folder the run was started
    from may be one the service user cannot enter (vLLM's engine core died of a PermissionError on
    its working directory when `llmhost serve` ran from root's own temporary folder).

    **Example:**

    .. code:: python

        tmux.session(
            name="Run the engine",
            session="llmhost-tiny",
            command="/opt/llmhost/run/tiny.sh",
        )
    """
    pid = host.get_fact(TmuxSessions).get(session)

    if not present:
        if pid is None:
            host.noop(f"tmux session {session} is not running")
            return
        yield _stop(session, pid, stop_timeout)
        return

    if pid is not None and not restarted:
        host.noop(f"tmux session {session} is running (pid {pid})")
        return
    if pid is not None:
        yield _stop(session, pid, stop_timeout)
    yield StringCommand("tmux", "new-session", "-d", "-c", "/", "-s", QuoteString(session), QuoteString(command))

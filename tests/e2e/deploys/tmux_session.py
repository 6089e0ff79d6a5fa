"""Test deploy: one tmux.session operation, its arguments from --data test_* keys."""

from pyinfra import host

from llmhost.operations import tmux

tmux.session(
    name="tmux session under test",
    session=host.data.test_session,
    command=host.data.test_command,
    present=host.data.get("test_present", True),
    restarted=host.data.get("test_restarted", False),
    stop_timeout=host.data.get("test_stop_timeout", 60),
)

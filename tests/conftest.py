"""Suite-wide hooks: print the timings tests measured."""

from tests.helpers import TIMINGS


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section("llmhost timings")
    for label, seconds in TIMINGS:
        terminalreporter.write_line(f"{seconds:8.1f} s  {label}")

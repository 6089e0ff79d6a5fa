"""An inventory as pyinfra reads it, on the controller, before any connection: its hosts (after
``--limit``) and their data, its group data found where the inventory is, and a failing inventory
or group data file named by file and line. The CLI reads one here before it runs pyinfra (and
`llmhost plan INVENTORY --hardware FILE` plans from it with no host at all); a deploy run by pyinfra
itself checks here that the group data beside the inventory was read."""

from __future__ import annotations

import fnmatch
import os
import sysconfig
import traceback
from pathlib import Path


class InventoryError(Exception):
    """An inventory that cannot be used; ``str()`` is one line."""


def group_data_dirs(inventory: str, cwd: str | None = None) -> list[str]:
    """The group data folders pyinfra does not read by itself and llmhost hands it: the
    ``group_data/`` beside the inventory's folder (``inventories/a800.py`` and ``group_data/``, the
    layout of this repository and of pyinfra's examples) when pyinfra's own two places (the current
    folder's ``group_data/``, the inventory folder's) are other folders."""
    path = Path(inventory)
    if not path.is_file():
        return []
    cwd = Path(cwd or os.getcwd()).resolve()
    folder = path.resolve().parent
    beside = folder.parent / "group_data"
    read = {cwd / "group_data", folder / "group_data"}
    return [str(beside)] if beside.is_dir() and beside not in read else []


def unread_group_data(argv: list[str], cwd: str) -> str | None:
    """In a deploy run by pyinfra itself: the group data folder beside the inventory's folder that
    pyinfra did not read (run from another folder, no --group-data), else None. The inventory is
    the first of pyinfra's arguments naming an existing .py file when a deploy file follows it."""
    files = [a for a in argv[1:] if a.endswith(".py") and Path(a).is_file()]
    if len(files) < 2:
        return None  # a host list or @connector: no group data folder of its own
    missed = group_data_dirs(files[0], cwd)
    given = {str(Path(a).resolve()) for a in _option_values(argv, "--group-data")}
    return next((d for d in missed if d not in given), None)


def _option_values(argv: list[str], option: str) -> list[str]:
    values = []
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif arg.startswith(option + "="):
            values.append(arg.split("=", 1)[1])
    return values


def _where(e: BaseException) -> str:
    """``file:line: error`` for an error raised while pyinfra ran an inventory or group data file:
    the last frame of the traceback in the user's files (not pyinfra's, not Python's own)."""
    if isinstance(e, SyntaxError) and e.filename:
        return f"{e.filename}:{e.lineno}: SyntaxError: {e.msg}"
    paths = sysconfig.get_paths()
    theirs = ("<", *{paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")})
    tb = getattr(e, "_traceback", None) or e.__traceback__
    frames = [f for f in traceback.extract_tb(tb) if not f.filename.startswith(theirs)]
    place = f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""
    return f"{place}{type(e).__name__}: {e}"


def load(inventory: str, limit: list[str] | tuple[str, ...] = (), data: dict | None = None):
    """pyinfra's Inventory of ``inventory`` (a file, a host list or an @connector), its group data
    read from where it is, and the names of its hosts that ``limit`` (pyinfra's --limit: host
    names, globs or group names) keeps. InventoryError: a missing file, a file that fails (by file
    and line), no host, or a limit that matches none."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.exceptions import UnexpectedExternalError
    from pyinfra_cli.inventory import make_inventory

    if inventory.endswith(".py") and not Path(inventory).is_file():
        raise InventoryError(f"{inventory}: no such inventory file")
    if "/" in inventory and not Path(inventory).exists() and "@" not in inventory:
        raise InventoryError(f"{inventory}: no such inventory file")
    cwd = os.getcwd()
    extra = group_data_dirs(inventory, cwd)
    with ctx_state.use(State(check_for_changes=False)):
        try:
            inv = make_inventory(inventory, cwd=cwd, override_data=data or {}, group_data_directories=extra)
        except UnexpectedExternalError as e:
            raise InventoryError(_where(e.exception)) from None
        except Exception as e:  # noqa: BLE001 - the user's file: whatever it raises is named by file and line
            raise InventoryError(_where(e)) from None
    names = [h.name for h in inv]
    if not names:
        raise InventoryError(f"{inventory}: the inventory has no hosts")
    if limit:
        kept = [n for n in names if any(_matches(inv, n, pattern) for pattern in limit)]
        if not kept:
            raise InventoryError(f"--limit {','.join(limit)}: no host of {inventory} matches")
        names = kept
    return inv, names


def _matches(inv, name: str, pattern: str) -> bool:
    group = inv.get_group(pattern, None) if hasattr(inv, "get_group") else None
    if group is not None and any(h.name == name for h in group):
        return True
    return fnmatch.fnmatch(name, pattern)

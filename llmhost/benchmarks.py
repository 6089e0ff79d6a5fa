"""Benchmark results on the controller: each run of a service's sweep is one record, kept at
``<results>/<host>/<service>/<stamp>.json`` and never overwritten; a table like the seed posts'
(tokens/s by concurrency) and a PNG that puts several records on one figure."""

from __future__ import annotations

import json
from pathlib import Path

RECORD_VERSION = 1


def record_path(results: str | Path, host: str, service: str, stamp: str) -> Path:
    return Path(results) / host / service / f"{stamp}.json"


def bound(record: dict) -> dict | None:
    """Single-stream decode held against the hardware: the bandwidth that feeds the weights over
    the bytes of weights each decoded token reads (None: either is unknown)."""
    weights, gbs = record.get("weights_bytes"), (record.get("bandwidth") or {}).get("read_gbs")
    if not weights or not gbs:
        return None
    limit = gbs * 1e9 / weights
    one = next((lv for lv in record["levels"] if lv["concurrency"] == 1 and lv["status"] == "ok"), None)
    decode = one.get("decode_tokens_per_second") if one else None
    return {
        "tokens_per_second": round(limit, 2),
        "decode_tokens_per_second": decode,
        "ratio": round(decode / limit, 3) if decode else None,
    }


def make_record(meta: dict, result: dict, bandwidth: dict | None) -> dict:
    """The stored record: what ran (``meta``: host, service, stamp, argv, engine, the host's facts,
    the request), what the host measured (``result``), the bandwidth it is held against."""
    record = {"version": RECORD_VERSION, **meta, **result, "bandwidth": bandwidth}
    record["bound"] = bound(record)
    return record


def write_record(path: Path, record: dict) -> Path:
    """Write ``record`` at ``path``, which must not exist (results are never overwritten)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x") as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write("\n")
    return path


def load(paths) -> list[dict]:
    records = []
    for path in paths:
        try:
            record = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a benchmark record ({e})")
        if not isinstance(record, dict) or "levels" not in record:
            raise ValueError(f"{path}: not a benchmark record (no levels)")
        records.append({**record, "_path": str(path)})
    return records


def slowest_first_token(results: str | Path, host: str, service: str) -> tuple[float, str] | None:
    """The slowest p99 time to first token (seconds) of the newest record of ``host``'s ``service``
    under ``results`` (over its levels that ran), and that record's path; None: no record with one."""
    paths = sorted(Path(results).glob(f"{host}/{service}/*.json"))
    if not paths:
        return None
    (record,) = load(paths[-1:])
    p99 = [
        lv["ttft_ms"]["p99"] for lv in record["levels"] if lv.get("status") == "ok" and lv.get("ttft_ms", {}).get("p99")
    ]
    return (max(p99) / 1000, str(paths[-1])) if p99 else None


def label(record: dict) -> str:
    return f"{record['host']}/{record['service']} {record['stamp']}"


def _ms(d: dict | None, key: str) -> str:
    value = (d or {}).get(key)
    return f"{value:.0f}" if value is not None else "-"


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def bound_line(record: dict) -> str:
    b, weights = record.get("bound"), record.get("weights_bytes")
    if b and b["decode_tokens_per_second"]:
        return (
            f"c=1: {b['decode_tokens_per_second']:.1f} tok/s = {b['ratio']:.2f}x the bandwidth bound of "
            f"{b['tokens_per_second']:.1f} tok/s (weights {_size(weights)} per token at "
            f"{record['bandwidth']['read_gbs']:g} GB/s, {record['bandwidth'].get('source', 'probed')})"
        )
    if b:
        return f"bound: {b['tokens_per_second']:.1f} tok/s single-stream decode (no successful c=1 level)"
    return f"bound: {record.get('bound_note') or 'unknown'}"


def table(record: dict) -> str:
    """One record as a table: a row per level; a failed level says why."""
    p = record["produced_by"]
    head = (
        f"{label(record)}: {p['engine']} {p['version']}, model {record['model']} "
        f"(prompt {record['request']['prompt_tokens']}, output {record['request']['output_tokens']} tokens)"
    )
    cols = (
        "  conc  out tok/s  per-stream tok/s  req/s   TTFT ms p50/p90/p99   ITL ms p50/p90/p99  "
        "TPOT ms p50  errors  prompt"
    )
    rows = [head, cols]
    for lv in record["levels"]:
        if lv["status"] != "ok":
            rows.append(f"  {lv['concurrency']:>4}  FAILED: {lv.get('cause', 'no cause recorded')}")
            continue
        r = lv["requests"]
        rows.append(
            f"  {lv['concurrency']:>4}  {lv['output_tokens_per_second']:>9.1f}  {lv['decode_tokens_per_second'] or 0:>16.1f}"
            f"  {lv['requests_per_second']:>5.2f}  {_ms(lv['ttft_ms'], 'p50'):>7}/{_ms(lv['ttft_ms'], 'p90')}/"
            f"{_ms(lv['ttft_ms'], 'p99'):<7}  {_ms(lv['itl_ms'], 'p50'):>6}/{_ms(lv['itl_ms'], 'p90')}/"
            f"{_ms(lv['itl_ms'], 'p99'):<8}  {_ms(lv['tpot_ms'], 'p50'):>11}  {r['errored']}/{sum(r.values()):<4}"
            f"  {_ms(lv, 'prompt_tokens_mean'):>6}" + (f"  ({lv['short']})" if lv.get("short") else "")
        )
    rows.append("  " + bound_line(record))
    return "\n".join(rows)


def plot(records: list[dict], path: str | Path) -> Path:
    """Output tokens/s and latency (ITL and TTFT p50) against concurrency, one line per record (a
    failed level is a gap, marked x on the axis), the bandwidth bound of single-stream decode dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (tput, itl, ttft) = plt.subplots(1, 3, figsize=(16, 5), constrained_layout=True)
    levels, top, bounds = set(), 0.0, []
    for index, record in enumerate(records):
        color = f"C{index % 10}"
        ok = [lv for lv in record["levels"] if lv["status"] == "ok"]
        failed = [lv["concurrency"] for lv in record["levels"] if lv["status"] != "ok"]
        cs = [lv["concurrency"] for lv in ok]
        levels.update(lv["concurrency"] for lv in record["levels"])
        name = label(record)
        tput.plot(cs, [lv["output_tokens_per_second"] for lv in ok], "o-", color=color, label=name)
        itl.plot(cs, [lv["itl_ms"]["p50"] for lv in ok], "o-", color=color, label=name)
        ttft.plot(cs, [lv["ttft_ms"]["p50"] for lv in ok], "o-", color=color, label=name)
        top = max([top] + [lv["output_tokens_per_second"] or 0 for lv in ok])
        if failed:
            tput.plot(failed, [0] * len(failed), "x", color=color, markersize=10, clip_on=False)
        if record.get("bound"):
            bounds.append((record["bound"]["tokens_per_second"], color, record["service"]))
    # a bound far above every curve (a tiny model) would flatten them: named in the legend, off the axis
    # one line per bound: runs of one model on one host share theirs
    merged: dict[float, tuple[str, list[str]]] = {}
    for value, color, service in bounds:
        merged.setdefault(round(value, 1), (color, []))[1].append(service)
    for value, (color, services) in merged.items():
        shown = value <= 3 * top or not top
        tput.axhline(
            value if shown else 0,
            color=color,
            linestyle="--",
            linewidth=1,
            alpha=1 if shown else 0,
            label=f"{', '.join(dict.fromkeys(services))}: single-stream bound {value:.0f} tok/s"
            + ("" if shown else " (off the axis)"),
        )
    for ax, title, ylabel in (
        (tput, "Throughput", "output tokens/s (all streams)"),
        (itl, "Inter-token latency (p50)", "ms per token after the first"),
        (ttft, "Time to first token (p50)", "ms"),
    ):
        ax.set_title(title)
        ax.set_xlabel("concurrent requests")
        ax.set_ylabel(ylabel)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(levels), [str(c) for c in sorted(levels)])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    shown = [v for v, _, _ in bounds if v <= 3 * top or not top]
    tput.set_ylim(0, 1.08 * max([top] + shown) or 1)
    tput.legend(fontsize=8, loc="best")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

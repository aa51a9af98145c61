"""The Grafana dashboard drawn as a PNG from a Prometheus server's data, for reports and
the README, where no Grafana runs.

    .venv/bin/python -m bench.dashboard_png --prometheus http://127.0.0.1:9391 \\
        --start 2025-01-01T10:00:00 --end 2025-01-01T10:15:00 --out docs/dashboard.png

Reads monitoring/grafana-dashboard.json; each timeseries and stat panel is queried over
the window (/api/v1/query_range) with its own expressions, Grafana's variables replaced
(`$carrier` and other "All" variables by `.*`, `$__rate_interval` from the step), and drawn
where its gridPos puts it. `run_prometheus` starts a throwaway Prometheus (the Debian
binary) scraping one target every second, for a benchmark to record what was exported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parents[1]
DASHBOARD = CHECKOUT / "monitoring" / "grafana-dashboard.json"
PROMETHEUS_BIN = Path("/usr/bin/prometheus")
LISTEN = "127.0.0.1:9391"  # not 9090: a system Prometheus may hold that
DRAWN = ("timeseries", "stat")
GRID_COLUMNS = 24
INCH_PER_COLUMN = 0.7
INCH_PER_ROW = 0.36  # a Grafana grid row is about half as tall as a column is wide
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    times: list[float]
    values: list[float]


def drawn_panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Timeseries and stat panels, those inside collapsed rows included, and the rows."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found += panel.get("panels", []) if panel["type"] == "row" else []
    return [p for p in found if p["type"] in (*DRAWN, "row")]


def variables(dashboard: Mapping[str, Any], window: float, step: float,
              overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Values for the dashboard's own variables and Grafana's built-in ones."""
    values = {"__interval": f"{step:g}s", "__range": f"{round(window)}s",
              "__range_s": str(round(window)),
              # Like Grafana's: several scrapes wide, so rate() has samples to work with.
              "__rate_interval": f"{max(30, math.ceil(4 * step))}s"}
    for var in dashboard.get("templating", {}).get("list", []):
        current = var.get("current", {}).get("value")
        if var.get("includeAll"):
            values[var["name"]] = var.get("allValue") or ".*"
        elif isinstance(current, str):
            values[var["name"]] = current
    values.update(overrides or {})
    return values


def expand(expr: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise ValueError(f"no value for the variable ${name} in {expr!r} (use --var)")
        return values[name]
    return VARIABLE.sub(one, expr)


def query_range(prometheus: str, expr: str, start: float, end: float,
                step: float) -> list[Series]:
    if not prometheus.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {prometheus}")
    query = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    url = f"{prometheus.rstrip('/')}/api/v1/query_range?{query}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (checked above)
            body = json.load(response)
    except urllib.error.HTTPError as exc:  # a bad query: Prometheus says why in the body
        raise RuntimeError(f"{expr}: {exc.read().decode(errors='replace')}") from exc
    return [Series(item["metric"], [float(t) for t, _ in item["values"]],
                   [float(v) for _, v in item["values"]])
            for item in body["data"]["result"]]


def legend(fmt: str, labels: Mapping[str, str]) -> str:
    """Grafana's legendFormat: `{{carrier}} {{state}}` filled from the series' labels."""
    text = LEGEND_LABEL.sub(lambda m: labels.get(m.group(1), ""), fmt or "").strip()
    return text or ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"


def fetch(panel: Mapping[str, Any], prometheus: str, values: Mapping[str, str], start: float,
          end: float, step: float) -> list[tuple[str, Series]]:
    """(legend, series) for every series of every target of the panel."""
    return [(legend(target.get("legendFormat", ""), series.labels), series)
            for target in panel.get("targets", []) if not target.get("hide")
            for series in query_range(prometheus, expand(target["expr"], values),
                                      start, end, step)]


def format_value(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "percentunit":
        return f"{value * 100:.0f}%"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if abs(value) < 1 else f"{value:.2f} s"
    suffix = {"cps": "/s", "reqps": " req/s"}.get(unit, "")
    return f"{value:.3g}{suffix}"


def stat_look(value: float, defaults: Mapping[str, Any]) -> tuple[str, str]:
    """The text and colour Grafana would show: a value mapping, else the threshold step."""
    for mapping in defaults.get("mappings", []):
        shown = mapping.get("options", {}).get(f"{value:g}")
        if mapping.get("type") == "value" and shown:
            return shown.get("text", f"{value:g}"), shown.get("color", "grey")
    color = "grey"
    for step in defaults.get("thresholds", {}).get("steps", []):
        if step["value"] is None or value >= step["value"]:
            color = step["color"]
    return format_value(value, defaults.get("unit", "")), color


def draw_timeseries(ax: Any, panel: Mapping[str, Any], data: list[tuple[str, Series]],
                    window: tuple[datetime, datetime]) -> None:
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.ticker import FuncFormatter

    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    unit = defaults.get("unit", "")
    step_after = defaults.get("custom", {}).get("lineInterpolation") == "stepAfter"
    # Lines, not Grafana's stacking: a PNG has no tooltip to read a band's own height.
    for name, series in data:
        ax.plot([datetime.fromtimestamp(t) for t in series.times], series.values,
                label=name, linewidth=1, drawstyle="steps-post" if step_after else "default")
    if defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode", "off") != "off":
        for step in defaults.get("thresholds", {}).get("steps", []):
            if step["value"] is not None:
                ax.axhline(step["value"], color=step["color"], linewidth=0.8, linestyle="--")
    if "min" in defaults or "max" in defaults:
        ax.set_ylim(defaults.get("min"), defaults.get("max"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, unit)))
    # Fewer time ticks in narrow panels, or their labels overlap.
    ax.xaxis.set_major_locator(AutoDateLocator(  # type: ignore[no-untyped-call]
        minticks=3, maxticks=max(3, panel["gridPos"]["w"] // 2)))
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]
    ax.set_xlim(*window)
    if data:
        ax.legend(fontsize=6, loc="upper left", framealpha=0.6, ncol=2 if len(data) > 4 else 1)


def draw_stat(ax: Any, panel: Mapping[str, Any], data: list[tuple[str, Series]]) -> None:
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    last = [(name, next((v for v in reversed(s.values) if not math.isnan(v)), math.nan))
            for name, s in data]
    ax.set_axis_off()
    for i, (name, value) in enumerate(last):
        text, color = stat_look(value, defaults)
        y = 1 - (i + 0.5) / len(last)
        ax.text(0.5, y, f"{name}: {text}", ha="center", va="center", fontsize=10,
                transform=ax.transAxes,
                bbox={"boxstyle": "round", "facecolor": color, "alpha": 0.35, "linewidth": 0})


def render(dashboard: Mapping[str, Any], prometheus: str, start: float, end: float,
           out: Path, *, step: float | None = None,
           overrides: Mapping[str, str] | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step = step or max(1.0, (end - start) / 240)
    values = variables(dashboard, end - start, step, overrides)
    panels = drawn_panels(dashboard)
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels) + 1  # the header line
    fig = plt.figure(figsize=(GRID_COLUMNS * INCH_PER_COLUMN, rows * INCH_PER_ROW))
    first, last = datetime.fromtimestamp(start), datetime.fromtimestamp(end)
    fig.text(0.005, 1 - 0.5 / rows,
             f"{dashboard.get('title', '')}   {first:%Y-%m-%d %H:%M:%S} to {last:%H:%M:%S}",
             fontsize=12, fontweight="bold", va="center")
    for panel in panels:
        pos = panel["gridPos"]
        top = 1 - (pos["y"] + 1) / rows
        if panel["type"] == "row":
            fig.text(0.005, top - 0.5 / rows, panel["title"], fontsize=11, va="center",
                     fontweight="bold", color="#444")
            continue
        # Inside its grid cells: room for the title above and the time axis below.
        ax = fig.add_axes((pos["x"] / GRID_COLUMNS + 0.035 * pos["w"] / GRID_COLUMNS + 0.012,
                           top - (pos["h"] - 0.9) / rows,
                           pos["w"] / GRID_COLUMNS * 0.965 - 0.02,
                           (pos["h"] - 1.8) / rows))
        ax.set_title(panel["title"], fontsize=9, loc="left")
        ax.tick_params(labelsize=6)
        data = fetch(panel, prometheus, values, start, end, step)
        if panel["type"] == "stat":
            draw_stat(ax, panel, data)
        else:
            draw_timeseries(ax, panel, data, (first, last))
        if not data:
            ax.text(0.5, 0.5, "No data", ha="center", va="center", color="grey",
                    transform=ax.transAxes)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


@contextlib.contextmanager
def run_prometheus(target: str, storage: Path, *, key_file: Path | None = None,
                   listen: str = LISTEN, binary: Path = PROMETHEUS_BIN) -> Iterator[str]:
    """A Prometheus scraping `target` (host:port, /metrics) every second into `storage`;
    yields its URL once ready, stops it on leaving. The service's /metrics wants an API
    key: `key_file` (e.g. var/api-key) is sent as a Bearer token, read by Prometheus
    itself so that the key is never copied into the config."""
    if not binary.exists():
        raise RuntimeError(f"{binary} missing: apt-get install prometheus (make unit-deps)")
    job: dict[str, Any] = {"job_name": "ari-app", "static_configs": [{"targets": [target]}]}
    if key_file is not None:
        job["authorization"] = {"type": "Bearer", "credentials_file": str(key_file.resolve())}
    with tempfile.TemporaryDirectory(prefix="prometheus-") as folder:
        config = Path(folder) / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is YAML: no template to escape
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [job]}))
        log = (Path(folder) / "prometheus.log").open("w")
        process = subprocess.Popen(
            [str(binary), f"--config.file={config}", f"--storage.tsdb.path={storage}",
             f"--web.listen-address={listen}"],
            stdout=log, stderr=subprocess.STDOUT)
        url = f"http://{listen}"
        try:
            wait_ready(url, process, Path(log.name))
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path,
               timeout: float = 30.0) -> None:
    """Until the target has been scraped once (Prometheus waits about 5 s before its first
    scrape): a benchmark started earlier would miss its first seconds. A failed scrape (a
    401 without the key) raises, with Prometheus' reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited {process.returncode}:\n"
                               f"{log.read_text()[-2000:]}")
        with (contextlib.suppress(OSError, KeyError, IndexError),
              urllib.request.urlopen(f"{url}/api/v1/targets", timeout=1) as response):  # noqa: S310
            target = json.load(response)["data"]["activeTargets"][0]
            if target["health"] == "up":
                return
            if target["health"] == "down":
                raise RuntimeError(f"prometheus cannot scrape {target['scrapeUrl']}: "
                                   f"{target['lastError']}")
        time.sleep(0.2)
    raise RuntimeError(f"prometheus at {url} had not scraped its target after {timeout:.0f} s")


def when(text: str) -> float:
    """Unix seconds, or an ISO 8601 time (local unless it says otherwise), or `now`."""
    if text == "now":
        return time.time()
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", default=f"http://{LISTEN}")
    parser.add_argument("--start", type=when, help="default: 15 minutes before --end")
    parser.add_argument("--end", type=when, default=time.time())
    parser.add_argument("--step", type=float, help="seconds; default: the window / 240")
    parser.add_argument("--dashboard", type=Path, default=DASHBOARD)
    parser.add_argument("--out", type=Path, default=CHECKOUT / "docs" / "dashboard.png")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="a dashboard variable's value (default: All, i.e. .*)")
    args = parser.parse_args()
    start = args.start if args.start is not None else args.end - 900
    overrides = dict(item.split("=", 1) for item in args.var)
    out = render(json.loads(args.dashboard.read_text()), args.prometheus, start, args.end,
                 args.out, step=args.step, overrides=overrides)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

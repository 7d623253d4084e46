"""Run datasets as Polars DataFrames, with the report's own figures (computed by the same Rust code).

    import wotemu
    run = wotemu.open("runs/quickstart")
    run.interactions                       # a table, as a DataFrame
    run.latency(by=["thing", "verb", "name"])
    run.traffic(by=["task"], every="10s")
"""

import json
import re
from pathlib import Path

import polars as pl

from wotemu import _native

WotemuError = _native.WotemuError
DatasetError = _native.DatasetError
QueryError = _native.QueryError
TABLES = tuple(_native.TABLES)

_UNITS_US = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "min": 60_000_000, "h": 3_600_000_000}


def _duration_us(every):
    """`"10s"`, `"500ms"`, `"1m"`, or a number of seconds, in µs."""
    if isinstance(every, (int, float)) and not isinstance(every, bool):
        return int(round(every * 1_000_000))
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|m|h)\s*", str(every))
    if not m:
        raise WotemuError("`every` must be a duration such as \"10s\", \"500ms\" or \"1m\", not {!r}".format(every))
    return int(round(float(m.group(1)) * _UNITS_US[m.group(2)]))


def _frame(cols, times=()):
    """A DataFrame from the native module's (name, dtype, values) columns; `times` names columns of µs since
    the epoch, which become UTC datetimes."""
    if cols is None:
        return None
    series = []
    for name, dtype, values in cols:
        if dtype == "datetime" or (name in times and dtype == "i64"):
            s = pl.Series(name, values, dtype=pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        elif dtype == "f64":
            s = pl.Series(name, values, dtype=pl.Float64)
        elif dtype == "i64":
            s = pl.Series(name, values, dtype=pl.Int64)
        elif dtype == "u64":
            s = pl.Series(name, values, dtype=pl.UInt64)
        elif dtype == "bool":
            s = pl.Series(name, values, dtype=pl.Boolean)
        else:
            s = pl.Series(name, values, dtype=pl.String)
        series.append(s)
    return pl.DataFrame(series)


def _runs(runs):
    if isinstance(runs, (str, Path)):
        return [(Path(runs).name, str(runs))]
    if isinstance(runs, dict):
        return [(str(k), str(v)) for k, v in runs.items()]
    return [(Path(r).name, str(r)) for r in runs]


def query(sql, runs):
    """`wotemu query`: `sql` over the tables of `runs` as a DataFrame."""
    return _frame(_native.sql(_runs(runs), sql))


class Run:
    """A run dataset: its manifest, topology, tasks and tables, and the report's figures."""

    def __init__(self, path):
        self.path = Path(path)
        text, tables = _native.open_dataset(str(self.path))
        self.manifest = json.loads(text)
        self._files = dict(tables)

    def __repr__(self):
        return "<wotemu.Run {} ({}; {} tasks)>".format(self.path, self.manifest.get("stack", "?"),
                                                         self.tasks.height)

    # -- tables ---------------------------------------------------------------------------------------------

    @property
    def tables(self):
        """The names of the dataset's tables that have a file."""
        return [t for t in TABLES if t in self._files]

    def table(self, name, lazy=False):
        """Table `name` as a DataFrame (a LazyFrame with `lazy=True`), typed as the dataset's schema says
        (times are UTC datetimes). A table the dataset lacks is empty."""
        if name not in TABLES:
            raise DatasetError("unknown table `{}`; the tables are: {}".format(name, ", ".join(TABLES)))
        f = self._files.get(name)
        if f is None:
            frame = pl.DataFrame()
            return frame.lazy() if lazy else frame
        try:
            lf = pl.scan_parquet(f)
            return lf if lazy else lf.collect()
        except Exception as e:  # Polars' own errors: a corrupt or truncated file
            raise DatasetError("cannot read table `{}` of {}: {}".format(name, self.path, e)) from e

    @property
    def topology(self):
        """The topology the run used, as its text (YAML or a 0.6 Python file), or None."""
        t = self.manifest.get("topology")
        if isinstance(t, dict):
            return t.get("text")
        return t

    @property
    def tasks(self):
        return self.table("tasks")

    @property
    def interactions(self):
        return self.table("interactions")

    @property
    def packets(self):
        return self.table("packets")

    @property
    def events(self):
        return self.table("events")

    @property
    def system(self):
        return self.table("system")

    @property
    def logs(self):
        return self.table("logs")

    @property
    def timeline(self):
        return self.table("timeline")

    @property
    def network(self):
        return self.table("network")

    @property
    def app(self):
        return self.table("app")

    # -- the report's figures -------------------------------------------------------------------------------

    def latency(self, by=("side", "thing", "name", "verb")):
        """Latency per group of `by` (columns of the interactions table): count, errors, ok_rate (0–1), p50,
        p95, p99 and max (ms), most used first — the report's latency tables. Percentiles are linear
        interpolations over every interaction with a latency."""
        return self._or_empty(_native.latency(str(self.path), list(by)))

    def traffic(self, by=("task",), every="10s"):
        """Packets and bytes per window of `every` and group of `by` (columns of the packets table)."""
        return self._or_empty(_native.traffic(str(self.path), list(by), _duration_us(every)), times=("window",))

    def errors(self):
        """Failed interactions grouped by error type, message, thing, name and verb (the errors page)."""
        return self._or_empty(_native.errors(str(self.path)), times=("first", "last"))

    def cpu(self):
        """CPU per task (% of one core): samples, mean, max and the limit (the summary's CPU ranking)."""
        return self._or_empty(_native.system(str(self.path), "cpu_percent"))

    def memory(self):
        """Memory per task (bytes): samples, mean, max and the limit (the summary's memory ranking)."""
        return self._or_empty(_native.system(str(self.path), "mem_bytes"))

    def query(self, sql):
        """`wotemu query` on this run."""
        return query(sql, self.path)

    @staticmethod
    def _or_empty(cols, times=()):
        frame = _frame(cols, times)
        return frame if frame is not None else pl.DataFrame()

    # -- Jupyter --------------------------------------------------------------------------------------------

    def summary(self):
        """The figures of the run's cards: duration, tasks, interactions, errors, p95 latency (ms)."""
        m = self.manifest
        lat = self.latency(by=["side"])
        consumed = lat.filter(pl.col("side") == "consumed") if lat.height else lat
        n = int(consumed["count"].sum()) if consumed.height else 0
        errors = int(consumed["errors"].sum()) if consumed.height else 0
        p95 = float(consumed["p95"][0]) if consumed.height and consumed["p95"][0] is not None else None
        duration = None
        if m.get("started_at") and m.get("stopped_at"):
            from datetime import datetime

            def parse(s):
                return datetime.fromisoformat(s.replace("Z", "+00:00"))

            duration = (parse(m["stopped_at"]) - parse(m["started_at"])).total_seconds()
        return {"duration_s": duration, "tasks": self.tasks.height, "interactions": n, "errors": errors,
                "p95_ms": p95}

    def _repr_html_(self):
        import html

        s = self.summary()

        def card(label, value):
            return ("<div style='display:inline-block;margin:0 1em 0.5em 0;padding:0.4em 0.8em;"
                    "border:1px solid #ccc;border-radius:4px'><div style='font-size:0.8em;color:#555'>{}</div>"
                    "<div style='font-size:1.3em'>{}</div></div>").format(html.escape(label), html.escape(value))

        def fmt(v, unit=""):
            if v is None:
                return "–"
            if isinstance(v, float):
                return "{:.1f}{}".format(v, unit)
            return "{:,}{}".format(v, unit)

        head = "<div><b>wotemu run</b> {} <span style='color:#555'>(stack {})</span>".format(
            html.escape(str(self.path)), html.escape(str(self.manifest.get("stack", "?"))))
        if self.manifest.get("incomplete"):
            head += " <span style='color:#b00'>incomplete</span>"
        cards = "".join([
            card("duration", fmt(s["duration_s"], " s")),
            card("tasks", fmt(s["tasks"])),
            card("interactions", fmt(s["interactions"])),
            card("errors", fmt(s["errors"])),
            card("p95 latency", fmt(s["p95_ms"], " ms")),
        ])
        return head + "</div><div>" + cards + "</div>"


class Comparison:
    """`wotemu compare` of runs: `runs`, `differences` and `groups` as DataFrames, `json` as a dict."""

    def __init__(self, runs, baseline=0):
        paths = [str(r) for r in runs]
        self.json = json.loads(_native.compare(paths, baseline))
        self.baseline = self.json.get("baseline")

    @property
    def runs(self):
        flat = [{k: v for k, v in r.items() if not isinstance(v, (dict, list))} for r in self.json["runs"]]
        return pl.DataFrame(flat)

    @property
    def differences(self):
        return _records(self.json.get("differences", []))

    @property
    def groups(self):
        return _records(self.json.get("groups", []))

    def __repr__(self):
        return "<wotemu.Comparison of {} runs, baseline {}>".format(len(self.json["runs"]), self.baseline)


def _records(rows):
    """Rows of JSON objects as a DataFrame; nested values become JSON text."""
    flat = [{k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in r.items()} for r in rows]
    return pl.DataFrame(flat, infer_schema_length=None) if flat else pl.DataFrame()

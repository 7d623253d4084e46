"""The `wotemu` Python package against real datasets (run by cli/tests/it/python_package.rs).

Environment:
    WOTEMU_TEST_RUNS   DATASET=SITE pairs separated by `;`: datasets with the report rendered from them
    WOTEMU_BIN         the wotemu binary (for `wotemu query` and `wotemu compose`, compared with the package)
    WOTEMU_REPO        the repository (for the examples)

Every test needs them: a missing variable is a failure, never a skip.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import wotemu


def _env(name):
    value = os.environ.get(name)
    assert value, "{} is not set: run these tests through `cargo nextest run -E 'test(python_package)'`".format(name)
    return value


def _runs():
    pairs = [p.split("=", 1) for p in _env("WOTEMU_TEST_RUNS").split(";") if p]
    assert pairs, "WOTEMU_TEST_RUNS names no dataset"
    return [(Path(d), Path(s)) for d, s in pairs]


RUNS = _runs() if os.environ.get("WOTEMU_TEST_RUNS") else []
BIN = os.environ.get("WOTEMU_BIN")


@pytest.fixture(params=range(len(RUNS)) if RUNS else [None])
def run_and_site(request):
    assert request.param is not None, "WOTEMU_TEST_RUNS is not set"
    dataset, site = RUNS[request.param]
    return wotemu.open(dataset), site


def test_every_table_has_the_manifests_rows_and_the_files_schema(run_and_site):
    run, _ = run_and_site
    assert run.manifest["schema_version"] >= 1
    assert run.tables, "the dataset has tables"
    for name in run.tables:
        df = run.table(name)
        info = run.manifest["tables"][name]
        assert df.height == info["rows"], name
        schema = pq.read_schema(run.path / info["file"])
        assert df.columns == schema.names, name
        if "time" in df.columns:
            assert df.schema["time"] == pl.Datetime("us", "UTC"), name
        lazy = run.table(name, lazy=True)
        assert isinstance(lazy, pl.LazyFrame)
        assert lazy.select(pl.len()).collect().item() == info["rows"]
    # The accessors are the tables.
    assert run.interactions.height == run.manifest["tables"]["interactions"]["rows"]
    assert run.tasks.height == run.manifest["tables"]["tasks"]["rows"]
    assert run.packets.height == run.manifest["tables"]["packets"]["rows"]
    assert run.system.columns[:3] == ["task", "node", "time"]


def test_latency_equals_the_reports_figures_to_the_last_digit(run_and_site):
    run, site = run_and_site
    figures = json.loads((site / "figures.json").read_text())
    lat = run.latency()
    assert lat.height == len(figures["latency"]) > 0
    for row, want in zip(lat.iter_rows(named=True), figures["latency"]):
        for key in ("side", "thing", "name", "verb", "count", "errors", "p50", "p95", "p99", "max"):
            assert row[key] == want[key], (key, row, want)
    # Grouped otherwise, the counts still add up to every interaction.
    by_thing = run.latency(by=["thing", "verb", "name"])
    assert by_thing["count"].sum() == run.interactions.height
    assert set(by_thing.columns) >= {"count", "errors", "ok_rate", "p50", "p95", "p99", "max"}


def test_latency_percentiles_match_an_independent_computation(run_and_site):
    run, _ = run_and_site
    table = pq.read_table(run.path / "interactions.parquet")
    lat = run.latency(by=["side"])
    for row in lat.iter_rows(named=True):
        values = pc.drop_null(pc.filter(table["latency_ms"], pc.equal(table["side"], row["side"])))
        if len(values) == 0:
            continue
        want = pc.quantile(values, q=[0.5, 0.95], interpolation="linear").to_pylist()
        assert row["p50"] == pytest.approx(want[0], rel=1e-12)
        assert row["p95"] == pytest.approx(want[1], rel=1e-12)


def test_errors_match_the_reports_error_groups(run_and_site):
    run, site = run_and_site
    figures = json.loads((site / "figures.json").read_text())
    errs = run.errors()
    assert errs.height == len(figures["errors"])
    for row, want in zip(errs.iter_rows(named=True), figures["errors"]):
        assert (row["error_type"], row["error_message"], row["count"], row["tasks"]) == \
            (want["error_type"], want["error_message"], want["count"], want["tasks"])
    failed = run.interactions.filter(~pl.col("ok")).height
    assert (errs["count"].sum() if errs.height else 0) == failed


def test_traffic_cpu_and_memory(run_and_site):
    run, _ = run_and_site
    traffic = run.traffic(by=["task"], every="10s")
    packets = run.packets
    assert traffic["packets"].sum() == packets.height
    assert traffic["bytes"].sum() == packets["len"].sum()
    assert traffic.schema["window"] == pl.Datetime("us", "UTC")
    starts = traffic["window"].dt.epoch("us")
    assert (starts % 10_000_000 == 0).all(), "windows start on multiples of 10 s"
    cpu = run.cpu()
    system = run.system
    want = system.filter(pl.col("cpu_percent").is_not_null()).group_by("task").agg(
        pl.col("cpu_percent").mean().alias("mean")).sort("task")
    assert cpu["task"].to_list() == want["task"].to_list()
    assert cpu["mean"].to_list() == pytest.approx(want["mean"].to_list(), rel=1e-12)
    mem = run.memory()
    assert mem["max"].to_list() == pytest.approx(
        system.filter(pl.col("mem_bytes").is_not_null()).group_by("task").agg(
            pl.col("mem_bytes").max()).sort("task")["mem_bytes"].cast(pl.Float64).to_list())
    with pytest.raises(wotemu.WotemuError, match="duration"):
        run.traffic(every="soon")


def test_the_html_summary_shows_the_cards(run_and_site):
    run, _ = run_and_site
    html = run._repr_html_()
    for card in ("duration", "tasks", "interactions", "errors", "p95 latency"):
        assert card in html
    s = run.summary()
    assert s["tasks"] == run.tasks.height
    assert s["interactions"] == run.interactions.filter(pl.col("side") == "consumed").height


def test_query_equals_the_cli_and_an_independent_computation(run_and_site):
    run, _ = run_and_site
    sql = ("SELECT thing, verb, count(*) AS n, quantile_cont(latency_ms, 0.95) AS p95 "
           "FROM interactions GROUP BY thing, verb ORDER BY thing, verb")
    got = wotemu.query(sql, run.path)
    want = (pl.read_parquet(run.path / "interactions.parquet")
            .group_by("thing", "verb")
            .agg(pl.len().alias("n"), pl.col("latency_ms").quantile(0.95, interpolation="linear").alias("p95"))
            .sort("thing", "verb"))
    assert got["thing"].to_list() == want["thing"].to_list()
    assert got["n"].to_list() == want["n"].to_list()
    assert got["p95"].to_list() == pytest.approx(want["p95"].to_list(), rel=1e-12, nan_ok=True)
    out = subprocess.run([_env("WOTEMU_BIN"), "query", str(run.path), sql, "--format", "json"],
                         capture_output=True, text=True, check=True)
    cli = json.loads(out.stdout)
    assert [r["n"] for r in cli] == got["n"].to_list()
    assert [r["p95"] for r in cli] == pytest.approx(got["p95"].to_list(), rel=1e-12, nan_ok=True)
    with pytest.raises(wotemu.QueryError, match=r"1:\d+"):
        wotemu.query("SELECT thing FRM interactions", run.path)


def test_several_runs_are_queried_together(run_and_site):
    run, _ = run_and_site
    both = wotemu.query("SELECT run, count(*) AS n FROM interactions GROUP BY run ORDER BY run",
                        {"a": run.path, "b": run.path})
    n = run.interactions.height
    assert both.rows() == [("a", n), ("b", n)]


def test_compare_returns_dataframes(run_and_site):
    run, _ = run_and_site
    c = wotemu.compare([run.path, run.path])
    assert c.runs.height == 2
    assert "interactions" in c.runs.columns
    assert isinstance(c.differences, pl.DataFrame)
    assert c.json["schema"]
    with pytest.raises(wotemu.WotemuError, match="at least two"):
        wotemu.compare([run.path])


def test_missing_and_corrupt_datasets_raise(tmp_path, run_and_site):
    run, _ = run_and_site
    with pytest.raises(wotemu.DatasetError, match="no manifest.json"):
        wotemu.open(tmp_path / "nothing")
    broken = tmp_path / "broken"
    shutil.copytree(run.path, broken, ignore=shutil.ignore_patterns("site"))
    (broken / "manifest.json").write_text("{not json")
    with pytest.raises(wotemu.DatasetError, match="manifest"):
        wotemu.open(broken)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(run.path, corrupt, ignore=shutil.ignore_patterns("site"))
    (corrupt / "interactions.parquet").write_bytes(b"PAR1 this is not a parquet file")
    bad = wotemu.open(corrupt)
    with pytest.raises(wotemu.DatasetError, match="interactions"):
        bad.table("interactions")
    with pytest.raises(wotemu.DatasetError):
        bad.latency()
    with pytest.raises(wotemu.DatasetError, match="unknown table"):
        run.table("nope")


def _load_06_file(path):
    """Runs a 0.6 topology file with the package's models and returns its topology()."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("topology_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.topology()


def test_a_06_file_composes_to_the_same_yaml_as_the_cli(tmp_path):
    repo = Path(_env("WOTEMU_REPO"))
    for example in ("quickstart.py", "surveillance_cloud.py"):
        work = tmp_path / example.replace(".py", "")
        shutil.copytree(repo / "examples", work)
        src = work / example
        cli = subprocess.run([_env("WOTEMU_BIN"), "compose", "--seed", "7", "--path", str(src), "--output", "-"],
                             capture_output=True, text=True, check=True).stdout
        password = src.with_suffix(".redis-password")
        assert password.is_file(), "wotemu compose made the stack's password file beside the topology"
        topology = _load_06_file(src)
        got = wotemu.compose(topology, source=example, topology_dir=str(work),
                             password_file=str(password), password_file_abs=str(password), seed=7)
        assert got == cli, example
        assert wotemu.validate(topology) == []
        assert topology.to_compose_dict()["services"]


def test_an_invalid_topology_raises_with_every_problem_located():
    from wotemu.topology.models import Network, Node, NodeApp, Topology

    net = Network(name="wifi", conditions="wifi")
    bad = Node(name="docker_api_proxy", app=NodeApp(path="clock", http=True), networks=[net])
    worse = Node(name="x" * 50, app=NodeApp(path="clock", http=True), networks=[net])
    problems = wotemu.validate(Topology(nodes=[bad, worse]))
    assert len(problems) == 2, problems
    here = Path(__file__).name
    assert all(here in p for p in problems), problems
    with pytest.raises(wotemu.TopologyError, match="reserved"):
        wotemu.compose(Topology(nodes=[bad]))


def test_names_are_normalised_as_06_does():
    from wotemu.topology.models import Network

    assert Network(name="Factory-LAN").name == "factory_lan"
    assert Network(name="HTTPServer").name == "http_server"

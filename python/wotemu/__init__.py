"""wotemu: emulate Web of Things deployments, and analyse their runs from Python.

Installed as a package (a wheel built from this repository with maturin), `wotemu` opens run datasets as Polars
DataFrames with the report's own figures (`wotemu.open`), answers SQL over runs (`wotemu.query`), compares runs
(`wotemu.compare`), and validates and composes topologies built with WoTemu 0.6's API (`wotemu.topology.models`,
`wotemu.enums`, `wotemu.config`), so that one package serves topology files, apps and analysis.

The same modules are also compiled into the `wotemu` binary, which runs 0.6 topology files and apps in
embedded Python; there only the topology and app API is available (the analysis needs the native module).
"""

__version__ = "0.6.0"


def open(path):  # noqa: A001 (shadows the builtin on purpose: `wotemu.open(...)`)
    """Open the run dataset in the folder `path` (what `wotemu run --out` or `wotemu collect --out` wrote).

    Raises `wotemu.DatasetError` when the folder is not a dataset.
    """
    from wotemu.analysis import Run

    return Run(path)


def query(sql, runs):
    """Answer `sql` over the tables of `runs` (a folder, a list of folders or a dict name → folder) as a Polars
    DataFrame, as `wotemu query` does. Several runs are queried together, with a `run` column."""
    from wotemu.analysis import query as _query

    return _query(sql, runs)


def compare(runs, baseline=0):
    """Compare run datasets (folders) against `baseline` (an index), as `wotemu compare` does."""
    from wotemu.analysis import Comparison

    return Comparison(runs, baseline)


def compose(topology, **options):
    """The compose file text (YAML) of a `wotemu.topology.models.Topology`, as `wotemu compose` writes it.

    Raises `wotemu.TopologyError` with every problem, located, when the topology is invalid.
    """
    from wotemu.topology.models import _compose

    return _compose(topology, **options)[1]


def validate(topology):
    """The problems of a `wotemu.topology.models.Topology`, as `wotemu topology validate` reports them: a list of
    messages (empty when it is valid)."""
    from wotemu.topology.models import _validate

    return _validate(topology)[0]


def __getattr__(name):
    # The exceptions and the builtin apps live in the native module; import it only when they are asked for
    # (the binary's embedded copy of this package sets `_BUILTINS` itself and has no native module).
    if name in ("WotemuError", "DatasetError", "QueryError", "TopologyError"):
        from wotemu import _native

        return getattr(_native, name)
    if name == "_BUILTINS":
        from wotemu import _native

        return [tuple(b) for b in _native.BUILTINS]
    raise AttributeError("module 'wotemu' has no attribute {!r}".format(name))

from os import PathLike
from typing import Any, Mapping, Sequence, Union

import polars as pl

from wotemu._native import DatasetError as DatasetError
from wotemu._native import QueryError as QueryError
from wotemu._native import TopologyError as TopologyError
from wotemu._native import WotemuError as WotemuError
from wotemu.analysis import Comparison, Run
from wotemu.topology.models import Topology

_Path = Union[str, PathLike[str]]

__version__: str

def open(path: _Path) -> Run: ...
def query(sql: str, runs: Union[_Path, Sequence[_Path], Mapping[str, _Path]]) -> pl.DataFrame: ...
def compare(runs: Sequence[_Path], baseline: int = 0) -> Comparison: ...
def compose(
    topology: Topology,
    *,
    source: str | None = None,
    redis_port: int = 6379,
    topology_dir: str = ".",
    password_file: str = "./redis-password",
    password_file_abs: str | None = None,
) -> str: ...
def validate(topology: Topology) -> list[str]: ...

#!/usr/bin/env python3
"""Writes the dataset fuzz target's seed corpus (corpus/dataset) from the base dataset
(examples/github-pages/dataset): each input is one byte choosing a file of the base dataset (sorted by name)
and that file's new content (see src/lib.rs).

Seeds: the untouched dataset; every file empty, truncated, cut before its footer, with a byte flipped, or
garbage; one table's file in another's place (a schema that is not the table's); odd manifests; and tables
written back as pandas, pyarrow and Polars write them (Snappy, zstd, gzip, large strings, dictionary
columns; needs pyarrow: `python3 -m venv /tmp/v && /tmp/v/bin/pip install pyarrow`, then run with
/tmp/v/bin/python).

Usage: python3 reporter/fuzz/make_corpus.py   (rewrites corpus/dataset)
"""

import io
import json
import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "..", "..", "examples", "github-pages", "dataset")
OUT = os.path.join(HERE, "corpus", "dataset")


def main():
    files = sorted(f for f in os.listdir(BASE) if os.path.isfile(os.path.join(BASE, f)))
    index = {f: i for i, f in enumerate(files)}
    content = {f: open(os.path.join(BASE, f), "rb").read() for f in files}
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    rnd = random.Random(20261207)

    def put(name, file, data):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes([index[file]]) + data)

    open(os.path.join(OUT, "base"), "wb").close()
    for f in files:
        c = content[f]
        put(f"empty-{f}", f, b"")
        put(f"half-{f}", f, c[: len(c) // 2])
        put(f"no-footer-{f}", f, c[:-8])
        flipped = bytearray(c)
        flipped[max(len(c) - 40, 0)] ^= 0xFF
        put(f"flipped-{f}", f, bytes(flipped))
        put(f"garbage-{f}", f, bytes(rnd.randrange(256) for _ in range(300)))
    parquet = [f for f in files if f.endswith(".parquet")]
    for f in parquet:
        put(f"magic-only-{f}", f, b"PAR1PAR1")
    put("swapped-tasks.parquet", "tasks.parquet", content["interactions.parquet"])
    put("swapped-interactions.parquet", "interactions.parquet", content["tasks.parquet"])
    put("swapped-network.parquet", "network.parquet", content["system.parquet"])
    put("swapped-timeline.parquet", "timeline.parquet", content["logs.parquet"])

    manifest = json.loads(content["manifest.json"])

    def odd_manifest(name, m):
        put(f"manifest-{name}", "manifest.json", json.dumps(m).encode())

    odd_manifest("empty-object", {})
    odd_manifest("array", [])
    odd_manifest("null", None)
    for key in list(manifest)[:8]:
        m = dict(manifest)
        del m[key]
        odd_manifest(f"without-{key}", m)
    m = dict(manifest)
    m["schema_version"] = 999
    odd_manifest("future-schema", m)
    m = dict(manifest)
    m["schema_version"] = 1
    odd_manifest("old-schema", m)
    m = json.loads(json.dumps(manifest))
    m.setdefault("accounting", {})["totals"] = {"records_written": -1}
    odd_manifest("negative-count", m)
    put("manifest-not-utf8", "manifest.json", b"{\"schema_version\": \"\xff\xfe\"}")
    put("gateways-not-json", "gateways.json", b"[{")
    foreign(put, content)


def foreign(put, content):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        print("pyarrow is missing: no foreign-written inputs (see the docstring)")
        return
    for f in ["tasks.parquet", "interactions.parquet", "timeline.parquet", "network.parquet"]:
        t = pq.read_table(io.BytesIO(content[f]))
        large = pa.table(
            [c.cast(pa.large_string()) if pa.types.is_string(c.type) else c for c in t.columns],
            names=t.column_names,
        )
        for compression in ["snappy", "zstd", "gzip"]:
            buf = io.BytesIO()
            pq.write_table(t, buf, compression=compression, use_dictionary=True)
            put(f"foreign-{compression}-{f}", f, buf.getvalue())
        buf = io.BytesIO()
        pq.write_table(large, buf, compression="snappy")
        put(f"foreign-large-strings-{f}", f, buf.getvalue())


if __name__ == "__main__":
    main()

//! Reads a dataset table as JSON rows, for readable assertions.

use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Float64Type, TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type,
};
use serde_json::{json, Map, Value};
use wotemu_collector::dataset::read_table;
use wotemu_contract::Table;

/// Every row of `table` in the dataset `dir`.
pub(crate) fn rows(dir: &Path, table: Table) -> Vec<Value> {
    let mut out = Vec::new();
    for b in read_table(dir, table).unwrap() {
        let schema = b.schema();
        for i in 0..b.num_rows() {
            let mut m = Map::new();
            for (f, c) in schema.fields().iter().zip(b.columns()) {
                let v = if c.is_null(i) {
                    Value::Null
                } else {
                    match f.data_type() {
                        DataType::Utf8 => json!(c.as_string::<i32>().value(i)),
                        DataType::Boolean => json!(c.as_boolean().value(i)),
                        DataType::Float64 => json!(c.as_primitive::<Float64Type>().value(i)),
                        DataType::UInt16 => json!(c.as_primitive::<UInt16Type>().value(i)),
                        DataType::UInt32 => json!(c.as_primitive::<UInt32Type>().value(i)),
                        DataType::UInt64 => json!(c.as_primitive::<UInt64Type>().value(i)),
                        DataType::Timestamp(_, _) => {
                            json!(c.as_primitive::<TimestampMicrosecondType>().value(i))
                        }
                        other => json!(format!("<{other}>")),
                    }
                };
                m.insert(f.name().clone(), v);
            }
            out.push(Value::Object(m));
        }
    }
    out
}

/// The rows of the tasks whose name starts with `prefix`.
pub(crate) fn of_task<'a>(rows: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    rows.iter()
        .filter(|r| r["task"].as_str().is_some_and(|t| t.starts_with(prefix)))
        .collect()
}

/// The median `latency_ms` of the interactions of the tasks whose name starts with `prefix`.
pub(crate) fn median_latency_ms(interactions: &[Value], prefix: &str) -> f64 {
    let mut lat: Vec<f64> = of_task(interactions, prefix)
        .iter()
        .filter_map(|r| r["latency_ms"].as_f64())
        .collect();
    assert!(!lat.is_empty(), "no latencies of {prefix}");
    lat.sort_by(f64::total_cmp);
    lat[lat.len() / 2]
}

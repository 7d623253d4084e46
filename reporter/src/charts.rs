//! Vega-Lite specs, built with serde_json. Data is inlined (at most ~5,000 points per chart); time is in
//! milliseconds since the epoch, shown in UTC. Series are told apart by shape or dash and by labels in
//! tooltips, not by colour alone; time charts zoom and pan on the x axis.

use serde_json::{json, Value};

/// The most points a chart carries.
pub const MAX_POINTS: usize = 5000;

fn base(title: &str, data: Vec<Value>) -> Value {
    json!({
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "title": title,
        "width": "container",
        "height": 220,
        "data": {"values": data},
        // Labels are never cut short (`labelLimit: 0`): two long task names cut alike would look the same.
        "config": {"axis": {"labelFontSize": 11, "labelLimit": 0}, "legend": {"orient": "bottom", "labelLimit": 0}}
    })
}

fn zoom() -> Value {
    json!([{"name": "zoom", "select": {"type": "interval", "encodings": ["x"]}, "bind": "scales"}])
}

/// A line per series over time, with point shapes per series (readable without colour).
/// `rows`: (time ms, series, value).
pub fn time_lines(title: &str, y_title: &str, rows: &[(f64, String, f64)]) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .take(MAX_POINTS)
        .map(|(t, s, v)| json!({"t": t, "series": s, "v": v}))
        .collect();
    let mut spec = base(title, data);
    spec["mark"] = json!({"type": "line", "point": {"size": 18}, "interpolate": "step-after"});
    spec["params"] = zoom();
    spec["encoding"] = json!({
        "x": {"field": "t", "type": "temporal", "title": "time (UTC)", "timeUnit": "utcyearmonthdatehoursminutesseconds"},
        "y": {"field": "v", "type": "quantitative", "title": y_title},
        "color": {"field": "series", "type": "nominal", "title": null},
        "shape": {"field": "series", "type": "nominal", "title": null},
        "strokeDash": {"field": "series", "type": "nominal", "title": null},
        "tooltip": [
            {"field": "t", "type": "temporal", "title": "time", "format": "%H:%M:%S"},
            {"field": "series", "type": "nominal"},
            {"field": "v", "type": "quantitative", "format": ",.2f"}
        ]
    });
    spec
}

/// Mean over time with a min–max band and an optional limit line. `rows`: (time ms, min, mean, max).
pub fn band(
    title: &str,
    y_title: &str,
    rows: &[(f64, f64, f64, f64)],
    limit: Option<f64>,
) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .take(MAX_POINTS)
        .map(|(t, lo, m, hi)| json!({"t": t, "min": lo, "mean": m, "max": hi}))
        .collect();
    let mut spec = base(title, data);
    let x = json!({"field": "t", "type": "temporal", "title": "time (UTC)"});
    let mut layers = vec![
        json!({"mark": {"type": "area", "opacity": 0.25},
               "encoding": {"x": x, "y": {"field": "min", "type": "quantitative", "title": y_title}, "y2": {"field": "max"}}}),
        json!({"mark": {"type": "line"}, "params": zoom(),
               "encoding": {"x": x, "y": {"field": "mean", "type": "quantitative"},
                            "tooltip": [{"field": "t", "type": "temporal", "format": "%H:%M:%S"},
                                        {"field": "min", "format": ",.2f"}, {"field": "mean", "format": ",.2f"},
                                        {"field": "max", "format": ",.2f"}]}}),
    ];
    if let Some(l) = limit {
        layers.push(json!({"data": {"values": [{"limit": l}]},
                           "mark": {"type": "rule", "strokeDash": [6, 4]},
                           "encoding": {"y": {"field": "limit", "type": "quantitative"},
                                        "tooltip": [{"field": "limit", "title": "limit"}]}}));
    }
    spec["layer"] = Value::Array(layers);
    spec
}

/// Horizontal bars, largest first; each bar links to `href` when given. `rows`: (label, value, href).
pub fn ranking(title: &str, x_title: &str, rows: &[(String, f64, Option<String>)]) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .take(MAX_POINTS)
        .map(|(l, v, h)| json!({"label": l, "v": v, "href": h}))
        .collect();
    let mut spec = base(title, data);
    spec["height"] = json!({"step": 18});
    spec["mark"] = json!({"type": "bar", "cursor": "pointer"});
    spec["encoding"] = json!({
        "y": {"field": "label", "type": "nominal", "sort": "-x", "title": null},
        "x": {"field": "v", "type": "quantitative", "title": x_title},
        "href": {"field": "href"},
        "tooltip": [{"field": "label", "title": "task"}, {"field": "v", "format": ",.2f", "title": x_title}]
    });
    spec
}

/// Counts by category and outcome: bars with a pattern-free, labelled split (ok / error as text in the
/// legend and tooltip, and error bars outlined). `rows`: (category, outcome, count).
pub fn outcome_bars(title: &str, rows: &[(String, String, f64)]) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .take(MAX_POINTS)
        .map(|(c, o, n)| json!({"category": c, "outcome": o, "n": n}))
        .collect();
    let mut spec = base(title, data);
    spec["height"] = json!({"step": 22});
    spec["mark"] = json!({"type": "bar", "stroke": "#1b1f24"});
    spec["encoding"] = json!({
        "y": {"field": "category", "type": "nominal", "title": null},
        "x": {"field": "n", "type": "quantitative", "title": "interactions", "stack": "zero"},
        "color": {"field": "outcome", "type": "nominal", "scale": {"domain": ["ok", "error"], "range": ["#8fbcd4", "#cf222e"]}},
        "strokeWidth": {"field": "outcome", "type": "nominal", "scale": {"domain": ["ok", "error"], "range": [0, 2]}, "legend": null},
        "tooltip": [{"field": "category"}, {"field": "outcome"}, {"field": "n", "format": ","}]
    });
    spec
}

/// A Gantt chart of tasks: (task, start ms, end ms, state, href).
pub fn timeline(title: &str, rows: &[(String, f64, f64, String, String)]) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .take(MAX_POINTS)
        .map(|(t, a, b, s, h)| json!({"task": t, "start": a, "end": b, "state": s, "href": h}))
        .collect();
    let mut spec = base(title, data);
    spec["height"] = json!({"step": 16});
    spec["mark"] = json!({"type": "bar", "cursor": "pointer"});
    spec["params"] = zoom();
    spec["encoding"] = json!({
        "y": {"field": "task", "type": "nominal", "title": null, "sort": {"field": "start"}},
        "x": {"field": "start", "type": "temporal", "title": "time (UTC)"},
        "x2": {"field": "end"},
        "color": {"field": "state", "type": "nominal"},
        "opacity": {"condition": {"test": "datum.state == 'running' || datum.state == 'complete' || datum.state == 'shutdown'", "value": 0.6}, "value": 1},
        "href": {"field": "href"},
        "tooltip": [{"field": "task"}, {"field": "state"},
                    {"field": "start", "type": "temporal", "format": "%H:%M:%S"},
                    {"field": "end", "type": "temporal", "format": "%H:%M:%S"}]
    });
    spec
}

/// A matrix of bytes between services, the value written in every cell (readable without colour).
/// `rows`: (from, to, bytes).
pub fn heatmap(
    title: &str,
    from_title: &str,
    to_title: &str,
    rows: &[(String, String, f64)],
) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .take(MAX_POINTS)
        .map(|(a, b, v)| json!({"from": a, "to": b, "v": v, "label": human(*v)}))
        .collect();
    let mut spec = base(title, data);
    spec["height"] = json!({"step": 28});
    spec["width"] = json!({"step": 64});
    let enc = json!({
        "y": {"field": "from", "type": "nominal", "title": from_title},
        "x": {"field": "to", "type": "nominal", "title": to_title, "axis": {"labelAngle": -30}},
    });
    spec["layer"] = json!([
        {"mark": {"type": "rect"}, "encoding": {
            "y": enc["y"], "x": enc["x"],
            "color": {"field": "v", "type": "quantitative", "title": "bytes", "scale": {"scheme": "blues"}},
            "tooltip": [{"field": "from", "title": from_title}, {"field": "to", "title": to_title},
                        {"field": "v", "format": ",", "title": "bytes"}]}},
        {"mark": {"type": "text", "fontSize": 10}, "encoding": {
            "y": enc["y"], "x": enc["x"], "text": {"field": "label"},
            "color": {"condition": {"test": "datum.v > 0", "value": "#1b1f24"}, "value": "#57606a"}}}
    ]);
    spec
}

fn human(v: f64) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut v = v;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0}{}", units[u])
    } else {
        format!("{v:.1}{}", units[u])
    }
}

/// Latency distributions as box plots computed on every row (min, p25, median, p75, max, with p95 and p99
/// ticks). `rows`: (category, side, [min, p25, p50, p75, p95, p99, max], count).
pub fn boxes(title: &str, rows: &[(String, String, [f64; 7], i64)]) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .take(MAX_POINTS)
        .map(|(c, s, q, n)| {
            json!({"category": c, "side": s, "min": q[0], "p25": q[1], "p50": q[2], "p75": q[3],
                   "p95": q[4], "p99": q[5], "max": q[6], "n": n})
        })
        .collect();
    let mut spec = base(title, data);
    spec["height"] = json!({"step": 24});
    let y = json!({"field": "category", "type": "nominal", "title": null});
    let x_title = "latency (ms, log scale)";
    let tooltip = json!([{"field": "category"}, {"field": "side"}, {"field": "n", "title": "interactions"},
        {"field": "min", "format": ",.1f"}, {"field": "p25", "format": ",.1f"}, {"field": "p50", "format": ",.1f"},
        {"field": "p75", "format": ",.1f"}, {"field": "p95", "format": ",.1f"}, {"field": "p99", "format": ",.1f"},
        {"field": "max", "format": ",.1f"}]);
    let scale = json!({"type": "symlog"});
    spec["encoding"] = json!({"y": y, "yOffset": {"field": "side"}, "tooltip": tooltip});
    spec["layer"] = json!([
        {"mark": {"type": "rule"}, "encoding": {"x": {"field": "min", "type": "quantitative", "title": x_title, "scale": scale}, "x2": {"field": "max"}}},
        {"mark": {"type": "bar", "size": 10, "stroke": "#1b1f24"}, "encoding": {
            "x": {"field": "p25", "type": "quantitative", "scale": scale}, "x2": {"field": "p75"},
            "color": {"field": "side", "type": "nominal", "title": "side"},
            "strokeDash": {"field": "side", "type": "nominal", "legend": null}}},
        {"mark": {"type": "tick", "color": "#1b1f24", "thickness": 2}, "encoding": {"x": {"field": "p50", "type": "quantitative", "scale": scale}}},
        {"mark": {"type": "point", "shape": "triangle-right", "filled": true, "color": "#1b1f24", "size": 30}, "encoding": {"x": {"field": "p99", "type": "quantitative", "scale": scale}}}
    ]);
    spec
}

/// Empirical CDFs, one line per series (dashed differently, labelled). `rows`: (series, value, share 0–1).
pub fn ecdf(title: &str, x_title: &str, rows: &[(String, f64, f64)]) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .take(MAX_POINTS)
        .map(|(s, v, p)| json!({"series": s, "v": v, "p": p}))
        .collect();
    let mut spec = base(title, data);
    spec["height"] = json!(260);
    spec["mark"] = json!({"type": "line", "interpolate": "step-after"});
    spec["params"] = json!([{"name": "zoom", "select": {"type": "interval", "encodings": ["x"]}, "bind": "scales"}]);
    // A log scale (latencies span decades); a latency of 0 cannot be drawn on it and is left out.
    spec["transform"] = json!([{"filter": "datum.v > 0"}]);
    spec["encoding"] = json!({
        "x": {"field": "v", "type": "quantitative", "title": x_title, "scale": {"type": "log"}},
        "y": {"field": "p", "type": "quantitative", "title": "share of interactions", "axis": {"format": "%"}},
        "color": {"field": "series", "type": "nominal", "title": "run"},
        "strokeDash": {"field": "series", "type": "nominal", "title": "run"},
        "tooltip": [{"field": "series", "title": "run"}, {"field": "v", "format": ",.1f", "title": x_title},
                    {"field": "p", "format": ".1%", "title": "share ≤"}]
    });
    spec
}

/// A point with its interval: (category, series, value, low, high).
pub type IntervalRow = (String, String, f64, Option<f64>, Option<f64>);

/// Points with 95 % interval bars: one row per category, offset per series. `rows`: (category, series,
/// value, lo, hi); a missing interval draws the point alone.
pub fn intervals(title: &str, x_title: &str, rows: &[IntervalRow]) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .take(MAX_POINTS)
        .map(|(c, s, v, lo, hi)| json!({"category": c, "series": s, "v": v, "lo": lo, "hi": hi}))
        .collect();
    let mut spec = base(title, data);
    spec["height"] = json!({"step": 14});
    let x =
        json!({"field": "v", "type": "quantitative", "title": x_title, "scale": {"type": "log"}});
    spec["transform"] = json!([{"filter": "datum.v > 0"}]);
    spec["encoding"] = json!({
        "y": {"field": "category", "type": "nominal", "title": null, "sort": null},
        "yOffset": {"field": "series", "type": "nominal"},
        "color": {"field": "series", "type": "nominal", "title": "run"},
        "tooltip": [{"field": "category"}, {"field": "series", "title": "run"}, {"field": "v", "format": ",.2f"},
                    {"field": "lo", "format": ",.2f", "title": "95 % low"}, {"field": "hi", "format": ",.2f", "title": "95 % high"}]
    });
    spec["layer"] = json!([
        {"mark": {"type": "rule"}, "transform": [{"filter": "isValid(datum.lo) && datum.lo > 0"}],
         "encoding": {"x": {"field": "lo", "type": "quantitative", "scale": {"type": "log"}, "title": x_title}, "x2": {"field": "hi"}}},
        {"mark": {"type": "point", "filled": true, "size": 40}, "encoding": {"x": x, "shape": {"field": "series", "type": "nominal", "title": "run"}}}
    ]);
    spec
}

/// Significant changes as a matrix: rows (what), columns (run); a cell holds the change in words and is
/// coloured only when significant; each cell links to `href`. `rows`: (row, column, relative change or
/// `None` when not significant, label, href).
pub fn changes(title: &str, rows: &[(String, String, Option<f64>, String, String)]) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .take(MAX_POINTS)
        .map(|(r, c, v, l, h)| json!({"row": r, "col": c, "v": v.map(|v| v * 100.0), "label": l, "href": h}))
        .collect();
    let mut spec = base(title, data);
    spec["height"] = json!({"step": 24});
    spec["width"] = json!({"step": 120});
    let y = json!({"field": "row", "type": "nominal", "title": null, "sort": null});
    let x = json!({"field": "col", "type": "nominal", "title": "run", "axis": {"labelAngle": -20, "orient": "top"}});
    spec["layer"] = json!([
        {"mark": {"type": "rect", "stroke": "#d0d7de", "cursor": "pointer"}, "encoding": {
            "y": y, "x": x, "href": {"field": "href"},
            "color": {"field": "v", "type": "quantitative", "title": "change %",
                      "scale": {"scheme": "redblue", "reverse": true, "domainMid": 0}},
            "tooltip": [{"field": "row", "title": "what"}, {"field": "col", "title": "run"}, {"field": "label", "title": "change"}]}},
        {"mark": {"type": "text", "fontSize": 10}, "encoding": {"y": y, "x": x, "text": {"field": "label"}, "href": {"field": "href"}}}
    ]);
    spec
}

/// A figure against a swept parameter: one line per value of the other parameters, the mean of the repeats
/// with their min–max as a bar. `rows`: (x value, series, mean, min, max); `order`: the x values in order.
pub fn sweep(
    title: &str,
    x_title: &str,
    y_title: &str,
    order: &[String],
    rows: &[(String, String, f64, f64, f64)],
) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .take(MAX_POINTS)
        .map(|(x, s, m, lo, hi)| json!({"x": x, "series": s, "v": m, "lo": lo, "hi": hi}))
        .collect();
    let mut spec = base(title, data);
    let x = json!({"field": "x", "type": "ordinal", "title": x_title, "sort": order, "axis": {"labelAngle": 0}});
    spec["encoding"] = json!({
        "x": x,
        "color": {"field": "series", "type": "nominal", "title": null},
        "tooltip": [{"field": "x", "title": x_title}, {"field": "series", "title": "others"},
                    {"field": "v", "format": ",.2f", "title": y_title}, {"field": "lo", "format": ",.2f", "title": "min of repeats"},
                    {"field": "hi", "format": ",.2f", "title": "max of repeats"}]
    });
    spec["layer"] = json!([
        {"mark": {"type": "line", "point": {"size": 40}}, "encoding": {
            "y": {"field": "v", "type": "quantitative", "title": y_title},
            "shape": {"field": "series", "type": "nominal", "title": null},
            "strokeDash": {"field": "series", "type": "nominal", "title": null}}},
        {"mark": {"type": "rule"}, "encoding": {"y": {"field": "lo", "type": "quantitative"}, "y2": {"field": "hi"}}}
    ]);
    spec
}

/// Adds vertical rules with labels at `rules` (time ms, label) to a time chart: condition changes, so an
/// effect can be read against its cause. A chart without rules is returned as it was.
pub fn with_rules(mut spec: Value, rules: &[(f64, String)]) -> Value {
    if rules.is_empty() {
        return spec;
    }
    // Labels of nearby rules would overlap on one line: they take four lines in turn (`y`, in pixels), and
    // each is cut at 180 pixels (its rule's tooltip says it whole).
    let data: Vec<Value> = rules
        .iter()
        .take(MAX_POINTS)
        .enumerate()
        .map(|(i, (t, l))| json!({"t": t, "label": l, "y": (i % 4) * 12}))
        .collect();
    let x = json!({"field": "t", "type": "temporal"});
    let rule = json!({
        "data": {"values": data},
        "mark": {"type": "rule", "strokeDash": [2, 3], "color": "#6e7781"},
        "encoding": {"x": x, "tooltip": [{"field": "t", "type": "temporal", "title": "changed at", "format": "%H:%M:%S"}, {"field": "label", "title": "conditions"}]}
    });
    let text = json!({
        "data": {"values": data},
        "mark": {"type": "text", "align": "left", "baseline": "top", "dx": 3, "dy": 2, "fontSize": 10, "color": "#57606a", "limit": 180},
        "encoding": {"x": x, "y": {"field": "y", "type": "quantitative", "scale": null}, "text": {"field": "label"}}
    });
    let obj = spec.as_object_mut().expect("a chart is an object");
    let mut layers = match obj.remove("layer") {
        Some(Value::Array(l)) => l,
        _ => {
            let mut main = serde_json::Map::new();
            for k in ["mark", "encoding", "params", "transform"] {
                if let Some(v) = obj.remove(k) {
                    main.insert(k.into(), v);
                }
            }
            vec![Value::Object(main)]
        }
    };
    layers.push(rule);
    layers.push(text);
    obj.insert("layer".into(), Value::Array(layers));
    spec
}

/// A chart before it is inlined into a page.
pub(crate) struct Chart {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) note: String,
    pub(crate) spec: Value,
}

/// A file name for a task's page (task names are `[A-Za-z0-9_.-]`; anything else becomes `_`).
pub(crate) fn task_file(task: &str) -> String {
    format!("tasks/{}.html", safe_file_name(task))
}

/// A name as a file name: letters, digits, `_`, `-` and `.` kept, anything else `_`.
pub(crate) fn safe_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

//! `--fail-if`: regression gates over a comparison's figures.
//!
//! ```text
//! gate     := figure OP expr                     OP: >  >=  <  <=  ==  !=
//! figure   := METRIC "(" selector ")"
//! selector := "*" | term ("," term)*             term: WORD (matches thing, name, verb or node)
//!                                                      | KEY "=" WORD (KEY: thing, name, verb, node)
//! expr     := sum of products of: NUMBER | "baseline" | "(" expr ")" | "-" atom
//! ```
//! Metrics, of the consumed (client) side: `p50`, `p95`, `p99`, `mean` (latency, ms), `count`, `errors`,
//! `error_rate` and `ok_rate` (0–1), `throughput` (interactions/s); per node: `mean_cpu`, `p95_cpu`, `max_cpu`
//! (% of one core), `mean_mem`, `p95_mem`, `max_mem` (MiB), `restarts`. `baseline` is the same figure in the
//! baseline run. A gate is checked on every run but the baseline; a figure with no data (nothing matched the
//! selector) violates it, so that a misspelt selector cannot pass silently.

/// The grammar of a gate, as `wotemu compare --help` shows it (one text, beside its parser).
pub const GRAMMAR: &str = r#"  GATE     := METRIC(SELECTOR) OP EXPR          OP: >  >=  <  <=  ==  !=
  SELECTOR := * | TERM[,TERM…]                  TERM: a name (matches a thing, a property/action/event
                                                name, a verb or a client node) or KEY=NAME with KEY one
                                                of thing, name, verb, node; terms must all match
  EXPR     := numbers, `baseline` (the same figure in the baseline), + - * / and ( ); 5% is 0.05
  METRIC   := p50 p95 p99 mean (latency, ms) · count errors · error_rate ok_rate (0–1) ·
              throughput (interactions/s) · mean_cpu p95_cpu max_cpu (% of one core, of a node) ·
              mean_mem p95_mem max_mem (MiB, of a node) · restarts (of a node) ·
              drops (packets a network's gateway dropped: `drops(gw_3g) > baseline * 2`)

A gate is checked on every run but the baseline; a figure with no data violates it (a misspelt
selector cannot pass). A malformed gate is a usage error (exit 2) that shows where the mistake is.
"#;

use std::fmt;

/// The metrics a gate can name, with their unit.
pub const METRICS: [(&str, &str); 17] = [
    ("p50", "ms"),
    ("p95", "ms"),
    ("p99", "ms"),
    ("mean", "ms"),
    ("count", "interactions"),
    ("errors", "interactions"),
    ("error_rate", "0–1"),
    ("ok_rate", "0–1"),
    ("throughput", "interactions/s"),
    ("mean_cpu", "% of one core"),
    ("p95_cpu", "% of one core"),
    ("max_cpu", "% of one core"),
    ("mean_mem", "MiB"),
    ("p95_mem", "MiB"),
    ("max_mem", "MiB"),
    ("restarts", "restarts"),
    ("drops", "packets"),
];

/// Which field a selector term matches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Field {
    Any,
    Thing,
    Name,
    Verb,
    Node,
}

/// A parsed gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub text: String,
    pub metric: String,
    /// Empty: every interaction (`*`). Terms are ANDed.
    pub selector: Vec<(Field, String)>,
    pub op: Op,
    pub rhs: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }
}

/// The right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    Baseline,
    Neg(Box<Expr>),
    Bin(Box<Expr>, char, Box<Expr>),
}

impl Expr {
    fn uses_baseline(&self) -> bool {
        match self {
            Expr::Num(_) => false,
            Expr::Baseline => true,
            Expr::Neg(e) => e.uses_baseline(),
            Expr::Bin(a, _, b) => a.uses_baseline() || b.uses_baseline(),
        }
    }

    fn eval(&self, baseline: Option<f64>) -> Option<f64> {
        Some(match self {
            Expr::Num(v) => *v,
            Expr::Baseline => baseline?,
            Expr::Neg(e) => -e.eval(baseline)?,
            Expr::Bin(a, op, b) => {
                let (a, b) = (a.eval(baseline)?, b.eval(baseline)?);
                match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    _ => a / b,
                }
            }
        })
    }
}

/// A malformed gate: what is wrong and where (1-based column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub text: String,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--fail-if `{}`: column {}: {}\n    {}\n    {}^",
            self.text,
            self.column,
            self.message,
            self.text,
            " ".repeat(
                self.text[..self.column.saturating_sub(1).min(self.text.len())]
                    .chars()
                    .count()
            )
        )
    }
}

impl std::error::Error for ParseError {}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err<T>(&self, at: usize, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            text: self.s.to_owned(),
            column: at + 1,
            message: message.into(),
        })
    }
    fn ws(&mut self) {
        while self.s[self.pos..].starts_with(char::is_whitespace) {
            self.pos += self.s[self.pos..].chars().next().map_or(1, char::len_utf8);
        }
    }
    fn peek(&mut self) -> Option<char> {
        self.ws();
        self.s[self.pos..].chars().next()
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn word(&mut self) -> &'a str {
        self.ws();
        let start = self.pos;
        while let Some(c) = self.s[self.pos..].chars().next() {
            if c.is_whitespace() || "(),=<>!*+/".contains(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }

    fn gate(&mut self) -> Result<Gate, ParseError> {
        self.ws();
        let at = self.pos;
        let metric = self.word();
        if metric.is_empty() {
            return self.err(at, "expected a metric (p95, error_rate, mean_cpu, …)");
        }
        if !METRICS.iter().any(|(m, _)| *m == metric) {
            let names: Vec<&str> = METRICS.iter().map(|(m, _)| *m).collect();
            return self.err(
                at,
                format!(
                    "unknown metric `{metric}`; the metrics are {}",
                    names.join(", ")
                ),
            );
        }
        if !self.eat('(') {
            let at = self.pos;
            return self.err(
                at,
                format!(
                    "expected `(` after `{metric}`: write {metric}(*) or {metric}(readproperty)"
                ),
            );
        }
        let mut selector = Vec::new();
        if !self.eat('*') {
            loop {
                let at = self.pos;
                let first = self.word();
                if first.is_empty() {
                    let at = self.pos.max(at);
                    return self.err(
                        at,
                        "expected `*`, a name (thing, property, verb or node) or KEY=NAME",
                    );
                }
                if self.eat('=') {
                    let field = match first {
                        "thing" => Field::Thing,
                        "name" => Field::Name,
                        "verb" => Field::Verb,
                        "node" => Field::Node,
                        _ => {
                            return self.err(
                                at,
                                format!("unknown key `{first}`; use thing=, name=, verb= or node="),
                            )
                        }
                    };
                    let at = self.pos;
                    let value = self.word();
                    if value.is_empty() {
                        return self.err(at, format!("expected a value after `{first}=`"));
                    }
                    selector.push((field, value.to_owned()));
                } else {
                    selector.push((Field::Any, first.to_owned()));
                }
                if !self.eat(',') {
                    break;
                }
            }
        }
        if !self.eat(')') {
            let at = self.pos;
            return self.err(at, "expected `)` (terms are separated by `,`)");
        }
        self.ws();
        let at = self.pos;
        let rest = &self.s[self.pos..];
        let (op, len) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
        ]
        .iter()
        .find(|(t, _)| rest.starts_with(t))
        .map(|(t, o)| (*o, t.len()))
        .map_or_else(
            || self.err(at, "expected a comparison: >, >=, <, <=, == or !="),
            Ok,
        )?;
        self.pos += len;
        let rhs = self.sum()?;
        self.ws();
        if self.pos < self.s.len() {
            let at = self.pos;
            return self.err(at, "unexpected text after the expression");
        }
        Ok(Gate {
            text: self.s.to_owned(),
            metric: metric.to_owned(),
            selector,
            op,
            rhs,
        })
    }

    fn sum(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.product()?;
        loop {
            let op = match self.peek() {
                Some(c @ ('+' | '-')) => c,
                _ => return Ok(e),
            };
            self.pos += 1;
            e = Expr::Bin(Box::new(e), op, Box::new(self.product()?));
        }
    }

    fn product(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.atom()?;
        loop {
            let op = match self.peek() {
                Some(c @ ('*' | '/')) => c,
                _ => return Ok(e),
            };
            self.pos += 1;
            e = Expr::Bin(Box::new(e), op, Box::new(self.atom()?));
        }
    }

    fn atom(&mut self) -> Result<Expr, ParseError> {
        self.ws();
        let at = self.pos;
        if self.eat('(') {
            let e = self.sum()?;
            if !self.eat(')') {
                let at = self.pos;
                return self.err(at, "expected `)`");
            }
            return Ok(e);
        }
        if self.eat('-') {
            return Ok(Expr::Neg(Box::new(self.atom()?)));
        }
        let start = self.pos;
        while let Some(c) = self.s[self.pos..].chars().next() {
            if !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '%') {
                break;
            }
            self.pos += c.len_utf8();
        }
        let w = &self.s[start..self.pos];
        if w == "baseline" {
            return Ok(Expr::Baseline);
        }
        let (num, pct) = match w.strip_suffix('%') {
            Some(n) => (n, true),
            None => (w, false),
        };
        match num.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Expr::Num(if pct { v / 100.0 } else { v })),
            _ if w.is_empty() => self.err(at, "expected a number, `baseline` or `(`"),
            _ => self.err(at, format!("`{w}` is not a number or `baseline`")),
        }
    }
}

/// Parses a gate.
pub fn parse(text: &str) -> Result<Gate, ParseError> {
    Parser { s: text, pos: 0 }.gate()
}

/// The outcome of a gate on one run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verdict {
    pub gate: String,
    pub run: String,
    pub value: Option<f64>,
    pub baseline: Option<f64>,
    /// What the value was compared with.
    pub threshold: Option<f64>,
    pub violated: bool,
    /// Why, when it could not be computed.
    pub reason: Option<String>,
}

impl Verdict {
    /// A violated gate for people: the gate, the run, the value, the baseline's and the threshold.
    pub fn describe(&self) -> String {
        let fmt = |x: Option<f64>| x.map_or("no data".to_owned(), |x| format!("{x:.4}"));
        format!(
            "gate violated: `{}` in run {}: value {}{}, threshold {}{}",
            self.gate,
            self.run,
            fmt(self.value),
            self.baseline
                .map(|b| format!(" (baseline {b:.4})"))
                .unwrap_or_default(),
            fmt(self.threshold),
            self.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )
    }
}

impl Gate {
    /// Checks the gate on run `run` given the figure in the run and in the baseline.
    pub fn check(&self, run: &str, value: Option<f64>, baseline: Option<f64>) -> Verdict {
        let threshold = self.rhs.eval(baseline);
        let (violated, reason) = match (value, threshold) {
            (Some(v), Some(t)) => (self.op.holds(v, t), None),
            (None, _) => (
                true,
                Some(format!("no data for {} in run {run}", self.figure())),
            ),
            (Some(_), None) => (
                true,
                Some(format!("no data for {} in the baseline", self.figure())),
            ),
        };
        Verdict {
            gate: self.text.clone(),
            run: run.to_owned(),
            value,
            baseline: if self.rhs.uses_baseline() {
                baseline
            } else {
                None
            },
            threshold,
            violated,
            reason,
        }
    }

    /// `p95(readproperty)`.
    pub fn figure(&self) -> String {
        let sel = if self.selector.is_empty() {
            "*".to_owned()
        } else {
            self.selector
                .iter()
                .map(|(f, v)| match f {
                    Field::Any => v.clone(),
                    Field::Thing => format!("thing={v}"),
                    Field::Name => format!("name={v}"),
                    Field::Verb => format!("verb={v}"),
                    Field::Node => format!("node={v}"),
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        format!("{}({sel})", self.metric)
    }

    /// Whether the metric is of nodes (CPU, memory, restarts) rather than interactions.
    pub fn of_nodes(&self) -> bool {
        self.metric.ends_with("_cpu")
            || self.metric.ends_with("_mem")
            || self.metric == "restarts"
            || self.metric == "drops"
    }

    /// The metric's unit.
    pub fn unit(&self) -> &'static str {
        METRICS
            .iter()
            .find(|(m, _)| *m == self.metric)
            .map_or("", |(_, u)| u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_of_the_help_parse() {
        let g = parse("p95(readproperty) > 1.10 * baseline").unwrap();
        assert_eq!(g.metric, "p95");
        assert_eq!(g.selector, [(Field::Any, "readproperty".to_owned())]);
        assert_eq!(g.op, Op::Gt);
        assert_eq!(g.rhs.eval(Some(100.0)), Some(110.00000000000001));
        let g = parse("error_rate(*) > 0.01").unwrap();
        assert!(g.selector.is_empty());
        assert_eq!(g.rhs, Expr::Num(0.01));
        let g = parse("mean_cpu(reader) > baseline + 5").unwrap();
        assert!(g.of_nodes());
        assert_eq!(g.rhs.eval(Some(10.0)), Some(15.0));
        let g = parse("p99(verb=readproperty, node=reader)>=(baseline-2)/2").unwrap();
        assert_eq!(g.selector.len(), 2);
        assert_eq!(g.rhs.eval(Some(10.0)), Some(4.0));
        assert_eq!(parse("error_rate(*) > 1%").unwrap().rhs, Expr::Num(0.01));
        assert_eq!(
            parse("p50(urn:wotemu:thing:0) < -baseline")
                .unwrap()
                .selector[0]
                .1,
            "urn:wotemu:thing:0"
        );
    }

    #[test]
    fn mistakes_are_located() {
        let cases = [
            ("p96(*) > 1", 1, "unknown metric"),
            ("p95 > 1", 5, "expected `(`"),
            ("p95(*) >> 1", 9, "expected a number"),
            ("p95(*) 1", 8, "expected a comparison"),
            ("p95(readproperty > 1", 18, "expected `)`"),
            ("p95(*) > 1.1 * basline", 16, "`basline` is not a number"),
            ("p95(*) > (1", 12, "expected `)`"),
            ("p95(*) > 1 2", 12, "unexpected text"),
            ("p95(colour=red) > 1", 5, "unknown key"),
            ("", 1, "expected a metric"),
        ];
        for (text, column, message) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.column, column, "{text}: {e}");
            assert!(e.message.contains(message), "{text}: {e}");
            assert!(e.to_string().contains('^'));
        }
    }

    #[test]
    fn verdicts_name_the_figures() {
        let g = parse("p95(*) > 1.1 * baseline").unwrap();
        let v = g.check("lte", Some(120.0), Some(100.0));
        assert!(v.violated);
        assert_eq!(v.threshold, Some(110.00000000000001));
        assert!(!g.check("lte", Some(105.0), Some(100.0)).violated);
        let v = g.check("lte", None, Some(100.0));
        assert!(v.violated && v.reason.unwrap().contains("no data"));
        let g = parse("error_rate(*) > 0.01").unwrap();
        assert!(
            !g.check("a", Some(0.0), None).violated,
            "no baseline needed"
        );
    }
}

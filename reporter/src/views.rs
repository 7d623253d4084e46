//! What the templates see: one `Serialize` view per page, borrowing from the [`crate::Report`]. The template
//! context is this module and nothing else; the frames behind it can change freely.
//!
//! Every page gets `site` ([`SiteView`]), `root` (the relative path to the site's root), `page_href` and
//! `charts` ([`ChartView`]); then its own view under the name given in [`crate::site`].

use serde::Serialize;

/// The site's frame: title, navigation, footer facts.
#[derive(Debug, Serialize)]
pub struct SiteView<'a> {
    pub title: String,
    pub stack: &'a str,
    /// With a trailing slash, for canonical links (GitHub Pages); links stay relative.
    pub base_url: Option<String>,
    pub version: &'static str,
    /// The time span of the data, for the footer.
    pub span: String,
    pub nav: Vec<NavItem>,
}

/// A link of the navigation.
#[derive(Debug, Serialize)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
}

/// A chart: a Vega-Lite spec inlined as JSON (already escaped for a `<script>` element).
#[derive(Debug, Serialize)]
pub struct ChartView {
    pub id: String,
    pub title: String,
    pub note: String,
}

/// A headline figure.
#[derive(Debug, Serialize)]
pub struct Card {
    pub label: &'static str,
    pub value: String,
}

/// A label and a value (task facts, accounting lines).
#[derive(Debug, Serialize)]
pub struct Fact {
    pub label: String,
    pub value: String,
}

/// One row of a latency table (one side, thing, name, verb), formatted.
#[derive(Debug, Serialize)]
pub struct LatencyView<'a> {
    pub thing: &'a str,
    pub name: &'a str,
    pub verb: &'a str,
    pub count: i64,
    pub errors: i64,
    pub error_pct: String,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    pub max: String,
}

/// A task that sent or received much.
#[derive(Debug, Serialize)]
pub struct TalkerView<'a> {
    pub task: &'a str,
    pub href: String,
    pub packets: i64,
    pub bytes: i64,
    pub bytes_h: String,
    pub bytes_out: Option<i64>,
    pub bytes_out_h: String,
    pub bytes_in: Option<i64>,
    pub bytes_in_h: String,
}

/// A task in a list.
#[derive(Debug, Serialize)]
pub struct TaskRowView<'a> {
    pub task: &'a str,
    pub href: String,
    pub node: &'a str,
    pub state: &'a str,
    pub restarts: i64,
    pub bad: bool,
    pub error: &'a str,
    pub started_at: String,
    pub stopped_at: String,
    /// `node-<node>` on a node's first row of the tasks page (what the summary's per-node rankings link to).
    pub anchor: Option<String>,
}

/// The summary page (`index.html`).
#[derive(Debug, Serialize)]
pub struct SummaryView<'a> {
    pub cards: Vec<Card>,
    /// What clients observed: consumed interactions, by thing, name and verb.
    pub consumed: Vec<LatencyView<'a>>,
    /// What servers spent handling them: exposed interactions.
    pub exposed: Vec<LatencyView<'a>>,
    pub talkers: Vec<TalkerView<'a>>,
    pub problem_tasks: Vec<TaskRowView<'a>>,
    /// Outages of the run's parts and restarts: what happened to the run itself.
    pub incidents: Vec<IncidentView<'a>>,
    /// Why the dataset is incomplete, when it is.
    pub incomplete: Option<&'a str>,
    /// The apps' own metrics (`write_metric`): per key, numeric field and node.
    pub app_metrics: Vec<AppMetricView<'a>>,
    /// Per network, configured vs realized with a verdict per figure.
    pub fidelity: Vec<FidelityView>,
    /// When the host could not keep up: what, when, and how much of the run.
    pub overload: Option<OverloadView>,
}

/// A network's configured vs realized figures.
#[derive(Debug, Serialize)]
pub struct FidelityView {
    pub network: String,
    pub href: String,
    pub backend: String,
    pub reason: String,
    /// The worst verdict: `pass`, `warn`, `fail` or `n/a`.
    pub verdict: &'static str,
    pub figures: Vec<FigureView>,
}

/// One figure, formatted.
#[derive(Debug, Serialize)]
pub struct FigureView {
    pub name: String,
    pub unit: &'static str,
    pub configured: String,
    pub realized: String,
    pub tolerance: String,
    pub verdict: &'static str,
    pub note: String,
}

/// The overload banner.
#[derive(Debug, Serialize)]
pub struct OverloadView {
    pub reasons: Vec<String>,
    /// `12:01:05 → 12:01:40 (35 s)` per affected stretch.
    pub spans: Vec<String>,
    /// `35 s of 5 min`.
    pub affected: String,
}

/// A change of conditions, for people.
#[derive(Debug, Serialize)]
pub struct ChangeView {
    pub time: String,
    pub how: String,
    pub label: String,
}

/// A network's page.
#[derive(Debug, Serialize)]
pub struct NetworkView {
    pub fidelity: FidelityView,
    pub changes: Vec<ChangeView>,
    pub windows: usize,
}

/// One numeric series of an app metric on one node.
#[derive(Debug, Serialize)]
pub struct AppMetricView<'a> {
    pub key: &'a str,
    pub field: &'a str,
    pub node: &'a str,
    pub count: String,
    pub mean: String,
    pub p50: String,
    pub p95: String,
    pub max: String,
}

/// An event of the run's timeline, for people.
#[derive(Debug, Serialize)]
pub struct IncidentView<'a> {
    pub time: String,
    pub kind: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub error: &'a str,
    pub detail: &'a str,
    /// The event told as a sentence (`incident::sentence`).
    pub sentence: String,
}

/// A log line.
#[derive(Debug, Serialize)]
pub struct LogView {
    pub time: String,
    pub stream: String,
    pub line: String,
}

/// A task's page.
#[derive(Debug, Serialize)]
pub struct TaskView<'a> {
    pub task: &'a str,
    pub facts: Vec<Fact>,
    pub logs: &'a [LogView],
    pub log_count: i64,
    pub logs_truncated: bool,
}

/// A group of failed interactions on the errors page.
#[derive(Debug, Serialize)]
pub struct ErrorView<'a> {
    pub error_type: &'a str,
    pub error_message: &'a str,
    pub thing: &'a str,
    pub name: &'a str,
    pub verb: &'a str,
    pub count: i64,
    pub tasks: i64,
    pub first_seen: String,
    pub last_seen: String,
}

/// A subscription error (an `error` event) on the errors page.
#[derive(Debug, Serialize)]
pub struct EventErrorView {
    pub error_type: String,
    pub error_message: String,
    pub thing: String,
    pub name: String,
    pub count: i64,
    pub tasks: i64,
    pub first_seen: String,
    pub last_seen: String,
}

/// The topology page.
#[derive(Debug, Serialize)]
pub struct TopologyView<'a> {
    pub topology: Option<&'a str>,
    pub compose: Option<&'a str>,
}

/// A table's downloads.
#[derive(Debug, Clone, Serialize)]
pub struct DownloadView {
    pub name: &'static str,
    pub rows: usize,
    /// Links, when the site holds that copy.
    pub parquet: Option<String>,
    pub csv: Option<String>,
    /// The CSV copy's size as estimated before writing, for people.
    pub csv_estimate: String,
    /// Why the site holds no CSV copy, when it does not.
    pub why_not: String,
}

/// The data page.
#[derive(Debug, Serialize)]
pub struct DataView {
    pub tables: Vec<DownloadView>,
    /// Both sides of the accounting: what was produced, and where it went.
    pub accounting: Vec<Fact>,
    pub balanced: bool,
    /// What was lost, one sentence each.
    pub losses: Vec<String>,
    /// Why the dataset is incomplete, when it is.
    pub incomplete: Option<String>,
}

/// One executed scenario event and what followed.
#[derive(Debug, Serialize)]
pub struct ScenarioView {
    pub time: String,
    /// How late it was done after its planned time, ms.
    pub late_ms: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub error: String,
    /// Client interactions of what it affected in the 10 s before and after: count, error rate, p50.
    pub before_n: i64,
    pub before_errors: String,
    pub before_p50: String,
    pub after_n: i64,
    pub after_errors: String,
    pub after_p50: String,
    /// From the event to the first successful interaction of what it affected (not for a `start`).
    pub recovery: String,
}

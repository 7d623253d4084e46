//! Writing the site: the assets, every page from its template and view, the downloads (on a second thread,
//! while the pages render).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::charts::{task_file, Chart};
use crate::error::Error;
use crate::escape::script_json;
use crate::load::Report;
use crate::task_pages::TaskData;
use crate::views::{ChartView, DownloadView, SiteView};

/// The report's statistics (latency per side × thing × name × verb, error groups) as JSON, beside the pages.
pub const FIGURES_FILE: &str = "figures.json";

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    pub out: PathBuf,
    pub pages: usize,
    pub charts: usize,
    pub bytes: u64,
}

impl Rendered {
    /// What `wotemu report` says: pages, charts and size, how long it took, and what to open.
    pub fn describe(&self, seconds: f64) -> String {
        format!(
            "Wrote the report: {} pages, {} charts, {:.1} MiB in {seconds:.2} s.\nOpen {}",
            self.pages,
            self.charts,
            self.bytes as f64 / 1_048_576.0,
            self.out.join("index.html").display()
        )
    }
}

/// Writes pages with one Tera instance and the site's frame; shared by the threads that render pages. Each
/// chart's template is kept once for the whole site and written by [`Writer::finish`].
pub(crate) struct Writer<'a> {
    out: &'a Path,
    tera: tera::Tera,
    site: SiteView<'a>,
    specs: Mutex<BTreeMap<String, String>>,
    pages: AtomicUsize,
    charts: AtomicUsize,
}

pub(crate) fn write_file(p: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(|source| Error::Write {
            path: d.to_owned(),
            source,
        })?;
    }
    std::fs::write(p, bytes).map_err(|source| Error::Write {
        path: p.to_owned(),
        source,
    })
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a Path, site: SiteView<'a>) -> Result<Writer<'a>, Error> {
        Ok(Writer {
            out,
            tera: crate::assets::tera()?,
            site,
            specs: Mutex::new(BTreeMap::new()),
            pages: AtomicUsize::new(0),
            charts: AtomicUsize::new(0),
        })
    }

    /// Renders `template` into `file` with the page's view under `name`, and its charts.
    pub(crate) fn page<V: Serialize>(
        &self,
        file: &str,
        template: &str,
        name: &str,
        view: &V,
        charts: Vec<Chart>,
    ) -> Result<(), Error> {
        let mut ctx = tera::Context::new();
        ctx.insert("root", &"../".repeat(file.matches('/').count()));
        ctx.insert("page_href", file);
        ctx.insert("site", &self.site);
        ctx.insert(name, view);
        let mut parts = serde_json::Map::new();
        let charts: Vec<ChartView> = charts
            .into_iter()
            .map(|mut c| {
                // The note travels with the template: a page may leave it out of its HTML (the task
                // pages, whose charts' notes are the same on every page) and the script shows it.
                c.spec["description"] = c.note.clone().into();
                let split = crate::compact::split(c.spec);
                self.specs
                    .lock()
                    .expect("specs lock")
                    .entry(split.template_id)
                    .or_insert(split.template);
                parts.insert(c.id.clone(), split.page);
                ChartView {
                    id: c.id,
                    title: c.title,
                    note: c.note,
                }
            })
            .collect();
        self.charts.fetch_add(charts.len(), Ordering::Relaxed);
        ctx.insert("charts", &charts);
        // Every chart's rows in one element (`{id: {"s": template, "d": rows}}`, see `compact.rs`).
        ctx.insert(
            "charts_json",
            &script_json(&serde_json::Value::Object(parts)),
        );
        let html = self
            .tera
            .render(template, &ctx)
            .map_err(|e| Error::Template {
                page: file.to_owned(),
                message: wotemu_sys::error_chain(&e),
            })?;
        self.pages.fetch_add(1, Ordering::Relaxed);
        write_file(&self.out.join(file), html.as_bytes())
    }

    /// Writes the charts' templates; returns (pages, charts) written.
    pub(crate) fn finish(self) -> Result<(usize, usize), Error> {
        let specs = self.specs.into_inner().expect("specs lock");
        let mut js = String::from(
            "// wotemu report: every chart's Vega-Lite spec without its rows, by id; pages carry the rows.\n\
             window.WOTEMU_SPECS = {\n",
        );
        for (id, spec) in &specs {
            js.push_str(&format!("\"{id}\": {spec},\n"));
        }
        js.push_str("};\n");
        write_file(&self.out.join(crate::compact::SPECS_FILE), js.as_bytes())?;
        Ok((self.pages.into_inner(), self.charts.into_inner()))
    }
}

impl Report {
    /// Writes the site.
    pub fn render(&self) -> Result<Rendered, Error> {
        self.render_with(&mut |_, _| {})
    }

    /// The number of pages [`Report::render`] writes.
    pub fn page_count(&self) -> usize {
        8 + self.tasks.len() + self.networks.len()
    }

    /// Writes the site, calling `on_page(done, total)` after every page.
    ///
    /// The site is written into a folder beside the target and put in its place only once complete: a
    /// failure (a full disk) leaves the previous site as it was, and a site replaced is never a mix of old and
    /// new pages.
    pub fn render_with(&self, on_page: &mut dyn FnMut(usize, usize)) -> Result<Rendered, Error> {
        let _span = tracing::info_span!("report_render", out = %self.opts.out.display()).entered();
        let out = self.opts.out.clone();
        let mut rendered = publish(&out, |staging| {
            // The downloads (a CSV of every table: most of the bytes) are written while the pages render.
            std::thread::scope(|scope| {
                let downloads = scope.spawn(|| self.write_downloads(staging));
                self.render_pages(staging, on_page, downloads)
            })
        })?;
        rendered.out = out;
        Ok(rendered)
    }

    fn render_pages(
        &self,
        out: &Path,
        on_page: &mut dyn FnMut(usize, usize),
        downloads: std::thread::ScopedJoinHandle<'_, Result<Vec<DownloadView>, Error>>,
    ) -> Result<Rendered, Error> {
        let out = &out.to_path_buf();
        for (name, bytes) in crate::assets::FILES {
            write_file(&out.join(name), bytes)?;
        }
        write_file(&out.join(".nojekyll"), b"")?;
        // The report's statistics as data, for tools and for checking them (the Python package's figures
        // equal these).
        let figures = serde_json::json!({
            "schema": "wotemu-report-figures/1",
            "latency": self.latency,
            "errors": self.errors,
        });
        write_file(&out.join(FIGURES_FILE), format!("{figures:#}\n").as_bytes())?;
        let w = Writer::new(out, self.site_view())?;
        let total = self.page_count();
        let mut done = 0;
        let mut advance = |n: usize| {
            done += n;
            on_page(done, total);
        };
        w.page(
            "index.html",
            "index.html",
            "summary",
            &self.summary_view(),
            self.summary_charts()?,
        )?;
        w.page(
            "tasks.html",
            "tasks.html",
            "tasks",
            &self.tasks_view(),
            self.tasks_charts(),
        )?;
        advance(2);
        let data = self.tasks_data()?;
        self.task_pages(&w, &data, &mut advance)?;
        w.page(
            "networks.html",
            "networks.html",
            "networks",
            &self.fidelity_views(),
            Vec::new(),
        )?;
        w.page(
            "scenario.html",
            "scenario.html",
            "scenario",
            &self.scenario_view()?,
            Vec::new(),
        )?;
        w.page(
            "hosts.html",
            "hosts.html",
            "hosts",
            &self.hosts_view()?,
            self.hosts_charts()?,
        )?;
        advance(3);
        for n in &self.networks {
            w.page(
                &crate::network::network_file(&n.name),
                "network.html",
                "network",
                &self.network_view(n),
                self.network_charts(n),
            )?;
            advance(1);
        }
        #[derive(Serialize)]
        struct Errors<'a> {
            interactions: Vec<crate::views::ErrorView<'a>>,
            subscriptions: Vec<crate::views::EventErrorView>,
        }
        w.page(
            "errors.html",
            "errors.html",
            "errors",
            &Errors {
                interactions: self.errors_view(),
                subscriptions: self.event_errors_view(),
            },
            Vec::new(),
        )?;
        w.page(
            "compose.html",
            "compose.html",
            "topology",
            &self.topology_view(),
            Vec::new(),
        )?;
        let tables = downloads
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        w.page(
            "data.html",
            "data.html",
            "data",
            &self.data_view(tables),
            Vec::new(),
        )?;
        advance(3);
        let (pages, charts) = w.finish()?;
        Ok(Rendered {
            out: out.clone(),
            pages,
            charts,
            bytes: dir_size(out),
        })
    }

    /// Renders every task's page, on as many threads as the machine has cores; `advance(n)` is called on
    /// this thread as pages are done.
    fn task_pages(
        &self,
        w: &Writer<'_>,
        data: &std::collections::HashMap<String, TaskData>,
        advance: &mut dyn FnMut(usize),
    ) -> Result<(), Error> {
        let empty = TaskData::default();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8);
        let chunk = self.tasks.len().div_ceil(threads).max(1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let workers: Vec<_> = self
                .tasks
                .chunks(chunk)
                .map(|tasks| {
                    let tx = tx.clone();
                    let empty = &empty;
                    scope.spawn(move || -> Result<(), Error> {
                        for t in tasks {
                            let d = data.get(&t.task).unwrap_or(empty);
                            w.page(
                                &task_file(&t.task),
                                "task.html",
                                "task",
                                &self.task_view(t, d),
                                self.task_charts(t, d),
                            )?;
                            // The receiver lives until every worker is joined.
                            let _ = tx.send(());
                        }
                        Ok(())
                    })
                })
                .collect();
            drop(tx);
            for () in rx {
                advance(1);
            }
            workers
                .into_iter()
                .try_for_each(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        })
    }
}

/// Writes a site with `build` into a folder beside `out`, then puts it in `out`'s place only once complete:
/// a failure (a full disk) leaves the previous site as it was, and a site replaced is never a mix of old and
/// new pages. What the previous site holds that the new one does not write (a `dataset/` collected by
/// `wotemu report --stack`, a CNAME for GitHub Pages) moves over into the new one.
pub(crate) fn publish<T>(
    out: &Path,
    build: impl FnOnce(&Path) -> Result<T, Error>,
) -> Result<T, Error> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "site".into());
    let pid = std::process::id();
    let staging = out.with_file_name(format!(".{name}.partial-{pid}"));
    let old = out.with_file_name(format!(".{name}.old-{pid}"));
    let cleanup = |p: &Path| {
        if p.exists() {
            if let Err(e) = std::fs::remove_dir_all(p) {
                tracing::warn!(path = %p.display(), error = %e, "Cannot remove a leftover folder.");
            }
        }
    };
    cleanup(&staging);
    let built = match build(&staging) {
        Ok(r) => r,
        Err(e) => {
            cleanup(&staging);
            return Err(e);
        }
    };
    let swap = |from: &Path, to: &Path| {
        std::fs::rename(from, to).map_err(|source| Error::Write {
            path: to.to_owned(),
            source,
        })
    };
    if out.exists() {
        let mut carried = Vec::new();
        if let Ok(rd) = std::fs::read_dir(out) {
            for e in rd.flatten() {
                let target = staging.join(e.file_name());
                if !target.exists() {
                    swap(&e.path(), &target)?;
                    carried.push(e.file_name());
                }
            }
        }
        let swapped = swap(out, &old).and_then(|()| swap(&staging, out));
        if let Err(e) = swapped {
            // Put the previous site back as it was, with what was carried over.
            if !out.exists() {
                if let Err(back) = std::fs::rename(&old, out) {
                    tracing::warn!(error = %back, "The previous site could not be put back.");
                }
            }
            for name in carried {
                if let Err(back) = std::fs::rename(staging.join(&name), out.join(&name)) {
                    tracing::warn!(error = %back, "An entry of the previous site could not be put back.");
                }
            }
            cleanup(&staging);
            return Err(e);
        }
        cleanup(&old);
    } else {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::Write {
                path: parent.to_owned(),
                source,
            })?;
        }
        swap(&staging, out)?;
    }
    Ok(built)
}

pub(crate) fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            total += if path.is_dir() {
                dir_size(&path)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

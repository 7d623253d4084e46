//! Writing the site: the assets, every page from its template and view, the downloads (on a second thread,
//! while the pages render).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;
use crate::escape::script_json;
use crate::load::Report;
use crate::pages::{task_file, Chart};
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

/// Writes pages with one Tera instance and the site's frame.
pub(crate) struct Writer<'a> {
    pub(crate) out: &'a Path,
    pub(crate) tera: tera::Tera,
    pub(crate) site: SiteView<'a>,
    pub(crate) pages: usize,
    pub(crate) charts: usize,
    pub(crate) total: usize,
    pub(crate) on_page: &'a mut dyn FnMut(usize, usize),
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

impl Writer<'_> {
    /// Renders `template` into `file` with the page's view under `name`, and its charts.
    pub(crate) fn page<V: Serialize>(
        &mut self,
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
        let charts: Vec<ChartView> = charts
            .into_iter()
            .map(|c| ChartView {
                json: script_json(&c.spec),
                id: c.id,
                title: c.title,
                note: c.note,
            })
            .collect();
        self.charts += charts.len();
        ctx.insert("charts", &charts);
        let html = self
            .tera
            .render(template, &ctx)
            .map_err(|e| Error::Template {
                page: file.to_owned(),
                message: error_chain(&e),
            })?;
        self.pages += 1;
        (self.on_page)(self.pages, self.total);
        write_file(&self.out.join(file), html.as_bytes())
    }
}

impl Report {
    /// Writes the site.
    pub fn render(&self) -> Result<Rendered, Error> {
        self.render_with(&mut |_, _| {})
    }

    /// The number of pages [`Report::render`] writes.
    pub fn page_count(&self) -> usize {
        7 + self.tasks.len() + self.networks.len()
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
        let mut w = Writer {
            out,
            tera: crate::assets::tera()?,
            site: self.site_view(),
            pages: 0,
            charts: 0,
            total: self.page_count(),
            on_page,
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
        for t in &self.tasks {
            w.page(
                &task_file(&t.task),
                "task.html",
                "task",
                &self.task_view(t)?,
                self.task_charts(t)?,
            )?;
        }
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
        for n in &self.networks {
            w.page(
                &crate::network::network_file(&n.name),
                "network.html",
                "network",
                &self.network_view(n),
                self.network_charts(n),
            )?;
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
        Ok(Rendered {
            out: out.clone(),
            pages: w.pages,
            charts: w.charts,
            bytes: dir_size(out),
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

/// An error with its causes, `: `-separated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

//! The rendered site: pages, links, escaping, self-containment, structure snapshots.

use std::path::Path;

use crate::fixture::{fixture, XSS};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn pages(site: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for dir in [site.to_owned(), site.join("tasks")] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "html") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_page_exists_and_links_resolve() {
    let f = fixture();
    let pages = pages(&f.site);
    assert_eq!(
        pages.len(),
        8 + 4,
        "8 site pages (networks.html, hosts.html and scenario.html too; the fixture has no network windows) and one per task: {pages:?}"
    );
    assert_eq!(f.rendered.pages, pages.len());
    assert!(f.site.join(".nojekyll").exists());
    for p in [
        "vendor/vega.min.js",
        "vendor/LICENSE.vega-lite",
        "static/app.js",
        "data/packets.parquet",
        "data/logs.csv",
    ] {
        assert!(f.site.join(p).exists(), "{p} missing");
    }
    for page in &pages {
        let html = read(page);
        let base = page.parent().unwrap();
        for attr in ["href=\"", "src=\""] {
            for part in html.split(attr).skip(1) {
                let target = &part[..part.find('"').unwrap()];
                assert!(
                    !target.starts_with("http") && !target.starts_with("//"),
                    "{}: network URL {target}",
                    page.display()
                );
                // Attributes are HTML-escaped (`/` as `&#x2F;`); a browser decodes them before following.
                let target = target.replace("&#x2F;", "/").replace("&amp;", "&");
                let target = target.split('#').next().unwrap();
                // `data:,` is the empty favicon (so that browsers do not ask the server for /favicon.ico).
                if target.is_empty() || target == "data:," {
                    continue;
                }
                assert!(
                    base.join(target).exists(),
                    "{}: broken link {target}",
                    page.display()
                );
            }
        }
    }
}

#[test]
fn hostile_strings_are_text() {
    let f = fixture();
    for page in pages(&f.site) {
        let html = read(&page);
        assert!(!html.contains(XSS), "{}: raw probe", page.display());
        assert!(
            !html.contains("<b>bold</b>"),
            "{}: raw markup",
            page.display()
        );
    }
    let reader = pages(&f.site)
        .into_iter()
        .find(|p| read(p).contains("probe &lt;&#x2F;script&gt;"))
        .expect("the log line shows as text");
    assert!(reader.to_string_lossy().contains("reader"));
    let errors = read(&f.site.join("errors.html"));
    assert!(
        errors.contains("no reply &lt;&#x2F;script&gt;&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"),
        "{errors}"
    );
}

/// The consumed interactions and those of them that failed, counted from the dataset with arrow (not with
/// the reporter's Polars code).
fn consumed_counts(dataset: &Path) -> (usize, usize) {
    use arrow::array::{AsArray, BooleanArray};
    let batches =
        wotemu_collector::dataset::read_table(dataset, wotemu_contract::Table::Interactions)
            .unwrap();
    let (mut n, mut failed) = (0, 0);
    for b in &batches {
        let side = b.column_by_name("side").unwrap().as_string::<i32>();
        let ok: &BooleanArray = b.column_by_name("ok").unwrap().as_boolean();
        for i in 0..b.num_rows() {
            if side.value(i) == "consumed" {
                n += 1;
                failed += usize::from(!ok.value(i));
            }
        }
    }
    (n, failed)
}

fn commas(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn summary_counts_every_row() {
    let f = fixture();
    let index = read(&f.site.join("index.html"));
    let card = |value: &str, label: &str| {
        format!("<div class=\"v\">{value}</div><div class=\"k\">{label}</div>")
    };
    // 4 tasks × 3000 packets.
    assert!(index.contains(&card("12,000", "packets")), "{index}");
    assert!(index.contains(&card("4", "tasks")));
    // The client side only: what clients observed (the probe's failed read is one of them).
    let (consumed, failed) = consumed_counts(&f.dataset);
    assert!(consumed > 1000 && consumed < 11_000, "{consumed}");
    assert!(
        index.contains(&card(&commas(consumed), "client interactions")),
        "{index}"
    );
    let rate = format!("{:.2} %", failed as f64 * 100.0 / consumed as f64);
    assert!(index.contains(&card(&rate, "client error rate")), "{rate}");
}

#[test]
fn latency_tables_keep_the_two_sides_apart() {
    let f = fixture();
    let index = read(&f.site.join("index.html"));
    let clients = &index
        [index.find("What clients observed").unwrap()..index.find("Server handling time").unwrap()];
    let servers =
        &index[index.find("Server handling time").unwrap()..index.find("Top talkers").unwrap()];
    // The probe is a consumed read of `temperature`: in the clients' table only, by name.
    assert!(clients.contains("<td>temperature</td>"), "{clients}");
    assert!(clients.contains("urn:&lt;b&gt;bold"), "{clients}");
    assert!(!servers.contains("urn:&lt;b&gt;bold"), "{servers}");
    assert!(servers.contains("<td>readproperty</td>"), "{servers}");
}

#[test]
fn page_structure_snapshot() {
    let f = fixture();
    let mut outline = String::new();
    for page in pages(&f.site) {
        let html = read(&page);
        let name = page
            .strip_prefix(&f.site)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let name = if name.starts_with("tasks/") {
            "tasks/<task>.html".to_owned()
        } else {
            name
        };
        let headings: Vec<&str> = html
            .split("<h2>")
            .skip(1)
            .map(|s| &s[..s.find("</h2>").unwrap()])
            .collect();
        let headings: Vec<String> = headings
            .iter()
            .map(|h| {
                if h.starts_with("demo_") {
                    "<task>".into()
                } else {
                    (*h).to_owned()
                }
            })
            .collect();
        let charts: Vec<&str> = html
            .split("data-spec=\"")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect();
        let line = format!("{name}: h2={headings:?} charts={charts:?}\n");
        if !outline.contains(&line) {
            outline.push_str(&line);
        }
    }
    insta::assert_snapshot!(outline);
}

#[test]
fn a_spec_snapshot() {
    let rows = vec![
        (1_764_000_000_000.0, "ok".to_owned(), 3.0),
        (1_764_000_010_000.0, "error".to_owned(), 1.0),
    ];
    insta::assert_json_snapshot!(wotemu_reporter::charts::time_lines(
        "Interactions",
        "per window",
        &rows
    ));
}

#[test]
fn site_is_small_compared_with_the_data() {
    let f = fixture();
    let data: u64 = std::fs::read_dir(f.site.join("data"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let pages: u64 = pages(&f.site)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    // The pages are a small part of the site; the downloads hold the data.
    assert!(pages < 2 * 1024 * 1024, "pages {pages} bytes");
    assert!(data > 0);
    assert!(
        pages < data,
        "pages ({pages} bytes) are smaller than the data they summarise ({data} bytes)"
    );
}

/// WoTemu 0.6's store imported and reported: the errors page lists the 8 failed reads and the 8 subscription
/// errors, each group with its type, message and count.
#[test]
fn the_06_dump_shows_every_error_with_its_type_and_message() {
    use wotemu_collector::legacy::{import, LegacyOptions};
    let redis = wotemu_testkit::RedisServer::start();
    wotemu_testkit::legacy::store_06(&mut redis.conn(), 1);
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("run");
    import(
        &LegacyOptions {
            redis_url: redis.url(),
            stack: None,
            out: dataset.clone(),
            spill_bytes: 64 << 20,
        },
        &wotemu_collector::NoProgress,
    )
    .unwrap();
    let site = dir.path().join("site");
    wotemu_reporter::Report::load(wotemu_reporter::ReportOptions::new(&dataset, &site))
        .unwrap()
        .render()
        .unwrap();
    let html = read(&site.join("errors.html"));
    // One row per (type, message, thing, name[, verb]): the reads of temperature and of humidity.
    let rows: Vec<&str> = html.split("<tr>").skip(1).collect();
    let count = |error_type: &str, message: &str| -> u64 {
        rows.iter()
            .filter(|r| r.contains(&format!("<td>{error_type}</td>")) && r.contains(message))
            .map(|r| {
                let cells: Vec<&str> = r.split("<td class=\"n\">").skip(1).collect();
                cells[0]
                    .split('<')
                    .next()
                    .unwrap()
                    .replace(',', "")
                    .parse::<u64>()
                    .unwrap()
            })
            .sum()
    };
    assert_eq!(count("TimeoutError", "timed out after 30 s"), 8, "{html}");
    // 0.6 named no hosts: its tasks' Swarm nodes (two here) tell them apart on the hosts page, with what
    // each carried over time and the failed subscriber on its host.
    let hosts = read(&site.join("hosts.html"));
    for s in [
        "<a href=\"#host-node0abc\">node0abc</a>",
        "<a href=\"#host-node1abc\">node1abc</a>",
        "c-host-cpu",
        "c-host-mem",
        "state-bad",
    ] {
        assert!(hosts.contains(s), "{s} is not on the hosts page: {hosts}");
    }
    assert_eq!(
        count(
            "ConnectionClosed",
            "code = 1006 (connection closed abnormally [internal]), no reason"
        ),
        8,
        "{html}"
    );
}

/// `--downloads`: the default offers every table as Parquet and CSV copies only while their estimated sizes
/// fit the budget (smallest first); `csv` both of every table; `none` no copy. The data page lists every table
/// either way, says why a CSV copy is missing and where the rest is.
#[test]
fn downloads_are_a_choice() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let render = |name: &str, downloads: wotemu_reporter::Downloads, budget: u64| {
        let site = dir.path().join(name);
        let mut opts = wotemu_reporter::ReportOptions::new(&f.dataset, &site);
        opts.downloads = downloads;
        opts.downloads_budget = budget;
        wotemu_reporter::Report::load(opts)
            .unwrap()
            .render()
            .unwrap();
        site
    };
    let tables = || {
        std::fs::read_dir(&f.dataset)
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                (p.extension()? == "parquet")
                    .then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
            })
            .collect::<Vec<_>>()
    };
    let csv_sizes = |site: &Path| -> Vec<(String, u64)> {
        tables()
            .into_iter()
            .filter_map(|name| {
                let m = site.join(format!("data/{name}.csv")).metadata().ok()?;
                Some((name, m.len()))
            })
            .collect()
    };
    // Every CSV copy, to know their sizes; then a budget of about half of them.
    let all = render("all", wotemu_reporter::Downloads::Parquet, u64::MAX);
    let full = csv_sizes(&all);
    assert_eq!(full.len(), tables().len(), "{full:?}");
    let total: u64 = full.iter().map(|t| t.1).sum();
    let budget = total / 2;
    let site = render("default", wotemu_reporter::Downloads::Parquet, budget);
    for name in tables() {
        assert!(site.join(format!("data/{name}.parquet")).exists(), "{name}");
    }
    let kept = csv_sizes(&site);
    assert!(
        !kept.is_empty() && kept.len() < full.len(),
        "{kept:?} of {full:?}"
    );
    // The estimates are close to what is written: the copies fit the budget within 10 %.
    let used: u64 = kept.iter().map(|t| t.1).sum();
    assert!(used as f64 <= budget as f64 * 1.1, "{used} > {budget}");
    // The smallest go first: no table left out is smaller than one kept.
    let largest_kept = kept.iter().map(|t| t.1).max().unwrap();
    for (name, size) in &full {
        if !kept.iter().any(|k| &k.0 == name) {
            assert!(
                *size as f64 >= largest_kept as f64 * 0.9,
                "{name} ({size}) left out"
            );
        }
    }
    let page = read(&site.join("data.html"));
    assert!(
        page.contains("not in this site: its CSV would be about")
            && page.contains("--downloads-budget")
            && page.contains("--downloads csv"),
        "{page}"
    );
    let none = render("zero", wotemu_reporter::Downloads::Parquet, 0);
    assert!(csv_sizes(&none).is_empty());
    let site = render("csv", wotemu_reporter::Downloads::Csv, 0);
    for name in tables() {
        assert!(site.join(format!("data/{name}.csv")).exists(), "{name}");
    }
    let site = render("none", wotemu_reporter::Downloads::None, 0);
    assert!(
        std::fs::read_dir(site.join("data"))
            .unwrap()
            .next()
            .is_none(),
        "no copy"
    );
    let page = read(&site.join("data.html"));
    for name in tables() {
        assert!(
            page.contains(&format!("<td>{name}</td>")),
            "{name} is listed"
        );
    }
}

//! `wotemu report`: from a dataset, from a stack in Redis (0.6 style), and its errors.

use wotemu_testkit::load::load_synthetic;
use wotemu_testkit::synth::Synth;
use wotemu_testkit::RedisServer;

use crate::util::{stderr, stdout, wotemu};

#[test]
fn report_from_a_stack_collects_beside_the_site_and_keeps_redis() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let mut synth = Synth::new(11, "legacy");
    let tasks = synth.tasks(&[("server", 1), ("reader", 2)]);
    let loaded = load_synthetic(&mut conn, &mut synth, "legacy", &tasks, 200, 100, false);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("site");
    let o = wotemu()
        .args([
            "report",
            "--stack",
            "legacy",
            "--redis-url",
            &redis.url(),
            "--json",
        ])
        .args(["--base-url", "https://example.org/runs/legacy/"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v["pages"],
        8 + 3,
        "8 site pages (networks.html, hosts.html and scenario.html too) and one per task"
    );
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains(r#"<link rel="canonical" href="https:&#x2F;&#x2F;example.org&#x2F;runs&#x2F;legacy&#x2F;index.html">"#), "{index}");
    assert!(out.join(".nojekyll").exists());
    // The dataset is kept beside the site and holds every record; Redis is left as it was.
    let m = wotemu_contract::Manifest::read(&out.join("dataset")).unwrap();
    assert_eq!(m.accounting.totals.records_written, loaded.records);
    let len: u64 = redis::cmd("XLEN")
        .arg(wotemu_contract::keys::StackKeys::new("legacy").stream(&tasks[0].task))
        .query(&mut conn)
        .unwrap();
    assert!(len > 0, "the stack's streams are kept for a later report");
    // A second report from the dataset alone gives the same pages.
    let again = dir.path().join("again");
    let o = wotemu()
        .args(["-q", "report", "--dataset"])
        .arg(out.join("dataset"))
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(again.join("tasks.html").exists());
}

#[test]
fn report_of_a_missing_dataset_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let o = wotemu()
        .args(["report", "--dataset"])
        .arg(dir.path().join("nope"))
        .arg("--out")
        .arg(dir.path().join("site"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("nope"), "{err}");
    assert!(
        err.contains("manifest.json") || err.contains("dataset"),
        "{err}"
    );
    let o = wotemu().args(["report", "--out", "x"]).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--dataset"), "{}", stderr(&o));
}

/// The GitHub Pages example: its committed dataset renders with `--base-url`, and the site served from a
/// sub-path by a real HTTP server (as Pages serves it, not file://) draws every chart in headless Chromium;
/// every link and asset of every page resolves (no 404 in the server's log).
#[test]
fn the_github_pages_example_works_from_a_sub_path() {
    use std::io::{Read, Write};
    let repo = crate::run::repo();
    let workflow: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo.join("examples/github-pages/report.yml")).unwrap(),
    )
    .unwrap();
    let text = serde_yaml::to_string(&workflow).unwrap();
    assert!(text.contains("examples/github-pages/dataset") && text.contains("--base-url"));
    let dir = tempfile::tempdir().unwrap();
    let port = wotemu_testkit::free_port();
    let origin = format!("http://127.0.0.1:{port}/");
    let base = format!("{origin}owner/repo/");
    let site = dir.path().join("www/owner/repo");
    let o = wotemu()
        .args(["report", "--dataset"])
        .arg(repo.join("examples/github-pages/dataset"))
        .arg("--out")
        .arg(&site)
        .args(["--base-url", &base])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let log = dir.path().join("server.log");
    let mut server = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(dir.path().join("www"))
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let get = |path: &str| -> Option<u16> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).ok()?;
        let head = String::from_utf8_lossy(&reply[..reply.len().min(64)]).into_owned();
        head.split_whitespace().nth(1)?.parse().ok()
    };
    // The server is up once it answers.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while get("/owner/repo/index.html").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the HTTP server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Every page's links and assets, resolved against the page's own path.
    let mut pages = vec![];
    let mut stack = vec![site.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "html") {
                pages.push(p);
            }
        }
    }
    let mut checked = 0;
    for page in &pages {
        let rel = page.strip_prefix(dir.path().join("www")).unwrap();
        let url_dir = format!("/{}", rel.parent().unwrap().display());
        let html = std::fs::read_to_string(page).unwrap();
        for attr in ["href=\"", "src=\""] {
            for piece in html.split(attr).skip(1) {
                // As a browser reads the attribute: Tera escapes `/` as `&#x2F;`.
                let link = piece[..piece.find('"').unwrap()]
                    .replace("&#x2F;", "/")
                    .replace("&amp;", "&");
                let link = link.as_str();
                if link.starts_with("http") || link.starts_with('#') || link.starts_with("data:") {
                    continue;
                }
                let link = link.split('#').next().unwrap();
                let mut parts: Vec<&str> = url_dir.split('/').filter(|s| !s.is_empty()).collect();
                for seg in link.split('/') {
                    match seg {
                        ".." => {
                            parts.pop();
                        }
                        "." | "" => {}
                        s => parts.push(s),
                    }
                }
                let path = format!("/{}", parts.join("/"));
                assert_eq!(
                    get(&path),
                    Some(200),
                    "{} links to {link} ({path})",
                    page.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "{checked} links checked");
    for page in ["index.html", "tasks.html", "errors.html", "data.html"] {
        wotemu_testkit::browser::check_url(&format!("{base}{page}"), Some(&origin));
    }
    let index = std::fs::read_to_string(site.join("index.html"))
        .unwrap()
        .replace("&#x2F;", "/");
    assert!(index.contains(&format!(
        "<link rel=\"canonical\" href=\"{base}index.html\">"
    )));
    server.kill().unwrap();
    server.wait().unwrap();
    let served = std::fs::read_to_string(&log).unwrap();
    assert!(served.contains("GET /owner/repo/index.html"), "{served}");
    assert!(!served.contains(" 404 "), "{served}");
}

/// The site stays publishable at scale (GitHub Pages: 100 MB per file, 1 GB per site), and below WoTemu
/// 0.6's: WoTemu 0.6's own store ×1000 (7,000 tasks, 7.5 million records) imported, then reported with the
/// default flags, gives a site of at most 50 MB with no file above 50 MB (0.6's site of the same store:
/// 142 MB). Regression guard of issue 41: an 0.9 MB `packets.parquet` once became an 83 MB `packets.csv`,
/// and every task page carried its charts' whole specs.
#[test]
fn the_site_of_06s_store_x1000_stays_within_50_mb() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let members = wotemu_testkit::legacy::store_06(&mut conn, 1000);
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("dataset");
    let o = wotemu()
        .args([
            "-q",
            "collect",
            "--legacy",
            "--redis-url",
            &redis.url(),
            "--out",
        ])
        .arg(&dataset)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    drop(redis);
    let m = wotemu_contract::Manifest::read(&dataset).unwrap();
    assert_eq!(
        m.accounting.totals.records_written as usize,
        members + 7_000
    );
    let site = dir.path().join("site");
    let o = wotemu()
        .args(["-q", "report", "--dataset"])
        .arg(&dataset)
        .arg("--out")
        .arg(&site)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let pages = std::fs::read_dir(site.join("tasks")).unwrap().count();
    assert_eq!(pages, 7_000, "a page per task stays");
    let (bytes, (largest, largest_bytes)) = wotemu_testkit::site_size(&site);
    assert!(
        bytes <= 50_000_000,
        "the site holds {bytes} bytes (at most 50 MB); its largest file is {largest} ({largest_bytes} bytes)"
    );
    assert!(
        largest_bytes <= 50_000_000,
        "{largest} holds {largest_bytes} bytes (at most 50 MB)"
    );
    // The data page says which tables have no CSV copy and why.
    let data = std::fs::read_to_string(site.join("data.html")).unwrap();
    assert!(
        data.contains("not in this site: its CSV would be about"),
        "{data}"
    );
    assert!(!site.join("data/packets.csv").exists());
}

/// `--downloads-budget`: a size (`0` keeps no CSV copy, a large one keeps every one), a bad size is a usage
/// error that says how to write one.
#[test]
fn the_downloads_budget_is_a_size() {
    let repo = crate::run::repo();
    let dir = tempfile::tempdir().unwrap();
    let csvs = |site: &std::path::Path| {
        std::fs::read_dir(site.join("data"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "csv")
            })
            .count()
    };
    for (budget, expect_all) in [("0", false), ("1g", true)] {
        let site = dir.path().join(budget);
        let o = wotemu()
            .args(["-q", "report", "--downloads-budget", budget, "--dataset"])
            .arg(repo.join("examples/github-pages/dataset"))
            .arg("--out")
            .arg(&site)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let parquet = std::fs::read_dir(site.join("data")).unwrap().count() - csvs(&site);
        assert_eq!(
            csvs(&site),
            if expect_all { parquet } else { 0 },
            "{budget}"
        );
    }
    let o = wotemu()
        .args([
            "report",
            "--downloads-budget",
            "10Q",
            "--dataset",
            "x",
            "--out",
            "y",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`10Q` is not a size; write e.g. 10MB"),
        "{}",
        stderr(&o)
    );
}

/// The committed GitHub Pages example is a dataset of this version: its manifest's schema version is the
/// current one and it holds every table (the `network` table too, so its report has network pages).
#[test]
fn the_published_example_dataset_is_of_the_current_schema() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/github-pages/dataset");
    let m = wotemu_contract::Manifest::read(&dir).unwrap();
    assert_eq!(
        m.schema_version,
        wotemu_contract::DATASET_SCHEMA_VERSION,
        "regenerate it: wotemu run examples/quickstart.yml --duration 20s --no-report --out {}",
        dir.display()
    );
    for t in wotemu_contract::Table::ALL {
        assert!(
            m.tables.contains_key(&t) && dir.join(t.file_name()).exists(),
            "no {} table: regenerate it (wotemu run examples/quickstart.yml --duration 20s --no-report)",
            t.name()
        );
    }
}

/// `--open` hands the site's index to the desktop's opener (`xdg-open`, here a stand-in on PATH that records
/// what it was given); without one, the report is still written and a warning says where it is.
#[test]
fn report_open_hands_the_index_to_the_desktop_opener() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dataset = repo.join("examples/github-pages/dataset");
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let opened = dir.path().join("opened");
    let opener = bin.join("xdg-open");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > {}\n", opened.display()),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&opener).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&opener, perms).unwrap();
    let site = dir.path().join("site");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let o = wotemu()
        .args(["report", "--open", "--dataset"])
        .arg(&dataset)
        .arg("--out")
        .arg(&site)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&opened).unwrap(),
        site.join("index.html").to_str().unwrap()
    );
    assert!(!stderr(&o).contains("could not open"), "{}", stderr(&o));

    // No opener: the site is there, and the warning names its index.
    std::fs::remove_file(&opener).unwrap();
    let site2 = dir.path().join("site2");
    let o = wotemu()
        .args(["report", "--open", "--dataset"])
        .arg(&dataset)
        .arg("--out")
        .arg(&site2)
        .env("PATH", bin.to_str().unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(site2.join("index.html").exists());
    assert!(
        stderr(&o).contains(&format!(
            "could not open a browser; open {} yourself",
            site2.join("index.html").display()
        )),
        "{}",
        stderr(&o)
    );
}

//! Pages of a generated site in real headless Chromium: every chart renders, no console error, no network
//! request from the page, no injected script runs.

use std::path::Path;
use std::process::Command;

/// The Chromium binary (panics with how to install it when there is none).
pub fn chromium() -> &'static str {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return c;
        }
    }
    panic!("headless Chromium is needed for this test: apt-get install chromium (scripts/setup.sh does it)");
}

/// Requests Chromium makes by itself (updates, accounts, time), whatever the page.
fn chromium_own(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', ':', '?'])
        .next()
        .unwrap_or("");
    ["google.com", "googleapis.com", "gstatic.com", "gvt1.com"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// Loads `page` from `file://` and asserts that every chart rendered, nothing failed and nothing was
/// fetched; returns the rendered DOM and the number of charts.
pub fn check_page(page: &Path) -> (String, usize) {
    check_url(&format!("file://{}", page.display()), None)
}

/// Loads `url` and asserts that every chart rendered, nothing failed and nothing was fetched but from
/// `origin` (the server of the site, e.g. `http://127.0.0.1:8000/`); returns the DOM and the number of charts.
pub fn check_url(url: &str, origin: Option<&str>) -> (String, usize) {
    let page = url;
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--virtual-time-budget=10000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!(
            "--log-net-log={}",
            profile.path().join("net.json").display()
        ))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: chromium failed: {log}", page);
    let containers = dom.matches("data-spec=\"").count();
    let rendered = dom.matches("data-rendered=\"true\"").count();
    assert_eq!(
        rendered, containers,
        "{}: {rendered} of {containers} charts rendered\n{log}",
        page
    );
    assert!(!dom.contains("data-rendered=\"error\""), "{}", page);
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("Error") || l.contains("error")))
        .collect();
    assert!(console_errors.is_empty(), "{}: {console_errors:?}", page);
    assert!(
        !dom.contains("<script>alert(1)</script>"),
        "probe executed or injected"
    );
    // No network request from the page: the net log holds only Chromium's own background requests.
    let net = std::fs::read_to_string(profile.path().join("net.json")).unwrap();
    let from_page: Vec<&str> = net
        .split("\"url\":\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap_or(s.len())])
        .filter(|u| u.starts_with("http") || u.starts_with("ws"))
        .filter(|u| !chromium_own(u))
        .filter(|u| origin.is_none_or(|o| !u.starts_with(o)))
        .collect();
    assert!(
        from_page.is_empty(),
        "{}: network requests {from_page:?}",
        page
    );
    assert!(
        net.contains("\"events\""),
        "the net log was written (an empty list above means something)"
    );
    if containers > 0 {
        assert!(dom.contains("<svg"), "{}: no SVG drawn", page);
    }
    (dom, containers)
}

/// The charts of a report page: (id, rows inline in the page), from its `<script id="charts">` element.
pub fn page_charts(page: &Path) -> Vec<(String, usize)> {
    let html = std::fs::read_to_string(page).unwrap();
    let Some(start) = html.find("<script type=\"application/json\" id=\"charts\">") else {
        return Vec::new();
    };
    let rest = &html[start..];
    let json = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(id, part)| (id.clone(), part["d"]["n"].as_u64().unwrap_or(0) as usize))
        .collect()
}

//! Every page in real headless Chromium: the charts render, nothing fails, the probe stays text.

use wotemu_testkit::browser::check_page;

use crate::fixture::fixture;

#[test]
fn every_chart_renders_in_headless_chromium() {
    let f = fixture();
    let mut pages = vec![
        f.site.join("index.html"),
        f.site.join("tasks.html"),
        f.site.join("errors.html"),
    ];
    let task = std::fs::read_dir(f.site.join("tasks"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    pages.push(task.clone());
    for page in pages {
        check_page(&page);
    }
    // A task page carries only its rows: its charts draw marks from the shared templates
    // (static/specs.js), and the notes the page leaves out come from them.
    let (dom, charts) = check_page(&task);
    assert!(charts >= 2, "{charts} charts on {}", task.display());
    assert!(
        dom.matches("mark-line").count() + dom.matches("mark-area").count() >= 2,
        "no line or area marks drawn on {}",
        task.display()
    );
    assert!(
        dom.contains("<span class=\"muted\"> — % of one CPU per"),
        "the CPU chart's note was not shown on {}",
        task.display()
    );
}

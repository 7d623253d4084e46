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
    pages.push(task);
    for page in pages {
        check_page(&page);
    }
}

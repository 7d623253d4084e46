//! The site template, compiled in: the Tera templates of `site-template/templates`, and the files copied as
//! they are into every site (style, script, the vendored Vega bundles with their licences).

use crate::error::Error;

macro_rules! st {
    ($p:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../site-template/",
            $p
        ))
    };
}
macro_rules! sb {
    ($p:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../site-template/",
            $p
        )) as &[u8]
    };
}

/// Files copied as they are into every site.
pub(crate) const FILES: [(&str, &[u8]); 10] = [
    ("static/style.css", sb!("static/style.css")),
    ("static/app.js", sb!("static/app.js")),
    ("vendor/vega.min.js", sb!("vendor/vega.min.js")),
    ("vendor/vega-lite.min.js", sb!("vendor/vega-lite.min.js")),
    ("vendor/vega-embed.min.js", sb!("vendor/vega-embed.min.js")),
    ("vendor/LICENSE.vega", sb!("vendor/LICENSE.vega")),
    ("vendor/LICENSE.vega-lite", sb!("vendor/LICENSE.vega-lite")),
    (
        "vendor/LICENSE.vega-embed",
        sb!("vendor/LICENSE.vega-embed"),
    ),
    ("vendor/VERSIONS", sb!("vendor/VERSIONS")),
    ("vendor/README.md", sb!("README.md")),
];

const TEMPLATES: [(&str, &str); 15] = [
    ("base.html", st!("templates/base.html")),
    ("macros.html", st!("templates/macros.html")),
    ("index.html", st!("templates/index.html")),
    ("tasks.html", st!("templates/tasks.html")),
    ("task.html", st!("templates/task.html")),
    ("errors.html", st!("templates/errors.html")),
    ("networks.html", st!("templates/networks.html")),
    ("hosts.html", st!("templates/hosts.html")),
    ("network.html", st!("templates/network.html")),
    ("scenario.html", st!("templates/scenario.html")),
    ("compose.html", st!("templates/compose.html")),
    ("data.html", st!("templates/data.html")),
    ("compare.html", st!("templates/compare.html")),
    ("compare_group.html", st!("templates/compare_group.html")),
    ("sweep.html", st!("templates/sweep.html")),
];

/// The templates, with HTML escaping on.
pub(crate) fn tera() -> Result<tera::Tera, Error> {
    let mut t = tera::Tera::default();
    t.add_raw_templates(TEMPLATES)
        .map_err(|e| Error::Template {
            page: "(templates)".into(),
            message: wotemu_sys::error_chain(&e),
        })?;
    t.autoescape_on(vec![".html"]);
    Ok(t)
}

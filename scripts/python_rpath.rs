//! The build script of the crates that link libpython (agent, topology, cli: `build = "../scripts/python_rpath.rs"`):
//! lets their binaries and test binaries find libpython at run time (pyenv and other Pythons whose library is
//! not in the system's search path) by recording its folder as an rpath. The library crates link libpython
//! only with their `python` feature; the `wotemu` binary always does.
// Cargo reads a build script's instructions from its stdout.
#![allow(clippy::print_stdout)]

fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let binary = std::env::var("CARGO_PKG_NAME").is_ok_and(|n| n == "wotemu");
    if !binary && std::env::var_os("CARGO_FEATURE_PYTHON").is_none() {
        return;
    }
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')",
        ])
        .output();
    if let Ok(out) = out {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !dir.is_empty() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}

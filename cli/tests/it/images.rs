//! The images of `docker/build.sh --debug` (scripts/test.sh builds them), the registry-free path: exactly
//! the Debian packages of `docker/packages.txt`, nothing `docker/slim.txt` or `docker/python-slim.txt` leaves
//! out, the binary without the report, OpenCV only in the vision image (which runs the camera), and one shared
//! layer for the wotemu, Redis and proxy images.
//! `docker/Dockerfile` (the path with a registry, which cannot pull here) uses the same lists.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{stderr, stdout};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn image(name: &str) -> String {
    format!("wotemu/{name}:{}", env!("CARGO_PKG_VERSION"))
}

/// `sh -c script` in a throwaway container of `img`: (exit code, stdout, stderr).
fn sh(img: &str, script: &str) -> (Option<i32>, String, String) {
    let o = Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "sh", img, "-c", script])
        .output()
        .unwrap();
    (o.status.code(), stdout(&o), stderr(&o))
}

fn list(file: &str) -> Vec<String> {
    std::fs::read_to_string(repo().join(file))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn layers(img: &str) -> Vec<String> {
    let o = Command::new("docker")
        .args(["image", "inspect", "-f", "{{json .RootFS.Layers}}", img])
        .output()
        .unwrap();
    assert!(o.status.success(), "{img}: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn the_images_hold_the_listed_packages_and_leave_out_the_rest() {
    let base = image("wotemu");
    // Every package of the list is installed.
    let packages = list("docker/packages.txt");
    assert!(packages.len() >= 8);
    let (code, out, err) = sh(
        &base,
        &format!(
            "dpkg-query -W -f '${{Package}} ${{Status}}\\n' {}",
            packages.join(" ")
        ),
    );
    assert_eq!(code, Some(0), "{err}");
    for p in &packages {
        assert!(
            out.lines()
                .any(|l| l == format!("{p} install ok installed")),
            "{p} is not installed: {out}"
        );
    }
    // Nothing of the slim list is there (globs expanded by the image's shell).
    let paths = list("docker/slim.txt");
    let (code, out, err) = sh(
        &base,
        &format!(
            "cd / && for p in {}; do for f in ./$p; do [ -e \"$f\" ] && echo \"$f\"; done; done; true",
            paths.join(" ")
        ),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "", "left in the image");
    // WoTPy imports (its Zenoh binding included) with every protocol's server and client, amqtt's broker
    // and client too, without the distributions docker/python-slim.txt uninstalls; OpenCV is not in the
    // base image.
    let (code, _, err) = sh(
        &base,
        "/opt/wotemu/venv/bin/python -c 'import wotpy.wot.servient, zenoh, yaml._yaml, rpds, tornado, aiocoap, amqtt.broker, amqtt.client
for p in (\"http\", \"ws\", \"coap\", \"mqtt\"):
    __import__(\"wotpy.protocols.\" + p + \".server\"); __import__(\"wotpy.protocols.\" + p + \".client\")'",
    );
    assert_eq!(code, Some(0), "{err}");
    let gone = list("docker/python-slim.txt");
    assert!(gone.len() >= 5);
    let (code, out, err) = sh(
        &base,
        &format!(
            "/opt/wotemu/venv/bin/python -c 'import importlib.metadata as m, sys
for d in sys.argv[1:]:
    try: m.distribution(d); print(d)
    except m.PackageNotFoundError: pass' {}",
            gone.join(" ")
        ),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "", "still installed");
    let (code, _, _) = sh(&base, "/opt/wotemu/venv/bin/python -c 'import cv2'");
    assert_ne!(code, Some(0), "OpenCV is only in the vision image");
    // The images' binary is built without the report, and says so.
    let (code, _, err) = sh(&base, "wotemu report --dataset /tmp --out /tmp/site");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("`wotemu report` is not in this wotemu: it was built without the report"),
        "{err}"
    );
    // The Dockerfile builds from the same lists, and the same binary.
    assert!(std::fs::read_to_string(repo().join("docker/Dockerfile"))
        .unwrap()
        .contains("-p wotemu --no-default-features"));
    let dockerfile = std::fs::read_to_string(repo().join("docker/Dockerfile")).unwrap();
    for f in [
        "docker/packages.txt",
        "docker/slim.txt",
        "docker/python-slim.txt",
        "docker/photos.py",
        "python/requirements.txt",
    ] {
        assert!(dockerfile.contains(f), "the Dockerfile uses {f}");
    }
    // Redis and the proxy are the same layer with another entry point; vision is one layer on top.
    let l = layers(&base);
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(layers(&image("redis")), l);
    assert_eq!(layers(&image("docker-api-proxy")), l);
    let v = layers(&image("wotemu-vision"));
    assert_eq!(v.len(), 2, "{v:?}");
    assert_eq!(v[0], l[0]);
}

#[test]
fn the_camera_runs_in_the_vision_image() {
    // The camera starts (its panorama from the photographs the image carries) and runs until stopped;
    // Redis is unreachable, so its records wait in the spool.
    let (code, out, err) = sh(
        &image("wotemu-vision"),
        "REDIS_URL=redis://127.0.0.1:1 timeout 15 wotemu agent --path camera --enable-http; echo \"exit $?\"",
    );
    assert_eq!(code, Some(0), "{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("exit 124"), "it ran until the timeout: {all}");
    assert!(all.contains("wotemu.apps.camera: camera urn:"), "{all}");
    // The same app in the base image says what it lacks.
    let (_, out, err) = sh(
        &image("wotemu"),
        "REDIS_URL=redis://127.0.0.1:1 timeout 15 wotemu agent --path camera --enable-http; echo \"exit $?\"",
    );
    let all = format!("{out}{err}");
    assert!(!all.contains("exit 124"), "{all}");
    assert!(all.contains("cv2"), "{all}");
}

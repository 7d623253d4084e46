//! `wotemu broker`, a stack's MQTT broker: Mosquitto with a configuration of the port asked, taking this
//! process's place (its container's signals reach it directly).

use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::Error;

/// Writes Mosquitto's configuration (a listener on `port`, anonymous clients) and becomes `mosquitto`; returns
/// only when it cannot.
pub fn exec(port: u16, mosquitto: &Path) -> Error {
    let dir = std::env::temp_dir().join(format!("wotemu-broker-{}", std::process::id()));
    let conf = dir.join("mosquitto.conf");
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::write(
            &conf,
            format!("listener {port} 0.0.0.0\nallow_anonymous true\n"),
        )
    });
    if let Err(source) = written {
        return Error::Io {
            what: format!("writing {}", conf.display()),
            source,
        };
    }
    let source = std::process::Command::new(mosquitto)
        .arg("-c")
        .arg(&conf)
        .exec();
    Error::Io {
        what: format!(
            "running {} (install Mosquitto, e.g. apt-get install mosquitto)",
            mosquitto.display()
        ),
        source,
    }
}

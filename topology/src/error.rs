//! Errors of loading and validating a topology, each with where it is and how to fix it.

use std::fmt;
use std::path::PathBuf;

/// A place in a topology file: 1-based line and column (column 0 when only the line is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl serde::Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column > 0 {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
        } else {
            write!(f, "{}:{}", self.file.display(), self.line)
        }
    }
}

/// What kind of problem a diagnostic is, for tests and scripts to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    NoNodes,
    NoNetworks,
    UnknownNetwork,
    UnknownBroker,
    UnknownService,
    UnknownPreset,
    MqttWithoutBroker,
    BrokerNetworkNotOfBroker,
    DuplicateName,
    InvalidName,
    ReservedName,
    BadValue,
    CpuLimitAndTargetSpeed,
    ReorderWithoutLatency,
    ScheduleOrder,
    ServiceNotLinked,
    BrokerWithoutMqtt,
    BrokerNetworkChosen,
    UnusedNetwork,
    UnknownField,
    WrongType,
    MissingField,
    UnavailableApp,
    MissingAppFile,
    /// A trace file that is missing or whose rows are wrong.
    BadTrace,
    /// A scenario event that names what does not exist, or cannot be done.
    BadScenario,
}

/// One problem (or warning) found in a topology.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub kind: Kind,
    /// Where in the document, e.g. `nodes.reader.networks[1]`.
    pub path: String,
    /// Where in the file, when known (`file:line:column`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    pub message: String,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(l) => write!(f, "{l}: ")?,
            None if !self.path.is_empty() => write!(f, "at `{}`: ", self.path)?,
            None => {}
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Why a topology cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the topology file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a topology file: use a .yml/.yaml file or a WoTemu 0.6 .py file with `def topology()`", path.display())]
    UnknownFormat { path: PathBuf },
    /// The YAML cannot be read or does not have the topology's shape.
    #[error("{}{message}{}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_else(|| format!("{}: ", path.display())), hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Syntax {
        path: PathBuf,
        location: Option<Location>,
        message: String,
        hint: Option<String>,
    },
    /// The Python file failed to run, or `topology()` did not return a topology.
    #[error("{}{message}{}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_else(|| format!("{}: ", path.display())), traceback.as_ref().map(|t| format!("\n{t}")).unwrap_or_default())]
    Python {
        path: PathBuf,
        location: Option<Location>,
        message: String,
        traceback: Option<String>,
    },
    #[error("{} cannot be loaded: this wotemu was built without Python support (feature `python`)", path.display())]
    NoPython { path: PathBuf },
    /// The topology has the right shape but breaks rules; every problem found is listed.
    #[error("{}", Invalid(.diagnostics))]
    Invalid {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
}

struct Invalid<'a>(&'a [Diagnostic]);

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "the topology has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for d in self.0 {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

impl Error {
    /// The validation problems, if that is what this error is.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::Invalid { diagnostics, .. } => diagnostics,
            _ => &[],
        }
    }
}

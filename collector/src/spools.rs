//! Reading the agents' spools of a run (`<task>.spool`, format in [`wotemu_contract::spool`]): entries an
//! agent spooled while Redis was down and never replayed — it was killed, or stopped before Redis came back.

use std::path::{Path, PathBuf};

use wotemu_contract::spool::{scan, task_of, Fields};

use crate::error::Error;

/// Every entry of every spool under `dir`: (task, spool file, fields), files in name order, entries in
/// file order. A missing folder has none.
pub(crate) fn read(dir: &Path) -> Result<Vec<(String, PathBuf, Fields)>, Error> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut files: Vec<(String, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            task_of(&name).map(|t| (t.to_owned(), e.path()))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for (task, path) in files {
        let data = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let (entries, _) = scan(&data);
        out.extend(entries.into_iter().map(|f| (task.clone(), path.clone(), f)));
    }
    Ok(out)
}

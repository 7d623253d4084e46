#![no_main]
//! Any bytes as one file of a dataset (see `wotemu_dataset_fuzz`): its readers and the report end with a
//! result or an error, never a panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a scratch folder");
    let _ = wotemu_dataset_fuzz::exercise(&wotemu_dataset_fuzz::base(), dir.path(), data);
});

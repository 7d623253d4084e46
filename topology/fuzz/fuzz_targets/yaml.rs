#![no_main]
//! Any bytes as a YAML topology: an error or a topology, never a panic; compose never panics on a valid one.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(v) = wotemu_topology::from_yaml_str(std::path::Path::new("fuzz.yml"), text) {
            let _ = wotemu_topology::compose::to_yaml(&v.topology, "fuzz.yml");
        }
    }
});

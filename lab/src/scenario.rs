//! What a scenario's `stress` runs inside a node (the timeline itself is [`wotemu_topology::scenario`]).

/// What a `stress` step runs inside a node's cgroups (`wotemu stress-load`): `memory_bytes` allocated and
/// every page written (so that the cgroup counts it), and `cpu_pct` % of one core kept busy — a thread per
/// started 100 %, each busy its share of every 100 ms. Runs until it is killed, or for `for_ms` when given
/// (in a Swarm stack, where the load is a `docker exec` the scenario service cannot kill).
pub fn load(cpu_pct: f64, memory_bytes: u64, for_ms: Option<u64>) -> ! {
    let mut held: Vec<u8> = Vec::new();
    if memory_bytes > 0 {
        held = vec![0u8; memory_bytes as usize];
        for i in (0..held.len()).step_by(4096) {
            held[i] = 1;
        }
    }
    let threads = (cpu_pct / 100.0).ceil().max(0.0) as usize;
    for t in 0..threads {
        let share = ((cpu_pct - 100.0 * t as f64).min(100.0) / 100.0).max(0.0);
        std::thread::spawn(move || loop {
            let start = std::time::Instant::now();
            let busy = std::time::Duration::from_secs_f64(0.1 * share);
            while start.elapsed() < busy {
                std::hint::spin_loop();
            }
            if share < 1.0 {
                std::thread::sleep(std::time::Duration::from_secs_f64(0.1 * (1.0 - share)));
            }
        });
    }
    if let Some(ms) = for_ms {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        std::hint::black_box(&held);
        std::process::exit(0);
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        std::hint::black_box(&held);
    }
}

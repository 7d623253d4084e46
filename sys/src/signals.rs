//! SIGINT and SIGTERM delivered to one place: they are blocked in the calling thread (and so in every thread
//! it starts afterwards) and received with `sigwait` by a thread of their own. Children must unblock them
//! ([`unblock_all`] between fork and exec), since a blocked mask is inherited across `exec`.

use std::sync::mpsc;

/// The signals that ask a process to stop (SIGINT, SIGTERM).
#[derive(Clone, Copy)]
pub struct StopSignals(libc::sigset_t);

/// Blocks SIGINT and SIGTERM in the calling thread and the threads it starts afterwards.
pub fn block_stop_signals() -> StopSignals {
    // SAFETY: sigset_t manipulation on a local set; pthread_sigmask changes this thread's mask only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        StopSignals(set)
    }
}

impl StopSignals {
    /// Waits for one of the signals (they must be blocked in every thread); returns its number.
    pub fn wait(&self) -> i32 {
        loop {
            let mut sig = 0;
            // SAFETY: sigwait(3) on a set blocked in this thread.
            if unsafe { libc::sigwait(&self.0, &mut sig) } == 0 {
                return sig;
            }
        }
    }
}

/// Blocks SIGINT/SIGTERM here and returns a channel that receives them (from a detached thread).
pub fn channel() -> mpsc::Receiver<i32> {
    let set = block_stop_signals();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("wotemu-signals".into())
        .spawn(move || loop {
            if tx.send(set.wait()).is_err() {
                return;
            }
        })
        .expect("starting the signal thread");
    rx
}

/// A flag set when SIGINT or SIGTERM arrives (for loops that end cleanly on their own).
pub fn stop_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sigs = channel();
    let flag = stop.clone();
    std::thread::spawn(move || {
        if sigs.recv().is_ok() {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    stop
}

/// Unblocks every signal in the calling thread. Async-signal-safe: meant for `pre_exec`, so that a child
/// does not inherit the parent's blocked mask.
pub fn unblock_all() {
    // SAFETY: sigemptyset and pthread_sigmask on a local set are async-signal-safe.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

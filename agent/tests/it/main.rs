//! Agent integration tests (real redis-server, real Python and WoTPy).

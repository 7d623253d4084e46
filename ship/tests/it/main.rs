//! The producer library against a real redis-server: what it ships, the collector reads (outages spooled and
//! replayed, full buffers counted, the runner's and a recorder's events registered and finished).

mod shipper;

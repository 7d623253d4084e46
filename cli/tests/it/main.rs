//! Integration tests of the `wotemu` binary (see README.md beside this file).

mod agent;
mod apps06;
mod collect;
mod doctor;
mod faults;
mod images;
mod net;
mod proxy;
mod python_package;
mod query;
mod readme;
mod report;
mod rows;
mod run;
mod scale;
mod scenario;
mod swarm;
mod sweep;
mod topology;
mod truth;
mod util;

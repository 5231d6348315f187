//! Usage billing: samples on a cron schedule into SQLite, billing quantities per period
//! (GB-days or point-in-time), and an outbox that delivers each figure to Waldur once.

pub mod amount;
pub mod clock;
pub mod deliver;
pub mod figures;
pub mod finish;
pub mod integrate;
pub mod period;
pub mod progress;
pub mod reporter;
pub mod retention;
pub mod sampler;
pub mod schedule;
pub mod show;

pub use reporter::{CycleReport, UsageReporter};

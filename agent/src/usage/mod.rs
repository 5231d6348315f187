//! Usage billing: samples on a cron schedule into SQLite, billing quantities per period
//! (GB-days or point-in-time), and an outbox that delivers each figure to Waldur once.

pub mod amount;
pub mod integrate;
pub mod period;

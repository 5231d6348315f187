//! The radosgw flavour: RadosGW Admin Ops, every parameter in the query string, signed with
//! AWS SigV4 (S3 variant: `x-amz-content-sha256` always sent, valueless sub-resources as
//! `key=`, `%20` encoding, no signed body).

mod client;
pub mod ops;
mod query;

pub use client::{QuotaType, RgwBucket, RgwClient};
pub use ops::RgwOps;
pub use query::AdminQuery;

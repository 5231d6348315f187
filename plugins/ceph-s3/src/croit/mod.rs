//! The croit flavour: croit's management REST API.

mod client;
pub mod ops;
mod wire;

pub use client::CroitClient;
pub use ops::CroitOps;

//! The croit flavour: croit's management REST API.

mod backend;
mod client;
mod wire;

pub use backend::CroitBackend;
pub use client::CroitClient;

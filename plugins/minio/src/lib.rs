//! MinIO storage backend for site-agent.

pub mod madmin;

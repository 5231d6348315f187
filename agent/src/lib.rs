//! site-agent: sells S3 object storage through a Waldur marketplace.
//!
//! Follow the names from `main.rs`: [`cli`] parses the command line, [`config`] loads the
//! upstream YAML, [`app`] builds and runs the roles, [`orders`] fulfils marketplace orders,
//! [`waldur`] talks to Mastermind, [`store`] keeps the local journal.

pub mod app;
pub mod backends;
pub mod check;
pub mod cli;
pub mod components;
pub mod config;
pub mod events;
pub mod keybook;
pub mod locks;
pub mod logging;
pub mod ops;
pub mod orders;
pub mod retry;
pub mod rotation;
pub mod stomp;
pub mod store;
pub mod sync;
pub mod usage;
pub mod waldur;

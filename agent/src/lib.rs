//! site-agent: sells S3 object storage through a Waldur marketplace.
//!
//! Follow the names from `main.rs`: [`cli`] parses the command line, [`config`] loads the
//! upstream YAML, [`app`] builds and runs the roles: [`orders`] fulfils marketplace orders
//! (polled, or queued by [`events`] from STOMP), [`rotation`] replaces keys, [`reconcile`]
//! makes each backend match Waldur, [`usage`] bills. [`backends`] lists the plugins and wraps
//! them in the shared layers; [`waldur`] talks to Mastermind; [`store`] keeps the journal.
//!
//! Dependencies point one way: `app` uses the roles, the roles use `waldur`, `store`,
//! `backends` and `config`, and none of those uses a role (`scripts/module-cycles.py`).

pub mod adopt;
pub mod app;
pub mod backends;
pub mod check;
pub mod cli;
pub mod components;
pub mod config;
pub mod diagnostics;
pub mod events;
pub mod locks;
pub mod logging;
pub mod metrics;
pub mod ops;
pub mod orders;
pub mod reconcile;
pub mod retry;
pub mod rotation;
pub mod stomp;
pub mod store;
pub mod usage;
pub mod waldur;

//! The Dell EMC ECS backend (work in progress, issue 11): the Management API client, its error
//! mapping and the settings. The `VendorOps` and the plugin registration follow.

pub mod api;
pub mod client;
pub mod error;
pub mod settings;

pub use settings::EcsSettings;

//! Waldur response models. Parsed leniently: every field optional or defaulted, unknown fields
//! ignored, because Mastermind adds and trims fields between versions.

use super::{OrderState, OrderType, WaldurId};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Order {
    pub uuid: WaldurId,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub state: OrderState,
    pub resource_name: Option<String>,
    pub marketplace_resource_uuid: Option<WaldurId>,
    pub offering_uuid: Option<WaldurId>,
    pub backend_id: Option<String>,
    pub limits: Option<Map<String, Value>>,
    pub attributes: Option<Map<String, Value>>,
    pub plan_uuid: Option<String>,
    pub project_uuid: Option<String>,
    pub project_slug: Option<String>,
    pub customer_slug: Option<String>,
    pub error_message: Option<String>,
    pub created: Option<String>,
    pub modified: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Resource {
    pub uuid: WaldurId,
    pub name: String,
    pub slug: Option<String>,
    pub state: String,
    pub backend_id: Option<String>,
    pub offering_uuid: Option<WaldurId>,
    pub project_slug: Option<String>,
    pub customer_slug: Option<String>,
    pub limits: Option<Map<String, Value>>,
    pub attributes: Option<Map<String, Value>>,
    pub backend_metadata: Option<Map<String, Value>>,
    /// The order form's options as options-change Updates left them.
    pub options: Option<Map<String, Value>>,
    pub paused: Option<bool>,
    pub downscaled: Option<bool>,
}

impl Resource {
    pub fn backend_id(&self) -> Option<&str> {
        self.backend_id.as_deref().filter(|s| !s.is_empty())
    }
}

/// A resource as a usage pass needs it: which, in what state, on which S3 user (a list of
/// 10,000 full resources, metadata and all, took tens of megabytes).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResourceRef {
    pub uuid: WaldurId,
    pub state: String,
    pub backend_id: Option<String>,
}

impl ResourceRef {
    pub fn backend_id(&self) -> Option<&str> {
        self.backend_id.as_deref().filter(|s| !s.is_empty())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ApiKeyStatus {
    pub uuid: WaldurId,
    pub resource_uuid: Option<WaldurId>,
    pub resource_backend_id: Option<String>,
    pub client_id: Option<String>,
    pub state: String,
    pub modified: Option<String>,
    /// When Waldur last took a secret for the key (`report_created`, `set_key`; a rotation
    /// request does not change it).
    pub issued_at: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Me {
    pub uuid: String,
    pub username: String,
    pub is_staff: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProviderOffering {
    pub uuid: String,
    pub name: String,
    pub customer_uuid: Option<String>,
    pub components: Vec<OfferingComponent>,
    pub plugin_options: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OfferingComponent {
    pub uuid: Option<String>,
    #[serde(rename = "type")]
    pub component_type: String,
    pub limit_period: Option<String>,
    pub name: String,
    pub billing_type: String,
    pub measured_unit: Option<String>,
}

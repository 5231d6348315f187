//! In-memory model of the simulated Mastermind: users, customers, projects, offerings,
//! resources, orders, API keys, usages, agent identities, plus the clock and test knobs.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::CallRecord;
use super::util::truncate_micros;

pub(crate) const ORDER_STATES: [&str; 9] = [
    "pending-consumer",
    "pending-provider",
    "pending-project",
    "pending-start-date",
    "executing",
    "done",
    "erred",
    "canceled",
    "rejected",
];
pub(crate) const ORDER_TYPES: [&str; 4] = ["Create", "Update", "Terminate", "Restore"];

pub(crate) const CREATING: &str = "Creating";
pub(crate) const OK: &str = "OK";
pub(crate) const ERRED: &str = "Erred";
pub(crate) const UPDATING: &str = "Updating";
pub(crate) const TERMINATING: &str = "Terminating";
pub(crate) const TERMINATED: &str = "Terminated";
pub(crate) const RESOURCE_STATES: [&str; 6] =
    [CREATING, OK, ERRED, UPDATING, TERMINATING, TERMINATED];

pub(crate) const API_KEY_STATES: [&str; 7] = [
    "Creating", "OK", "Updating", "Erred", "Paused", "Deleting", "Deleted",
];

pub(crate) const BILLING_TYPES: [&str; 5] = ["fixed", "usage", "limit", "one", "few"];

pub(crate) const OFFERING_TYPE: &str = "Marketplace.Slurm";

/// Who made the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Principal {
    /// The agent's service account: offering manager of every offering, not staff.
    Agent,
    Staff,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: i64,
    pub uuid: Uuid,
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub is_staff: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Customer {
    pub uuid: Uuid,
    pub name: String,
    pub slug: String,
    /// The customer's service-provider record (`/marketplace-service-providers/`).
    pub service_provider: Uuid,
}

#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub uuid: Uuid,
    pub name: String,
    pub slug: String,
    pub customer: Uuid,
}

#[derive(Debug, Clone)]
pub(crate) struct Component {
    pub uuid: Uuid,
    pub type_: String,
    pub name: String,
    pub description: String,
    pub billing_type: String,
    pub measured_unit: String,
    pub unit_factor: i64,
    pub limit_period: Option<String>,
    pub limit_amount: Option<i64>,
    pub article_code: String,
    pub min_value: Option<i64>,
    pub max_value: Option<i64>,
    pub max_available_limit: Option<i64>,
    pub default_limit: Option<i64>,
    pub is_boolean: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Offering {
    pub uuid: Uuid,
    pub name: String,
    pub slug: String,
    pub customer: Uuid,
    pub components: Vec<Component>,
    pub plugin_options: Value,
    pub plan: Uuid,
    pub category: Uuid,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub uuid: Uuid,
    pub name: String,
    pub slug: String,
    pub state: String,
    pub backend_id: String,
    pub offering: Uuid,
    pub project: Uuid,
    pub plan: Uuid,
    pub attributes: Value,
    pub limits: Value,
    pub current_usages: Map<String, Value>,
    pub backend_metadata: Value,
    pub endpoints: Vec<Value>,
    pub options: Value,
    pub report: Value,
    pub downscaled: bool,
    pub paused: bool,
    pub restrict_member_access: bool,
    pub error_message: String,
    pub error_traceback: String,
    pub last_sync: DateTime<Utc>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    /// Test-hook overrides of rendered fields that have no typed slot.
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub uuid: Uuid,
    pub type_: String,
    pub state: String,
    pub offering: Uuid,
    pub resource: Uuid,
    pub project: Uuid,
    pub plan: Uuid,
    pub resource_name: String,
    pub attributes: Value,
    pub limits: Value,
    pub backend_id: String,
    pub error_message: String,
    pub error_traceback: String,
    pub error_updated_at: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub consumer_reviewed_at: Option<DateTime<Utc>>,
    pub provider_reviewed_at: Option<DateTime<Utc>>,
    pub provider_reviewed_by: Option<String>,
    pub provider_rejection_comment: Option<String>,
    pub termination_comment: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct ApiKey {
    pub uuid: Uuid,
    pub resource: Uuid,
    pub client_id: String,
    pub secret: String,
    pub state: String,
    pub error_message: String,
    pub pending_action: String,
    pub issued_at: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Usage {
    pub uuid: Uuid,
    pub resource: Uuid,
    pub component_type: String,
    pub billing_period: NaiveDate,
    /// Hundredths (the API's 2 decimal places).
    pub cents: i128,
    pub date: DateTime<Utc>,
    pub recurring: bool,
    pub description: String,
    pub modified_by: i64,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub uuid: Uuid,
    pub offering: Uuid,
    pub created_by: Uuid,
    pub name: String,
    pub version: String,
    pub dependencies: Value,
    pub config_file_path: String,
    pub config_file_content: String,
    pub last_restarted: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub uuid: Uuid,
    pub identity: Uuid,
    pub name: String,
    pub mode: String,
    pub statistics: Value,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Processor {
    pub uuid: Uuid,
    pub service: Uuid,
    pub name: String,
    pub backend_type: String,
    pub backend_version: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct BearerToken {
    pub token: String,
    pub expires: DateTime<Utc>,
}

pub(crate) struct State {
    /// `http://127.0.0.1:PORT`, used for absolute URLs outside a request.
    pub origin: String,
    pub provider_token: String,
    pub staff_token: String,
    pub agent: User,
    pub staff: User,
    pub consumer: User,
    pub clock: Option<DateTime<Utc>>,
    /// Component-usage lists come in a different order on every request (Waldur orders them
    /// by a key that is not unique, so paging them is not stable): counts the requests.
    pub unstable_usage_order: Option<std::sync::atomic::AtomicU64>,
    pub customers: Vec<Customer>,
    pub projects: Vec<Project>,
    pub offerings: Vec<Offering>,
    /// Push through `add_resource`, which keeps `resource_pos` right.
    pub resources: Vec<Resource>,
    /// Position of each resource in `resources`: lookups stay O(1) at 100,000 resources.
    resource_pos: std::collections::HashMap<Uuid, usize>,
    pub orders: Vec<Order>,
    pub api_keys: Vec<ApiKey>,
    /// Push through `add_usage`, which keeps `usages_of` right.
    pub usages: Vec<Usage>,
    /// Positions in `usages` per resource, in insertion order.
    usages_of: std::collections::HashMap<Uuid, Vec<usize>>,
    pub identities: Vec<Identity>,
    pub services: Vec<Service>,
    pub processors: Vec<Processor>,
    pub oidc_clients: Vec<(String, String)>,
    pub bearer_tokens: Vec<BearerToken>,
    pub calls: Vec<CallRecord>,
    /// When the simulator started (`CallRecord::at_us` counts from here).
    pub started: std::time::Instant,
    pub fail_remaining: usize,
    pub fail_status: u16,
    /// Path-matched faults (`WaldurSim::inject`), first match wins.
    pub faults: Vec<super::FaultRule>,
    pub down: bool,
    /// Added before every `/api/` request is handled (`WaldurSim::set_latency`).
    pub latency: std::time::Duration,
    /// Event subscriptions, routed messages and the publisher (`events.rs`).
    pub events: super::events::Events,
}

impl State {
    pub fn new(
        origin: String,
        provider_token: String,
        staff_token: String,
        agent_uuid: Uuid,
    ) -> Self {
        State {
            origin,
            provider_token,
            staff_token,
            agent: User {
                id: 17,
                uuid: agent_uuid,
                username: "site-agent".to_string(),
                full_name: "Site Agent".to_string(),
                email: "site-agent@provider.test".to_string(),
                is_staff: false,
            },
            staff: User {
                id: 1,
                uuid: Uuid::new_v4(),
                username: "staff".to_string(),
                full_name: "Staff Operator".to_string(),
                email: "staff@waldur.test".to_string(),
                is_staff: true,
            },
            consumer: User {
                id: 42,
                uuid: Uuid::new_v4(),
                username: "alice".to_string(),
                full_name: "Alice Consumer".to_string(),
                email: "alice@consumer.test".to_string(),
                is_staff: false,
            },
            clock: None,
            unstable_usage_order: None,
            customers: Vec::new(),
            projects: Vec::new(),
            offerings: Vec::new(),
            resources: Vec::new(),
            resource_pos: Default::default(),
            orders: Vec::new(),
            api_keys: Vec::new(),
            usages: Vec::new(),
            usages_of: Default::default(),
            identities: Vec::new(),
            services: Vec::new(),
            processors: Vec::new(),
            oidc_clients: Vec::new(),
            bearer_tokens: Vec::new(),
            calls: Vec::new(),
            started: std::time::Instant::now(),
            fail_remaining: 0,
            fail_status: 500,
            faults: Vec::new(),
            down: false,
            latency: std::time::Duration::ZERO,
            events: Default::default(),
        }
    }

    /// The sim clock: fixed once `set_now` was called, else real time.
    pub fn now(&self) -> DateTime<Utc> {
        truncate_micros(self.clock.unwrap_or_else(Utc::now))
    }

    pub fn user(&self, who: Principal) -> &User {
        match who {
            Principal::Agent => &self.agent,
            Principal::Staff => &self.staff,
        }
    }

    pub fn customer(&self, u: &Uuid) -> Option<&Customer> {
        self.customers.iter().find(|c| &c.uuid == u)
    }

    pub fn project(&self, u: &Uuid) -> Option<&Project> {
        self.projects.iter().find(|p| &p.uuid == u)
    }

    pub fn offering(&self, u: &Uuid) -> Option<&Offering> {
        self.offerings.iter().find(|o| &o.uuid == u)
    }

    pub fn offering_idx(&self, u: &Uuid) -> Option<usize> {
        self.offerings.iter().position(|o| &o.uuid == u)
    }

    pub fn resource(&self, u: &Uuid) -> Option<&Resource> {
        self.resource_idx(u).map(|i| &self.resources[i])
    }

    pub fn resource_idx(&self, u: &Uuid) -> Option<usize> {
        self.resource_pos.get(u).copied()
    }

    pub fn add_resource(&mut self, r: Resource) {
        self.resource_pos.insert(r.uuid, self.resources.len());
        self.resources.push(r);
    }

    /// The resource's usage rows, oldest first.
    pub fn usages_of(&self, resource: Uuid) -> impl Iterator<Item = &Usage> {
        self.usages_of
            .get(&resource)
            .into_iter()
            .flatten()
            .map(|&i| &self.usages[i])
    }

    /// The resource's row for that component and period.
    pub fn usage_row_mut(
        &mut self,
        resource: &Uuid,
        component_type: &str,
        period: NaiveDate,
    ) -> Option<&mut Usage> {
        let i = self.usages_of.get(resource)?.iter().copied().find(|&i| {
            let u = &self.usages[i];
            u.component_type == component_type && u.billing_period == period
        })?;
        Some(&mut self.usages[i])
    }

    pub fn add_usage(&mut self, u: Usage) {
        self.usages_of
            .entry(u.resource)
            .or_default()
            .push(self.usages.len());
        self.usages.push(u);
    }

    pub fn order_idx(&self, u: &Uuid) -> Option<usize> {
        self.orders.iter().position(|o| &o.uuid == u)
    }

    pub fn api_key_idx(&self, u: &Uuid) -> Option<usize> {
        self.api_keys.iter().position(|k| &k.uuid == u)
    }

    /// Component of the resource's offering with that type.
    pub fn component(&self, offering: &Uuid, type_: &str) -> Option<&Component> {
        self.offering(offering)?
            .components
            .iter()
            .find(|c| c.type_ == type_)
    }

    /// Sets a resource's state and bumps `modified`.
    pub fn set_resource_state(&mut self, resource: &Uuid, state: &str) {
        let now = self.now();
        if let Some(i) = self.resource_idx(resource) {
            let r = &mut self.resources[i];
            r.state = state.to_string();
            r.modified = now;
        }
    }

    /// Customer with this slug, created on first use (name = slug).
    pub fn customer_by_slug(&mut self, slug: &str) -> Uuid {
        if let Some(c) = self.customers.iter().find(|c| c.slug == slug) {
            return c.uuid;
        }
        let uuid = Uuid::new_v4();
        self.customers.push(Customer {
            uuid,
            name: slug.to_string(),
            slug: slug.to_string(),
            service_provider: Uuid::new_v4(),
        });
        uuid
    }

    /// Customer with this uuid, created on first use.
    pub fn customer_by_uuid(&mut self, uuid: Uuid, name: &str) -> Uuid {
        if self.customer(&uuid).is_none() {
            let mut slug = super::util::slugify(name);
            if slug.is_empty() {
                slug = "provider".to_string();
            }
            self.customers.push(Customer {
                uuid,
                name: name.to_string(),
                slug,
                service_provider: Uuid::new_v4(),
            });
        }
        uuid
    }

    /// Project with this slug (created on first use under `customer_slug`).
    pub fn project_by_slug(&mut self, slug: &str, customer_slug: &str) -> Result<Uuid, String> {
        if let Some(p) = self.projects.iter().find(|p| p.slug == slug) {
            let owner = self.customer(&p.customer).map(|c| c.slug.clone());
            if owner.as_deref() != Some(customer_slug) {
                return Err(format!(
                    "project {slug:?} belongs to customer {:?}, not {customer_slug:?}",
                    owner.unwrap_or_default()
                ));
            }
            return Ok(p.uuid);
        }
        let customer = self.customer_by_slug(customer_slug);
        let uuid = Uuid::new_v4();
        self.projects.push(Project {
            uuid,
            name: slug.to_string(),
            slug: slug.to_string(),
            customer,
        });
        Ok(uuid)
    }
}

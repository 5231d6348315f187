//! The endpoints: orders, provider resources, resource API keys, offerings, users.

use super::OrderState;
use super::WaldurId;
use super::client::{Query, WaldurClient};
use super::error::WaldurError;
use super::types::{ApiKeyStatus, Me, Order, ProviderOffering, Resource, ResourceRef};
use serde_json::{Value, json};

fn q(pairs: &[(&str, &str)]) -> Query {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One query parameter given several times (`state=a&state=b`, `field=x&field=y`).
fn repeated<T: ToString>(key: &str, values: &[T]) -> Query {
    values
        .iter()
        .map(|v| (key.to_string(), v.to_string()))
        .collect()
}

impl WaldurClient {
    pub async fn me(&self) -> Result<Me, WaldurError> {
        self.get("users/me", "/api/users/me/", &Vec::new()).await
    }

    pub async fn offering(&self, offering_uuid: &str) -> Result<ProviderOffering, WaldurError> {
        let path = format!(
            "/api/marketplace-provider-offerings/{}/",
            WaldurId::new(offering_uuid)
        );
        self.get("get offering", &path, &Vec::new()).await
    }

    /// Orders of an offering in the given states, optionally not modified since `modified_before`.
    pub async fn list_orders(
        &self,
        offering_uuid: &str,
        states: &[OrderState],
        modified_before: Option<&str>,
    ) -> Result<Vec<Order>, WaldurError> {
        let mut query = q(&[("offering_uuid", &WaldurId::new(offering_uuid))]);
        query.extend(repeated("state", states));
        if let Some(m) = modified_before {
            query.push(("modified_before".into(), m.into()));
        }
        self.list("list orders", "/api/marketplace-orders/", &query)
            .await
    }

    pub async fn get_order(&self, order_uuid: &str) -> Result<Order, WaldurError> {
        self.get(
            "get order",
            &format!("/api/marketplace-orders/{}/", WaldurId::new(order_uuid)),
            &Vec::new(),
        )
        .await
    }

    async fn order_action(
        &self,
        order_uuid: &str,
        action: &str,
        body: Value,
    ) -> Result<Value, WaldurError> {
        let path = format!(
            "/api/marketplace-orders/{}/{action}/",
            WaldurId::new(order_uuid)
        );
        self.post(action, &path, &body).await
    }

    /// An order transition that tolerates its own lost answer; returns the order's state
    /// afterwards. A 200 means the transition happened (Waldur guards each with its source
    /// states, answering 409 otherwise), so the state is `target[0]` without a read. When
    /// Waldur refuses it as a wrong-state 409 (typically a retry after the first attempt
    /// committed but its answer was lost, or an earlier process that crashed right after the
    /// call), the order is read again and the call counts as done if it already is in
    /// `target`.
    async fn order_transition(
        &self,
        order_uuid: &str,
        action: &str,
        body: Value,
        target: &[OrderState],
    ) -> Result<OrderState, WaldurError> {
        match self.order_action(order_uuid, action, body).await {
            Ok(_) => Ok(target[0].clone()),
            Err(e) if e.is_wrong_state() => {
                let order = self.get_order(order_uuid).await?;
                if target.contains(&order.state) {
                    tracing::info!(order = %WaldurId::new(order_uuid), action, state = %order.state, "Waldur already has the order where this call would put it");
                    Ok(order.state)
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Approves; an order already approved (executing, or done since) is fine. Returns the
    /// order's state after the approval (`Executing` on a 200: site-agent offerings' order
    /// processors do nothing on approval).
    pub async fn approve_order(&self, order_uuid: &str) -> Result<OrderState, WaldurError> {
        self.order_transition(
            order_uuid,
            "approve_by_provider",
            json!({}),
            &[OrderState::Executing, OrderState::Done],
        )
        .await
    }

    /// Completes an executing order; 409 (with the order read) when it is no longer
    /// executing and not done.
    pub async fn set_order_done(&self, order_uuid: &str) -> Result<(), WaldurError> {
        self.order_transition(order_uuid, "set_state_done", json!({}), &[OrderState::Done])
            .await
            .map(drop)
    }

    pub async fn set_order_erred(
        &self,
        order_uuid: &str,
        message: &str,
        traceback: &str,
    ) -> Result<(), WaldurError> {
        self.order_transition(
            order_uuid,
            "set_state_erred",
            json!({ "error_message": message, "error_traceback": traceback }),
            &[OrderState::Erred],
        )
        .await
        .map(drop)
    }

    pub async fn get_resource(&self, resource_uuid: &str) -> Result<Resource, WaldurError> {
        let path = format!(
            "/api/marketplace-provider-resources/{}/",
            WaldurId::new(resource_uuid)
        );
        self.get("get resource", &path, &Vec::new()).await
    }

    async fn resource_action(
        &self,
        resource_uuid: &str,
        action: &str,
        body: Value,
    ) -> Result<(), WaldurError> {
        let path = format!(
            "/api/marketplace-provider-resources/{}/{action}/",
            WaldurId::new(resource_uuid)
        );
        self.post(action, &path, &body).await.map(|_| ())
    }

    pub async fn set_resource_backend_id(
        &self,
        resource_uuid: &str,
        backend_id: &str,
    ) -> Result<(), WaldurError> {
        self.resource_action(
            resource_uuid,
            "set_backend_id",
            json!({ "backend_id": backend_id }),
        )
        .await
    }

    pub async fn set_resource_backend_metadata(
        &self,
        resource_uuid: &str,
        metadata: &serde_json::Map<String, Value>,
    ) -> Result<(), WaldurError> {
        self.resource_action(
            resource_uuid,
            "set_backend_metadata",
            json!({ "backend_metadata": metadata }),
        )
        .await
    }

    pub async fn set_resource_endpoints(
        &self,
        resource_uuid: &str,
        name: &str,
        url: &str,
    ) -> Result<(), WaldurError> {
        self.resource_action(
            resource_uuid,
            "set_endpoints",
            json!({ "endpoints": [{ "name": name, "url": url }] }),
        )
        .await
    }

    /// One key as Waldur holds it now (no secret).
    pub async fn get_api_key(&self, key_uuid: &str) -> Result<ApiKeyStatus, WaldurError> {
        let path = format!(
            "/api/marketplace-resource-api-keys/{}/",
            WaldurId::new(key_uuid)
        );
        self.get("get api key", &path, &Vec::new()).await
    }

    /// Keys Waldur holds for a resource (no secrets).
    pub async fn list_api_keys(
        &self,
        resource_uuid: &str,
    ) -> Result<Vec<ApiKeyStatus>, WaldurError> {
        self.list(
            "list api keys",
            "/api/marketplace-resource-api-keys/",
            &q(&[("resource_uuid", &WaldurId::new(resource_uuid))]),
        )
        .await
    }

    /// Reports a key that is already live on the backend.
    pub async fn report_api_key(
        &self,
        resource_uuid: &str,
        client_id: &str,
        api_key: &str,
    ) -> Result<(), WaldurError> {
        let body = json!({ "resource": WaldurId::new(resource_uuid), "client_id": client_id, "api_key": api_key });
        self.post(
            "report api key",
            "/api/marketplace-resource-api-keys/report_created/",
            &body,
        )
        .await
        .map(|_| ())
    }
}

impl WaldurClient {
    /// Resources of an offering in the given states.
    pub async fn list_resources(
        &self,
        offering_uuid: &str,
        states: &[&str],
    ) -> Result<Vec<Resource>, WaldurError> {
        let mut query = q(&[("offering_uuid", &WaldurId::new(offering_uuid))]);
        query.extend(repeated("state", states));
        self.list(
            "list resources",
            "/api/marketplace-provider-resources/",
            &query,
        )
        .await
    }

    /// As [`Self::list_resources`], only the fields a usage pass needs (Waldur is asked for
    /// just those with `field=`; a server that sends everything is read the same).
    pub async fn list_resource_refs(
        &self,
        offering_uuid: &str,
        states: &[&str],
    ) -> Result<Vec<ResourceRef>, WaldurError> {
        let mut query = q(&[("offering_uuid", &WaldurId::new(offering_uuid))]);
        query.extend(repeated("state", states));
        query.extend(repeated("field", &["uuid", "state", "backend_id"]));
        self.list(
            "list resources",
            "/api/marketplace-provider-resources/",
            &query,
        )
        .await
    }

    /// Keys of an offering in `Updating` (rotation requested), not modified since `modified_before`.
    pub async fn list_keys_updating(
        &self,
        offering_uuid: &str,
        modified_before: &str,
    ) -> Result<Vec<ApiKeyStatus>, WaldurError> {
        let query = q(&[
            ("offering_uuid", &WaldurId::new(offering_uuid)),
            ("state", "Updating"),
            ("modified_before", modified_before),
        ]);
        self.list(
            "list keys to rotate",
            "/api/marketplace-resource-api-keys/",
            &query,
        )
        .await
    }

    /// Records a rotated key (the access key changes too, so `client_id` is sent).
    pub async fn set_api_key(
        &self,
        key_uuid: &str,
        client_id: &str,
        api_key: &str,
    ) -> Result<(), WaldurError> {
        let path = format!(
            "/api/marketplace-resource-api-keys/{}/set_key/",
            WaldurId::new(key_uuid)
        );
        self.post(
            "set api key",
            &path,
            &json!({ "api_key": api_key, "client_id": client_id }),
        )
        .await
        .map(|_| ())
    }

    pub async fn set_api_key_erred(
        &self,
        key_uuid: &str,
        message: &str,
    ) -> Result<(), WaldurError> {
        let path = format!(
            "/api/marketplace-resource-api-keys/{}/set_erred/",
            WaldurId::new(key_uuid)
        );
        self.post(
            "set api key erred",
            &path,
            &json!({ "error_message": message }),
        )
        .await
        .map(|_| ())
    }
}

/// One component-usage row of a resource and billing period.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ComponentUsage {
    #[serde(rename = "type")]
    pub component_type: String,
    /// A decimal string (numbers are accepted too).
    pub usage: Value,
}

/// A component usage with the resource it is of (an offering-wide listing).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ResourceUsage {
    pub resource_uuid: WaldurId,
    #[serde(flatten)]
    pub usage: ComponentUsage,
}

impl ComponentUsage {
    pub fn usage_text(&self) -> String {
        match &self.usage {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

impl WaldurClient {
    /// Usage rows Waldur holds for a resource in the billing period starting `YYYY-MM-01`.
    pub async fn list_component_usages(
        &self,
        resource_uuid: &str,
        billing_period: &str,
    ) -> Result<Vec<ComponentUsage>, WaldurError> {
        let query = q(&[
            ("resource_uuid", &WaldurId::new(resource_uuid)),
            ("billing_period", billing_period),
        ]);
        self.list(
            "list component usages",
            "/api/marketplace-component-usages/",
            &query,
        )
        .await
    }

    /// Every component usage of an offering's resources in one billing period (`field=`
    /// keeps each row to what the comparison needs): one paged read instead of one per
    /// resource when a pass delivers many figures.
    ///
    /// Waldur pages this list by page number over a sort order that is not unique, so rows
    /// can shift between pages while it is read: the list is refused unless it holds as many
    /// rows as Waldur announced and no (resource, component) twice — a figure missed here
    /// would be taken for one Waldur does not hold.
    pub async fn list_offering_usages(
        &self,
        offering_uuid: &str,
        billing_period: &str,
    ) -> Result<Vec<ResourceUsage>, WaldurError> {
        let mut query = q(&[
            ("offering_uuid", &WaldurId::new(offering_uuid)),
            ("billing_period", billing_period),
        ]);
        query.extend(repeated("field", &["resource_uuid", "type", "usage"]));
        let (rows, total): (Vec<ResourceUsage>, _) = self
            .list_counted(
                "list offering usages",
                "/api/marketplace-component-usages/",
                &query,
            )
            .await?;
        let distinct: std::collections::HashSet<(String, &str)> = rows
            .iter()
            .map(|u| (u.resource_uuid.to_string(), u.usage.component_type.as_str()))
            .collect();
        if total.is_some_and(|t| t as usize != rows.len()) || distinct.len() != rows.len() {
            return Err(WaldurError::decode(
                "list offering usages",
                format!(
                    "the list moved while it was read ({} rows, {} distinct, {total:?} announced)",
                    rows.len(),
                    distinct.len()
                ),
            ));
        }
        Ok(rows)
    }

    /// Sets absolute period totals (`amount` as `%.2f` text) for a resource.
    pub async fn set_usage(
        &self,
        resource_uuid: &str,
        date: &str,
        usages: &[(String, String)],
    ) -> Result<(), WaldurError> {
        let usages: Vec<Value> = usages
            .iter()
            .map(|(t, a)| json!({ "type": t, "amount": a, "recurring": false }))
            .collect();
        let body =
            json!({ "resource": WaldurId::new(resource_uuid), "date": date, "usages": usages });
        self.post(
            "set usage",
            "/api/marketplace-component-usages/set_usage/",
            &body,
        )
        .await
        .map(|_| ())
    }
}

impl WaldurClient {
    /// Creates (`uuid` absent) or updates an offering component.
    pub async fn put_offering_component(
        &self,
        offering_uuid: &str,
        body: &Value,
    ) -> Result<(), WaldurError> {
        let action = if body.get("uuid").is_some() {
            "update_offering_component"
        } else {
            "create_offering_component"
        };
        let path = format!(
            "/api/marketplace-provider-offerings/{}/{action}/",
            WaldurId::new(offering_uuid)
        );
        self.post(action, &path, body).await.map(|_| ())
    }
}

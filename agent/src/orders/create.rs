//! Create and Restore: ensure the user (create or adopt), quotas, backend id, metadata, keys.

use super::input::QuotaRequest;
use super::{OrderProcessor, StepError};
use crate::store::JournalStep;
use crate::waldur::{Order, OrderType, Resource};
use site_agent_sdk::naming::NameParts;
use site_agent_sdk::{Ensured, Tenant, UserSpec};

impl OrderProcessor {
    pub(super) async fn order_resource(&self, order: &Order) -> Result<Resource, StepError> {
        let uuid = order
            .marketplace_resource_uuid
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| StepError::invalid("the order names no marketplace resource"))?;
        Ok(self.waldur.get_resource(uuid).await?)
    }

    pub(super) async fn create(&self, order: &Order, quota: QuotaRequest) -> Result<(), StepError> {
        let order_uuid = order.uuid.clone();
        let resource = self.order_resource(order).await?;
        let resource_uuid = resource.uuid.clone();
        // A recorded backend id wins (restore, or a retry after set_backend_id).
        let uid = match resource.backend_id() {
            Some(id) => id.to_string(),
            None => {
                let parts = NameParts {
                    slug: resource.slug.as_deref(),
                    customer_slug: resource
                        .customer_slug
                        .as_deref()
                        .or(order.customer_slug.as_deref()),
                    project_slug: resource
                        .project_slug
                        .as_deref()
                        .or(order.project_slug.as_deref()),
                    resource_uuid: &resource.uuid,
                };
                self.backend.user_id_for(&parts).map_err(|e| {
                    StepError::invalid(format!(
                        "resource {:?} cannot name an S3 user: {e}",
                        resource.name
                    ))
                })?
            }
        };
        // The ceilings first: an order that cannot be fulfilled must not leave a user behind.
        // A restore comes back with the ceilings the resource had, each one the order names
        // taking precedence.
        let quota = if order.order_type == OrderType::Restore {
            let current = match super::current_ceilings(&self.store, &resource).await {
                Ok(c) => c,
                Err(e) if e.waits() => return Err(e),
                Err(e) if quota.storage_gb.is_none() => return Err(e),
                // Waldur's record is unreadable, but the order names what matters.
                Err(_) => Default::default(),
            };
            let q = quota.merged_over(current);
            super::input::require_storage_ceiling(&q).map_err(StepError::invalid)?;
            q
        } else {
            quota
        };
        let quota_spec =
            super::input::quota_spec(&self.offering, quota).map_err(StepError::invalid)?;

        let tenant = Tenant::new(&uid, &resource_uuid)?;
        let spec = UserSpec {
            uid: uid.clone(),
            display_name: resource.name.clone(),
            resource_uuid: tenant.resource_uuid.clone(),
        };
        let ensured = self.backend.ensure_user(&spec).await?;
        self.store
            .journal_record(&order_uuid, JournalStep::User, &uid)
            .await?;
        tracing::info!(uid = %uid, adopted = (ensured == Ensured::Adopted), "S3 user ready");
        if order.order_type == OrderType::Restore && ensured == Ensured::Adopted {
            // A restored resource comes back usable, even if it was suspended when it went.
            self.backend.set_suspended(&tenant, false).await?;
        }

        let applied = self.backend.apply_quota(&tenant, &quota_spec).await?;
        self.store
            .set_ceilings(&resource_uuid, quota.into())
            .await?;
        self.store
            .journal_record(&order_uuid, JournalStep::Quota, "")
            .await?;

        if resource.backend_id() != Some(uid.as_str()) {
            self.waldur
                .set_resource_backend_id(&resource_uuid, &uid)
                .await?;
        }
        self.store
            .journal_record(&order_uuid, JournalStep::BackendId, &uid)
            .await?;

        self.publish_metadata(&resource, &tenant, Some(&applied))
            .await?;
        // Every user this order ensured is fresh: created now, or half-made by an earlier
        // attempt of a Create or Restore (its keys, if any, are the agent's own).
        self.provision_keys(&resource_uuid, &tenant, true).await?;
        Ok(())
    }
}

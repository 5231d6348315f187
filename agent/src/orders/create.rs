//! Create and Restore: ensure the user (create or adopt), quotas, backend id, metadata, keys.

use super::input::QuotaRequest;
use super::{OrderProcessor, StepError};
use crate::store::JournalStep;
use crate::waldur::{Order, OrderType, Resource, WaldurId};
use site_agent_sdk::naming::NameParts;
use site_agent_sdk::{Ensured, UserSpec};

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
        // Bucket options too are checked before anything is made (the backend's capability
        // layer refuses what it cannot honour). A restore comes back with the Create's.
        let mut options = super::input::order_options(order).map_err(StepError::invalid)?;
        if order.order_type == OrderType::Restore {
            let original =
                super::input::bucket_options(&[resource.attributes.as_ref()]).map_err(|e| {
                    StepError::invalid(format!("the resource's recorded options are invalid: {e}"))
                })?;
            options = options.merged_over(original);
        }

        let tenant = self.store.tenant(&uid, &resource_uuid).await?;
        let tenant = self.half_made_legacy_user(tenant, &resource_uuid).await?;
        let spec = UserSpec {
            uid: uid.clone(),
            display_name: resource.name.clone(),
            resource_uuid: tenant.resource_uuid.clone(),
            recorded: tenant.recorded,
            options,
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

        // The options that can change later (encryption went with the bucket).
        let in_force = self.backend.apply_options(&tenant, &options).await?;
        self.publish_metadata(&resource, &tenant, Some(&applied), Some(&in_force))
            .await?;
        // Every user this order ensured is fresh: created now, or half-made by an earlier
        // attempt of a Create or Restore (its keys, if any, are the agent's own).
        self.provision_keys(&resource_uuid, &tenant, true).await?;
        Ok(())
    }

    /// A Create an older plugin started but never finished left its user (named for
    /// this resource: the name holds the first 8 digits of its UUID, and no stamp of ours).
    /// Taking it over must not cost its customer a key: its keys are reported to Waldur,
    /// never pruned. Without `adopt_legacy_users` the order errs saying what to do.
    async fn half_made_legacy_user(
        &self,
        tenant: site_agent_sdk::Tenant,
        resource: &WaldurId,
    ) -> Result<site_agent_sdk::Tenant, StepError> {
        if tenant.recorded
            || !tenant
                .uid
                .contains(&resource.as_str()[..8.min(resource.len())])
        {
            return Ok(tenant);
        }
        let Some(user) = self.backend.user(&tenant.uid).await? else {
            return Ok(tenant);
        };
        // A bare user (no stamp, no key) may be an interrupted create of the agent's own:
        // the usual claim rules decide.
        let legacy = match user.stamp.as_deref() {
            Some(s) => !site_agent_sdk::is_agent_stamp(s),
            None => !user.access_keys.is_empty(),
        };
        if !legacy {
            return Ok(tenant);
        }
        if !self.offering.adopt_legacy_users {
            return Err(StepError::invalid(format!(
                "S3 user {:?} already exists without this agent's ownership stamp; it looks like the user an older plugin made for this resource but never finished. Run `site-agent adopt` for the offering, or set `adopt_legacy_users: true` on it to let this order take the user over",
                tenant.uid
            )));
        }
        // The keys first, with the record held in memory only: the record is what lets every
        // later step (and a retry) treat the user as this resource's, so it is written once
        // nothing of the user's can be lost any more.
        let tenant = tenant.with_record(true);
        let keys = match self.backend.existing_keys(&tenant).await {
            Ok(k) => k,
            Err(e) if e.kind() == site_agent_sdk::ErrorKind::Unsupported => {
                return Err(StepError::invalid(format!(
                    "S3 user {:?} looks like a user an older plugin left, but its keys cannot be read back on this backend ({e}); it is not taken over",
                    tenant.uid
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let held: Vec<String> = self
            .waldur
            .list_api_keys(resource)
            .await?
            .into_iter()
            .filter_map(|k| k.client_id)
            .collect();
        for k in keys {
            if !held.contains(&k.access_key) {
                let secret = secrecy::ExposeSecret::expose_secret(&k.secret_key);
                self.waldur
                    .report_api_key(resource, &k.access_key, secret)
                    .await?;
                tracing::info!(uid = %tenant.uid, access_key = %k.access_key, "kept the legacy user's key: reported to Waldur");
            }
        }
        self.store
            .record_adoption(resource, &tenant.uid, true)
            .await?;
        tracing::info!(uid = %tenant.uid, "took over the user an older plugin's unfinished Create left");
        Ok(tenant)
    }
}

//! A resource's last figures, taken when it is terminated: Waldur accepts usage only while
//! the resource exists (`Terminating` included), so the usage since the last report is
//! measured and sent before the user is deleted.

use super::period::Period;
use super::reporter::UsageReporter;
use crate::store::usage::{KnownResource, OutboxState, Sample};

/// Why the last figures could not be sent yet (a transient problem: try again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotDelivered(pub String);

impl UsageReporter {
    /// One more sample, the current period recomputed up to now, and every undelivered figure
    /// of the resource sent. A figure Waldur refuses (closed month without a staff token, ...)
    /// does not hold up the termination; an unreachable Waldur does.
    pub async fn final_report(&self, resource: &str, uid: &str) -> Result<(), NotDelivered> {
        let _one_at_a_time = self.gate.lock().await;
        let now = self.clock.now();
        let known = KnownResource {
            resource_uuid: resource.to_string(),
            uid: uid.to_string(),
            state: "Terminating".into(),
        };
        let store_err = |e: crate::store::StoreError| NotDelivered(e.to_string());
        self.store
            .upsert_known_resource(&self.offering_key(), known.clone(), now.timestamp())
            .await
            .map_err(store_err)?;
        let tenant = self
            .store
            .tenant(uid, resource)
            .await
            .map_err(|e| NotDelivered(e.to_string()))?;
        match self.backend.usage(&tenant).await {
            Ok(u) => self
                .store
                .insert_samples(
                    vec![super::sampler::sample_of(
                        resource.to_string(),
                        &u,
                        now.timestamp(),
                    )],
                    now.timestamp(),
                )
                .await
                .map_err(store_err)?,
            // Not measurable now: the figures of the samples taken so far are sent.
            Err(e) => {
                tracing::warn!(resource, uid, error = %e, "no last usage sample before termination")
            }
        }
        let period = Period::containing(now, self.tz);
        let hold = self.sampling_interval(period.start(self.tz));
        let rows = self
            .resource_figures(&known, period, now.timestamp(), hold, false)
            .await;
        self.store
            .outbox_put(rows, now.timestamp())
            .await
            .map_err(store_err)?;
        let stats = self.deliver_for(Some(resource)).await;
        let still_pending = self
            .store
            .outbox_pending()
            .await
            .map_err(store_err)?
            .into_iter()
            .any(|r| r.resource_uuid == resource && r.state == OutboxState::Pending);
        if still_pending {
            return Err(NotDelivered(format!(
                "the resource's last usage figures could not be sent to Waldur yet ({} failed)",
                stats.failed
            )));
        }
        tracing::info!(
            resource,
            sent = stats.sent,
            "last usage figures sent before termination"
        );
        Ok(())
    }
}

impl UsageReporter {
    /// The user and its data are gone: from now on the resource stores nothing. Without this
    /// zero, the last reading would hold until the next one (a restore, months later).
    pub async fn record_gone(&self, resource: &str) {
        let _one_at_a_time = self.gate.lock().await;
        let sample = Sample {
            resource_uuid: resource.to_string(),
            sampled_at: self.clock.now().timestamp(),
            bytes: 0,
            objects: 0,
        };
        if let Err(e) = self.store.append_sample(sample).await {
            tracing::error!(resource, error = %e, "cannot record the deleted user's zero usage");
        }
    }
}

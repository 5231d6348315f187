//! Sampling: read every active resource's usage from the backend, with bounded concurrency,
//! into SQLite. A resource whose usage cannot be read gets no sample (never a zero).

use super::reporter::UsageReporter;
use crate::store::usage::{KnownResource, Sample};
use futures_util::StreamExt;

/// Resource states in which Waldur accepts usage.
const BILLED_STATES: [&str; 4] = ["OK", "Erred", "Updating", "Terminating"];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleStats {
    pub sampled: usize,
    pub failed: usize,
}

impl UsageReporter {
    /// Refreshes the resource list from Waldur; when Waldur is away the stored list is used,
    /// so an outage never stops sampling.
    pub async fn known_resources(&self) -> Vec<KnownResource> {
        let offering = self.offering_key();
        match self
            .waldur
            .list_resource_refs(&offering, &BILLED_STATES)
            .await
        {
            Ok(list) => {
                let known: Vec<KnownResource> = list
                    .into_iter()
                    .filter_map(|r| {
                        let uid = r.backend_id()?.to_string();
                        site_agent_sdk::validate_identifier("S3 user id", &uid).ok()?;
                        Some(KnownResource {
                            resource_uuid: r.uuid.into(),
                            uid,
                            state: r.state,
                        })
                    })
                    .collect();
                if let Err(e) = self
                    .store
                    .set_known_resources(&offering, known.clone(), self.clock.now().timestamp())
                    .await
                {
                    tracing::error!(error = %e, "cannot store the resource list");
                }
                known
            }
            Err(e) => {
                tracing::warn!(offering = %self.offering.name, error = %e, "Waldur unreachable; sampling the resources known from before");
                self.store
                    .known_resources(&offering)
                    .await
                    .unwrap_or_default()
            }
        }
    }

    pub async fn sample_cycle(&self) -> SampleStats {
        let _one_at_a_time = self.gate.lock().await;
        self.sample_unlocked().await
    }

    /// A sampling pass; the caller holds the gate.
    pub(super) async fn sample_unlocked(&self) -> SampleStats {
        let s = self.sample_pass().await;
        crate::metrics::get().samples(&self.offering.name, s.sampled, s.failed);
        s
    }

    async fn sample_pass(&self) -> SampleStats {
        let now = self.clock.now();
        let resources = self.known_resources().await;
        // One line for a backend that is down, not one per resource (and per retry).
        if let Err(e) = self.backend.ping().await {
            tracing::warn!(offering = %self.offering.name, error = %e, resources = resources.len(), "backend unreachable; no usage samples this cycle (nothing is billed as zero)");
            return SampleStats {
                sampled: 0,
                failed: resources.len(),
            };
        }
        let pairs: Vec<(String, String)> = resources
            .iter()
            .map(|r| (r.uid.clone(), r.resource_uuid.clone()))
            .collect();
        let tenants = match self.store.tenants(&pairs).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the adoption records; no usage samples this cycle");
                return SampleStats {
                    sampled: 0,
                    failed: resources.len(),
                };
            }
        };
        let mut progress =
            super::progress::Progress::new("usage sampling", &self.offering.name, resources.len());
        let mut readings = futures_util::stream::iter(resources.into_iter().zip(tenants))
            .map(|(r, tenant)| async move {
                let tenant = match tenant {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::warn!(resource = %r.resource_uuid, error = %e, "no usage sample");
                        return None;
                    }
                };
                match self.backend.usage(&tenant).await {
                    Ok(u) => Some(sample_of(r.resource_uuid, &u, now.timestamp())),
                    Err(e) => {
                        if let Some(suppressed) = crate::logging::throttle::ERRORS
                            .admit("usage not readable", std::time::Instant::now())
                        {
                            tracing::warn!(resource = %r.resource_uuid, uid = %r.uid, error = %e, suppressed, "usage not readable; no sample");
                        }
                        None
                    }
                }
            })
            .buffer_unordered(self.settings.concurrency);
        let mut results: Vec<Option<Sample>> = Vec::new();
        while let Some(r) = readings.next().await {
            results.push(r);
            progress.add(1);
        }
        let failed = results.iter().filter(|r| r.is_none()).count();
        let samples: Vec<Sample> = results.into_iter().flatten().collect();
        let sampled = samples.len();
        if let Err(e) = self.store.insert_samples(samples, now.timestamp()).await {
            tracing::error!(error = %e, "cannot store usage samples");
            return SampleStats {
                sampled: 0,
                failed: failed + sampled,
            };
        }
        let _ = self
            .store
            .state_set(&self.state_key("last_sample"), &now.to_rfc3339())
            .await;
        tracing::info!(offering = %self.offering.name, sampled, failed, "usage sampled");
        SampleStats { sampled, failed }
    }
}

/// A backend's reading as a stored sample: at the time the backend measured it where it
/// meters on its own (never later than `now`), else at `now` (the injected clock). GB-days
/// then integrate over when the bytes were stored, not when the agent asked.
pub(super) fn sample_of(
    resource_uuid: String,
    u: &site_agent_sdk::UsageSample,
    now: i64,
) -> Sample {
    Sample {
        resource_uuid,
        sampled_at: u.sampled_at.map_or(now, |t| t.min(now)),
        bytes: u.bytes,
        objects: u.objects,
    }
}

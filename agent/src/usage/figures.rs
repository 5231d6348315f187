//! Billing figures per resource, component and period, from the samples (or the backend's own series),
//! written to the outbox.

use super::amount::Cents;
use super::integrate::{Reading, gb_days, in_units, latest, peak};
use super::period::Period;
use super::reporter::UsageReporter;
use crate::config::{UsageKind, UsageSource};
use crate::store::usage::{Figure, FigureKey, Sample};

/// Resources whose samples one database call reads while figures are computed.
const SAMPLE_READ_CHUNK: usize = 32;

impl UsageReporter {
    /// Computes the period's figures into the outbox; `is_final` closes the period (the last
    /// reading holds to its end). Returns how many outbox rows changed.
    pub async fn compute(&self, period: Period, is_final: bool) -> usize {
        let rows = self.figures(period, is_final).await;
        match self
            .store
            .outbox_put(rows, self.clock.now().timestamp())
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "cannot write usage figures");
                0
            }
        }
    }

    /// The period's figures, unwritten.
    pub async fn figures(&self, period: Period, is_final: bool) -> Vec<Figure> {
        let now = self.clock.now();
        let end = period.end(self.tz).timestamp();
        let window_end = if is_final {
            end
        } else {
            now.timestamp().min(end)
        };
        let interval = self.sampling_interval(period.start(self.tz));
        // When closing, the final sample is `close_lead` before the end and must cover it.
        let hold = if is_final {
            interval.max(self.settings.close_lead.num_seconds() + 60)
        } else {
            interval
        };
        let resources = self
            .store
            .known_resources(&self.offering_key())
            .await
            .unwrap_or_default();
        // Samples are read for a few dozen resources per database call: one call each
        // would cost a thread hand-off per resource, and all at once would hold a whole
        // period of readings for every resource in memory.
        let mut rows = Vec::new();
        for chunk in resources.chunks(SAMPLE_READ_CHUNK) {
            rows.extend(
                self.figures_of(chunk, period, window_end, hold, is_final)
                    .await,
            );
        }
        rows
    }

    /// One resource's figures for `period`, with readings counted up to `window_end` and the
    /// last reading holding at most `hold` seconds.
    pub async fn resource_figures(
        &self,
        r: &crate::store::usage::KnownResource,
        period: Period,
        window_end: i64,
        hold: i64,
        is_final: bool,
    ) -> Vec<Figure> {
        self.figures_of(std::slice::from_ref(r), period, window_end, hold, is_final)
            .await
    }

    /// The figures of `resources` for `period`, their samples read in one database call.
    async fn figures_of(
        &self,
        resources: &[crate::store::usage::KnownResource],
        period: Period,
        window_end: i64,
        hold: i64,
        is_final: bool,
    ) -> Vec<Figure> {
        let ids = resources.iter().map(|r| r.resource_uuid.clone()).collect();
        let (start, end) = (
            period.start(self.tz).timestamp(),
            period.end(self.tz).timestamp(),
        );
        let samples = match self.store.samples_of(ids, start, end).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot read samples");
                return Vec::new();
            }
        };
        let mut rows = Vec::new();
        for (r, samples) in resources.iter().zip(samples) {
            rows.extend(
                self.figures_from(r, &samples, period, window_end, hold, is_final)
                    .await,
            );
        }
        rows
    }

    /// One resource's figures for `period` from its samples there (as
    /// [`crate::store::Store::samples`] reads them).
    async fn figures_from(
        &self,
        r: &crate::store::usage::KnownResource,
        samples: &[Sample],
        period: Period,
        window_end: i64,
        hold: i64,
        is_final: bool,
    ) -> Vec<Figure> {
        let (start, end) = (
            period.start(self.tz).timestamp(),
            period.end(self.tz).timestamp(),
        );
        let mut rows = Vec::new();
        for (ctype, comp) in self.offering.reported_components() {
            let Some(kind) = comp.usage else { continue };
            let factor = comp.unit_factor.unwrap_or(1.0) as u64;
            let amount = match (kind, comp.usage_source) {
                (UsageKind::GbDays, UsageSource::MeteredSeries) => {
                    let series = match self.store.tenant(&r.uid, &r.resource_uuid).await {
                        Ok(t) => self.backend.metered_series(&t, start, window_end).await,
                        Err(e) => Err(e),
                    };
                    match series {
                        Ok(series) => {
                            let readings: Vec<Reading> = series
                                .into_iter()
                                .map(|(t, value)| Reading { t, value })
                                .collect();
                            gb_days(&readings, start, window_end, None, factor)
                        }
                        Err(e) => {
                            tracing::warn!(uid = %r.uid, error = %e, "the backend's usage series is not readable; no figure");
                            None
                        }
                    }
                }
                (UsageKind::GbDays, UsageSource::Samples) => {
                    gb_days(&bytes(samples), start, window_end, Some(hold), factor)
                }
                (UsageKind::StorageLatest, _) => {
                    latest(&bytes(samples), start, end).map(|b| in_units(b, factor))
                }
                (UsageKind::StoragePeak, _) => {
                    peak(&bytes(samples), start, end).map(|b| in_units(b, factor))
                }
                (UsageKind::ObjectsLatest, _) => {
                    latest(&objects(samples), start, end).map(Cents::whole)
                }
                (UsageKind::ObjectsPeak, _) => {
                    peak(&objects(samples), start, end).map(Cents::whole)
                }
            };
            // Not measured: no figure at all (never a zero).
            if let Some(a) = amount {
                rows.push(Figure {
                    key: FigureKey {
                        resource_uuid: r.resource_uuid.clone(),
                        component: ctype.to_string(),
                        period: period.to_string(),
                    },
                    cents: a.0,
                    is_final,
                });
            }
        }
        rows
    }
}

fn bytes(samples: &[Sample]) -> Vec<Reading> {
    samples
        .iter()
        .map(|s| Reading::new(s.sampled_at, s.bytes))
        .collect()
}

fn objects(samples: &[Sample]) -> Vec<Reading> {
    samples
        .iter()
        .map(|s| Reading::new(s.sampled_at, s.objects))
        .collect()
}

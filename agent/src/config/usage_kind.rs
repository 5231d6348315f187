//! What a reported component measures, from the component's `usage:` key.

/// How a component's billing quantity is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageKind {
    /// Stored bytes integrated over the period, in `unit_factor`-days (e.g. GB-days).
    GbDays,
    /// Stored bytes / `unit_factor` at the last reading of the period.
    StorageLatest,
    /// The highest stored bytes / `unit_factor` in the period.
    StoragePeak,
    /// The object count at the last reading.
    ObjectsLatest,
    /// The highest object count in the period.
    ObjectsPeak,
}

impl UsageKind {
    pub const NAMES: &'static str =
        "gb_days, storage_latest, storage_peak, objects_latest, objects_peak";

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "gb_days" => Self::GbDays,
            "storage_latest" => Self::StorageLatest,
            "storage_peak" => Self::StoragePeak,
            "objects_latest" => Self::ObjectsLatest,
            "objects_peak" => Self::ObjectsPeak,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::GbDays => "gb_days",
            Self::StorageLatest => "storage_latest",
            Self::StoragePeak => "storage_peak",
            Self::ObjectsLatest => "objects_latest",
            Self::ObjectsPeak => "objects_peak",
        }
    }

    /// Bytes-based kinds need a `unit_factor`.
    pub fn is_storage(self) -> bool {
        matches!(self, Self::GbDays | Self::StorageLatest | Self::StoragePeak)
    }

    /// A figure that can only grow within a period: a lower value than Waldur holds is an
    /// anomaly, never sent. `*_latest` may legitimately fall (data was deleted).
    pub fn is_monotonic(self) -> bool {
        !matches!(self, Self::StorageLatest | Self::ObjectsLatest)
    }
}

/// Where GB-days come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageSource {
    /// The agent's own samples (any backend).
    Samples,
    /// The backend's own stored-bytes series (a backend with `metered_series`): a fresh
    /// install still bills the month so far.
    MeteredSeries,
}

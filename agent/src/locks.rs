//! One piece of work per resource at a time: orders, key rotations, the reconcile pass and
//! the final usage sample all change a resource's user and keys, and each assumes nobody
//! else does meanwhile (the key ledger's settlement depends on it).

use crate::waldur::WaldurId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

#[derive(Clone, Default)]
pub struct ResourceLocks(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

/// Held while working on one resource.
pub struct ResourceGuard {
    _guard: OwnedMutexGuard<()>,
    /// Someone else held the resource first: what was read before may be stale.
    pub waited: bool,
}

impl ResourceLocks {
    /// Waits for the resource (any UUID spelling) to be free.
    pub async fn lock(&self, resource_uuid: &str) -> ResourceGuard {
        let key = WaldurId::new(resource_uuid);
        let m = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            // Forget locks nobody holds or waits for, so the map stays as small as the work.
            map.retain(|_, m| Arc::strong_count(m) > 1);
            map.entry(key.into()).or_default().clone()
        };
        match m.clone().try_lock_owned() {
            Ok(g) => ResourceGuard {
                _guard: g,
                waited: false,
            },
            Err(_) => ResourceGuard {
                _guard: m.lock_owned().await,
                waited: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_holder_per_resource_others_run_freely() {
        let locks = ResourceLocks::default();
        let a = locks.lock("0123456789abcdef0123456789abcdef").await;
        let same = locks.lock("01234567-89ab-cdef-0123-456789abcdef");
        tokio::pin!(same);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut same)
                .await
                .is_err(),
            "the same resource waits"
        );
        let _b = tokio::time::timeout(Duration::from_millis(200), locks.lock("ff"))
            .await
            .expect("another resource does not wait");
        drop(a);
        let g = tokio::time::timeout(Duration::from_millis(200), same)
            .await
            .expect("free once released");
        assert!(g.waited);
    }
}

//! One de-duplicating work queue: events, the reconcile sweep and restarts all feed it; a
//! piece of work already waiting is not queued twice.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use tokio::sync::Notify;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Handle an order (re-read over REST).
    Order {
        offering: String,
        order_uuid: String,
    },
    /// Rotate a resource API key (re-read over REST: the event only names it).
    Rotate {
        offering: String,
        api_key_uuid: String,
    },
}

impl Work {
    /// The inbox kind and key of this work.
    pub fn inbox_key(&self) -> (&'static str, &str) {
        match self {
            Work::Order { order_uuid, .. } => ("order", order_uuid),
            Work::Rotate { api_key_uuid, .. } => ("key", api_key_uuid),
        }
    }
}

/// Waiting work, and the keys of what is waiting (for de-duplication).
#[derive(Default)]
struct Waiting {
    items: VecDeque<Work>,
    keys: HashSet<(&'static str, String)>,
}

#[derive(Default)]
pub struct WorkQueue {
    inner: Mutex<Waiting>,
    notify: Notify,
}

impl WorkQueue {
    /// Queues work unless the same work is already waiting; returns whether it was queued.
    pub fn push(&self, work: Work) -> bool {
        let (kind, key) = work.inbox_key();
        let id = (kind, key.to_string());
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !g.keys.insert(id) {
            return false;
        }
        g.items.push_back(work);
        drop(g);
        self.notify.notify_one();
        true
    }

    pub async fn pop(&self) -> Work {
        loop {
            {
                let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(w) = g.items.pop_front() {
                    let (kind, key) = w.inbox_key();
                    let id = (kind, key.to_string());
                    g.keys.remove(&id);
                    return w;
                }
            }
            self.notify.notified().await;
        }
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .items
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deduplicates_waiting_work() {
        let q = WorkQueue::default();
        let w = Work::Order {
            offering: "o".into(),
            order_uuid: "a".into(),
        };
        assert!(q.push(w.clone()));
        assert!(!q.push(w.clone()), "already waiting");
        assert!(q.push(Work::Order {
            offering: "o".into(),
            order_uuid: "b".into()
        }));
        assert_eq!(q.pop().await, w);
        assert!(q.push(w.clone()), "taken out: may be queued again");
        assert_eq!(q.len(), 2);
    }
}

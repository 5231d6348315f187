//! Schema migrations (tracked in `PRAGMA user_version`).

use rusqlite_migration::{M, Migrations};

const MIGRATIONS: &[M<'static>] = &[
    M::up(
        "CREATE TABLE order_journal (
            order_uuid TEXT NOT NULL,
            step TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL,
            PRIMARY KEY (order_uuid, step, detail)
        );",
    ),
    M::up(
        "CREATE TABLE usage_resources (
            resource_uuid TEXT PRIMARY KEY,
            offering_uuid TEXT NOT NULL,
            uid TEXT NOT NULL,
            state TEXT NOT NULL,
            seen_at INTEGER NOT NULL
        );
        CREATE TABLE usage_samples (
            resource_uuid TEXT NOT NULL,
            sampled_at INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            objects INTEGER NOT NULL,
            buckets TEXT NOT NULL DEFAULT '[]',
            PRIMARY KEY (resource_uuid, sampled_at)
        ) WITHOUT ROWID;
        CREATE TABLE usage_outbox (
            resource_uuid TEXT NOT NULL,
            component TEXT NOT NULL,
            period TEXT NOT NULL,
            amount_cents INTEGER NOT NULL,
            final INTEGER NOT NULL DEFAULT 0,
            sent_cents INTEGER,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            computed_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (resource_uuid, component, period)
        );
        CREATE INDEX usage_outbox_state ON usage_outbox (state);
        CREATE TABLE agent_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    ),
    M::up(
        "CREATE TABLE event_inbox (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            offering_uuid TEXT NOT NULL,
            payload TEXT NOT NULL,
            received_at INTEGER NOT NULL,
            PRIMARY KEY (kind, key)
        );",
    ),
    M::up(
        "CREATE TABLE key_ledger (
            offering_uuid TEXT NOT NULL,
            resource_uuid TEXT NOT NULL,
            uid TEXT NOT NULL,
            access_key TEXT NOT NULL,
            intent TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY (resource_uuid, access_key, intent)
        );
        CREATE INDEX usage_samples_time ON usage_samples (sampled_at);
        ALTER TABLE usage_resources ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
        CREATE TABLE resource_ceilings (
            resource_uuid TEXT PRIMARY KEY,
            storage_gb INTEGER,
            objects INTEGER,
            at INTEGER NOT NULL
        );",
    ),
    M::up(
        "CREATE TABLE adoptions (
            resource_uuid TEXT PRIMARY KEY,
            uid TEXT NOT NULL,
            quotas_applied INTEGER NOT NULL,
            at INTEGER NOT NULL
        );",
    ),
    // One user belongs to one resource.
    M::up("CREATE UNIQUE INDEX adoptions_uid ON adoptions (uid);"),
    // Which secret Waldur holds, where every secret shares the access key (see
    // `store::keys::held_secret`).
    M::up(
        "CREATE TABLE waldur_secrets (
            resource_uuid TEXT NOT NULL,
            client_id TEXT NOT NULL,
            key_id TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY (resource_uuid, client_id)
        );",
    ),
    // Waldur's `issued_at` of the key a new secret is for, as it was before the secret was
    // sent (see `orders::keybook::learn_held_secret`).
    M::up("ALTER TABLE key_ledger ADD COLUMN waldur_issued_at TEXT;"),
];

pub fn migrations() -> Migrations<'static> {
    Migrations::from_slice(MIGRATIONS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }
}

//! S3 key pair generation (agent-minted: 20-char access key, 40-char secret).

use crate::types::{AccessKeyOrigin, KeyPair, KeyPolicy};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

const ACCESS_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Mints a fresh key pair from the system CSPRNG.
pub fn generate_key_pair() -> Result<KeyPair, crate::BackendError> {
    Ok(KeyPair {
        access_key: random_string(ACCESS_ALPHABET, 20)?,
        secret_key: SecretString::from(random_string(SECRET_ALPHABET, 40)?),
    })
}

fn random_string(alphabet: &[u8], len: usize) -> Result<String, crate::BackendError> {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(len);
    // Rejection sampling keeps every character uniformly likely.
    let limit = 256 - (256 % alphabet.len());
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.fill(&mut buf)
            .map_err(|_| crate::BackendError::unavailable("system random generator failed"))?;
        for b in buf {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

/// What the agent tracks a key by (the key ledger, pruning, retiring): its access key, or
/// where every secret of a user shares the access key (`AccessKeyOrigin::User`), the
/// fingerprint of its secret. Backends of that kind list and delete keys by this id.
pub fn key_id(policy: &KeyPolicy, key: &KeyPair) -> String {
    match policy.access_key {
        AccessKeyOrigin::User => secret_fingerprint(key.secret_key.expose_secret()),
        _ => key.access_key.clone(),
    }
}

/// `sk-` and the first 64 bits of the secret's SHA-256 in hex: names one secret in logs and
/// the agent's records without revealing anything of it (the secret is 240 random bits).
pub fn secret_fingerprint(secret: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let hex: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("sk-{hex}")
}

/// A uniformly random number in [0, 1] (for jitter), from the system CSPRNG.
pub fn random_fraction() -> f64 {
    let mut b = [0u8; 4];
    let _ = SystemRandom::new().fill(&mut b);
    u32::from_le_bytes(b) as f64 / u32::MAX as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn shapes_and_uniqueness() {
        let a = generate_key_pair().unwrap();
        let b = generate_key_pair().unwrap();
        assert_eq!(a.access_key.len(), 20);
        assert!(a.access_key.bytes().all(|c| ACCESS_ALPHABET.contains(&c)));
        assert_eq!(a.secret_key.expose_secret().len(), 40);
        assert!(
            a.secret_key
                .expose_secret()
                .bytes()
                .all(|c| SECRET_ALPHABET.contains(&c))
        );
        assert_ne!(a.access_key, b.access_key);
        assert!(!format!("{a:?}").contains(a.secret_key.expose_secret()));
    }

    #[test]
    fn a_key_sharing_its_access_key_is_told_by_its_secret() {
        use crate::types::{RotationMode, SecretOrigin};
        let mut policy = KeyPolicy {
            secret: SecretOrigin::Agent,
            access_key: AccessKeyOrigin::Agent,
            tenant_can_issue: false,
            max_keys: None,
            rotation: RotationMode::AddThenRemove,
        };
        let a = generate_key_pair().unwrap();
        assert_eq!(key_id(&policy, &a), a.access_key);
        policy.access_key = AccessKeyOrigin::User;
        let b = KeyPair {
            access_key: a.access_key.clone(),
            secret_key: generate_key_pair().unwrap().secret_key,
        };
        let (ia, ib) = (key_id(&policy, &a), key_id(&policy, &b));
        assert_ne!(ia, ib, "same access key, different secrets");
        assert_eq!(ia, secret_fingerprint(a.secret_key.expose_secret()));
        assert!(crate::validate_identifier("key id", &ia).is_ok());
        assert_eq!(ia.len(), 19);
        // Stable across runs (a record written before a restart still names the key).
        assert_eq!(secret_fingerprint("secret"), "sk-2bb80d537b1da3e3");
        assert!(!ia.contains(&a.secret_key.expose_secret()[..8]));
    }
}

//! S3 key pair generation (agent-minted: 20-char access key, 40-char secret).

use crate::types::KeyPair;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::SecretString;

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
}

//! The madmin body encryption of MinIO's admin API (`other-backends.md` §2.1; madmin-go
//! `encrypt.go`, sio-go's stream format): `salt(32) ‖ id(1) ‖ nonce(8) ‖ packages`, the key
//! derived from the admin's secret key, the plaintext sealed in 16 KiB packages.
//!
//! Package i (1, 2, …) seals up to 16 KiB with nonce `nonce ‖ u32le(i)` and associated data
//! `flag ‖ T` (flag 0x80 on the final package, else 0x00; `T` the tag of sealing nothing with
//! nonce `nonce ‖ u32le(0)`). An empty plaintext is still one final package (57 bytes in all);
//! a header with no package is not authentic. Checked byte for byte against the golden vectors
//! made with madmin-go / sio-go (`minio-vectors/`, tests below and in `tests/`).
//!
//! The AEADs and PBKDF2 come from ring (the TLS stack's provider already), Argon2id from the
//! RustCrypto `argon2` crate.

use ring::aead::{AES_256_GCM, Aad, Algorithm, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

pub const SALT_LEN: usize = 32;
pub const NONCE_LEN: usize = 8;
pub const HEADER_LEN: usize = SALT_LEN + 1 + NONCE_LEN;
const TAG_LEN: usize = 16;
/// Plaintext bytes per package.
pub const PACKAGE: usize = 16 * 1024;
const FINAL: u8 = 0x80;

/// Which AEAD and key derivation a body uses (its id byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// 0x00: Argon2id key, AES-256-GCM (what madmin sends by default).
    Argon2AesGcm,
    /// 0x01: Argon2id key, ChaCha20-Poly1305 (madmin's choice on CPUs without AES).
    Argon2ChaCha,
    /// 0x02: PBKDF2-SHA256 key, AES-256-GCM (FIPS builds).
    Pbkdf2AesGcm,
}

impl Cipher {
    pub fn id(self) -> u8 {
        match self {
            Cipher::Argon2AesGcm => 0,
            Cipher::Argon2ChaCha => 1,
            Cipher::Pbkdf2AesGcm => 2,
        }
    }

    pub fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Cipher::Argon2AesGcm,
            1 => Cipher::Argon2ChaCha,
            2 => Cipher::Pbkdf2AesGcm,
            _ => return None,
        })
    }

    fn aead(self) -> &'static Algorithm {
        match self {
            Cipher::Argon2ChaCha => &CHACHA20_POLY1305,
            _ => &AES_256_GCM,
        }
    }

    /// Whether the key derivation is the memory-hard one (64 MiB, tens of milliseconds).
    pub fn memory_hard(self) -> bool {
        self != Cipher::Pbkdf2AesGcm
    }
}

/// Why a body could not be sealed or opened. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptError {
    /// Shorter than a header and one package.
    Truncated,
    UnknownCipher(u8),
    /// A package failed authentication: tampered, truncated, or another secret.
    NotAuthentic,
    /// The platform's random generator or key derivation failed.
    Internal(&'static str),
}

impl std::fmt::Display for CryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CryptError::Truncated => f.write_str("encrypted body too short"),
            CryptError::UnknownCipher(id) => write!(f, "unknown encryption id {id}"),
            CryptError::NotAuthentic => {
                f.write_str("encrypted body is not authentic (tampered, or another secret key)")
            }
            CryptError::Internal(what) => write!(f, "encryption failed: {what}"),
        }
    }
}

impl std::error::Error for CryptError {}

/// A derived body key with the salt and cipher it belongs to. Deriving is the costly part, so
/// a sender may keep one and seal many bodies with it (each under a fresh nonce).
pub struct BodyKey {
    cipher: Cipher,
    salt: [u8; SALT_LEN],
    key: LessSafeKey,
}

impl std::fmt::Debug for BodyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BodyKey({:?})", self.cipher)
    }
}

impl BodyKey {
    /// Derives the key of `cipher` for `secret` and `salt`.
    pub fn derive(secret: &[u8], salt: [u8; SALT_LEN], cipher: Cipher) -> Result<Self, CryptError> {
        let mut raw = [0u8; 32];
        match cipher {
            Cipher::Pbkdf2AesGcm => ring::pbkdf2::derive(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                std::num::NonZeroU32::new(8192).expect("non-zero"),
                &salt,
                secret,
                &mut raw,
            ),
            _ => {
                // madmin-go: argon2.IDKey(password, salt, 1, 64*1024, 4, 32).
                let params = argon2::Params::new(64 * 1024, 1, 4, Some(32))
                    .map_err(|_| CryptError::Internal("argon2 parameters"))?;
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                    .hash_password_into(secret, &salt, &mut raw)
                    .map_err(|_| CryptError::Internal("argon2 derivation"))?;
            }
        }
        let key =
            UnboundKey::new(cipher.aead(), &raw).map_err(|_| CryptError::Internal("aead key"))?;
        Ok(Self {
            cipher,
            salt,
            key: LessSafeKey::new(key),
        })
    }

    /// A key under a fresh random salt.
    pub fn fresh(secret: &[u8], cipher: Cipher) -> Result<Self, CryptError> {
        let mut salt = [0u8; SALT_LEN];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| CryptError::Internal("random salt"))?;
        Self::derive(secret, salt, cipher)
    }

    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// Seals `plaintext` under a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CryptError::Internal("random nonce"))?;
        self.seal_with_nonce(plaintext, nonce)
    }

    /// Seals `plaintext` under `nonce` (the golden vectors fix it; anything else uses
    /// [`Self::seal`]: a nonce must never repeat under one key).
    pub fn seal_with_nonce(
        &self,
        plaintext: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, CryptError> {
        let packages = plaintext.len().div_ceil(PACKAGE).max(1);
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + packages * TAG_LEN);
        out.extend_from_slice(&self.salt);
        out.push(self.cipher.id());
        out.extend_from_slice(&nonce);
        let header_tag = self.header_tag(nonce)?;
        for i in 0..packages {
            let chunk = &plaintext
                [(i * PACKAGE).min(plaintext.len())..((i + 1) * PACKAGE).min(plaintext.len())];
            let flag = if i + 1 == packages { FINAL } else { 0 };
            let start = out.len();
            out.extend_from_slice(chunk);
            let tag = self
                .key
                .seal_in_place_separate_tag(
                    package_nonce(nonce, i as u32 + 1),
                    Aad::from(aad(flag, &header_tag)),
                    &mut out[start..],
                )
                .map_err(|_| CryptError::Internal("seal"))?;
            out.extend_from_slice(tag.as_ref());
        }
        Ok(out)
    }

    /// Opens a body sealed under this key's salt and cipher (the caller checked both).
    fn open_body(&self, body: &[u8]) -> Result<Vec<u8>, CryptError> {
        let nonce: [u8; NONCE_LEN] = body[SALT_LEN + 1..HEADER_LEN]
            .try_into()
            .map_err(|_| CryptError::Truncated)?;
        let header_tag = self.header_tag(nonce)?;
        let mut rest = &body[HEADER_LEN..];
        if rest.is_empty() {
            // The header alone (what PyPI `minio` 7.2.20 sends for an empty body): madmin-go
            // refuses it as not authentic, and so does this.
            return Err(CryptError::NotAuthentic);
        }
        let mut out = Vec::with_capacity(rest.len());
        let mut seq: u32 = 1;
        while !rest.is_empty() {
            let last = rest.len() <= PACKAGE + TAG_LEN;
            let take = if last { rest.len() } else { PACKAGE + TAG_LEN };
            if take < TAG_LEN {
                return Err(CryptError::NotAuthentic);
            }
            let mut package = rest[..take].to_vec();
            let flag = if last { FINAL } else { 0 };
            let plain = self
                .key
                .open_in_place(
                    package_nonce(nonce, seq),
                    Aad::from(aad(flag, &header_tag)),
                    &mut package,
                )
                .map_err(|_| CryptError::NotAuthentic)?;
            out.extend_from_slice(plain);
            rest = &rest[take..];
            seq = seq.checked_add(1).ok_or(CryptError::NotAuthentic)?;
        }
        Ok(out)
    }

    /// The tag of sealing nothing under sequence number 0: bound into every package.
    fn header_tag(&self, nonce: [u8; NONCE_LEN]) -> Result<[u8; TAG_LEN], CryptError> {
        let mut empty: [u8; 0] = [];
        let tag = self
            .key
            .seal_in_place_separate_tag(package_nonce(nonce, 0), Aad::empty(), &mut empty)
            .map_err(|_| CryptError::Internal("seal"))?;
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag.as_ref());
        Ok(t)
    }
}

fn package_nonce(nonce: [u8; NONCE_LEN], seq: u32) -> Nonce {
    let mut n = [0u8; 12];
    n[..NONCE_LEN].copy_from_slice(&nonce);
    n[NONCE_LEN..].copy_from_slice(&seq.to_le_bytes());
    Nonce::assume_unique_for_key(n)
}

fn aad(flag: u8, header_tag: &[u8; TAG_LEN]) -> [u8; 1 + TAG_LEN] {
    let mut a = [0u8; 1 + TAG_LEN];
    a[0] = flag;
    a[1..].copy_from_slice(header_tag);
    a
}

/// The salt and cipher a body was sealed with, read from its header.
pub fn header(body: &[u8]) -> Result<([u8; SALT_LEN], Cipher), CryptError> {
    if body.len() < HEADER_LEN {
        return Err(CryptError::Truncated);
    }
    let id = body[SALT_LEN];
    let cipher = Cipher::from_id(id).ok_or(CryptError::UnknownCipher(id))?;
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&body[..SALT_LEN]);
    Ok((salt, cipher))
}

/// Opens `body` with the key derived from `secret` (derived here: a receiver gets a new salt
/// with every body).
pub fn decrypt(secret: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptError> {
    let (salt, cipher) = header(body)?;
    BodyKey::derive(secret, salt, cipher)?.open_body(body)
}

/// Opens `body` with `key` when it was sealed under the key's salt and cipher (a receiver that
/// keeps keys by salt); otherwise derives one.
pub fn decrypt_with(key: &BodyKey, secret: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptError> {
    let (salt, cipher) = header(body)?;
    if salt == key.salt && cipher == key.cipher {
        key.open_body(body)
    } else {
        BodyKey::derive(secret, salt, cipher)?.open_body(body)
    }
}

/// Seals `plaintext` the way madmin does: a fresh salt and nonce, Argon2id and AES-256-GCM.
pub fn encrypt(secret: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptError> {
    BodyKey::fresh(secret, Cipher::Argon2AesGcm)?.seal(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PBKDF2 key is cheap: the stream format is exercised here without Argon2's cost
    /// (the golden vectors in `tests/golden_vectors.rs` cover all three ciphers).
    fn key() -> BodyKey {
        BodyKey::derive(b"secret-key-1", [7u8; SALT_LEN], Cipher::Pbkdf2AesGcm).unwrap()
    }

    #[test]
    fn sizes_follow_the_package_layout() {
        let k = key();
        for (len, want) in [
            (0, 57),
            (53, 110),
            (PACKAGE, HEADER_LEN + PACKAGE + 16),
            (PACKAGE + 1, HEADER_LEN + PACKAGE + 16 + 17),
            (3 * PACKAGE, HEADER_LEN + 3 * (PACKAGE + 16)),
        ] {
            let pt: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let ct = k.seal(&pt).unwrap();
            assert_eq!(ct.len(), want, "{len} bytes");
            assert_eq!(decrypt(b"secret-key-1", &ct).unwrap(), pt, "{len} bytes");
        }
    }

    #[test]
    fn tampering_truncation_and_another_secret_fail() {
        let pt: Vec<u8> = (0..PACKAGE + 100).map(|i| i as u8).collect();
        let ct = key().seal(&pt).unwrap();
        for i in [
            0,
            SALT_LEN,
            HEADER_LEN - 1,
            HEADER_LEN,
            ct.len() / 2,
            ct.len() - 1,
        ] {
            let mut bad = ct.clone();
            bad[i] ^= 1;
            assert!(decrypt(b"secret-key-1", &bad).is_err(), "byte {i} flipped");
        }
        assert_eq!(decrypt(b"secret-key-2", &ct), Err(CryptError::NotAuthentic));
        // Dropping the final package leaves a non-final one last: not authentic.
        assert!(decrypt(b"secret-key-1", &ct[..HEADER_LEN + PACKAGE + 16]).is_err());
        assert_eq!(
            decrypt(b"secret-key-1", &ct[..HEADER_LEN]),
            Err(CryptError::NotAuthentic)
        );
        assert_eq!(
            decrypt(b"secret-key-1", &ct[..10]),
            Err(CryptError::Truncated)
        );
        let mut unknown = ct.clone();
        unknown[SALT_LEN] = 9;
        assert_eq!(
            decrypt(b"secret-key-1", &unknown),
            Err(CryptError::UnknownCipher(9))
        );
    }

    /// Whatever a server (or something posing as one) answers, opening it fails cleanly.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u32 = 0x9e37_79b9;
        for len in 0..(HEADER_LEN + 3 * (16 + 1)) {
            let mut body: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            if len > SALT_LEN {
                // The cheap derivation (an Argon2 id would cost 64 MiB per case).
                body[SALT_LEN] = 2;
            }
            assert!(decrypt(b"secret", &body).is_err(), "{len} bytes");
        }
    }

    #[test]
    fn nonces_differ_between_bodies_under_one_key() {
        let k = key();
        let (a, b) = (k.seal(b"{}").unwrap(), k.seal(b"{}").unwrap());
        assert_eq!(a[..SALT_LEN], b[..SALT_LEN], "one salt");
        assert_ne!(
            a[SALT_LEN + 1..HEADER_LEN],
            b[SALT_LEN + 1..HEADER_LEN],
            "fresh nonce"
        );
        assert_eq!(decrypt_with(&k, b"secret-key-1", &a).unwrap(), b"{}");
    }
}

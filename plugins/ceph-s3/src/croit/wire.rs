//! croit's JSON shapes (camelCase users, snake_case keys), parsed leniently.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawUser {
    pub uid: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub suspended: bool,
    /// Access keys only: the listing's secrets are skipped while parsing, never held (keys
    /// with secrets are read per user, `GET /s3/users/{uid}/keys`, when adopting).
    pub keys: Vec<ListedKey>,
    #[serde(rename = "userQuota")]
    pub user_quota: Option<RawQuota>,
    #[serde(rename = "bucketQuota")]
    pub bucket_quota: Option<RawQuota>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ListedKey {
    pub access_key: Option<String>,
    #[serde(rename = "accessKey")]
    pub access_key_camel: Option<String>,
}

impl ListedKey {
    pub fn access_key(&self) -> Option<&String> {
        self.access_key.as_ref().or(self.access_key_camel.as_ref())
    }
}

/// The key list is snake_case, unlike everything else croit returns.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawKey {
    pub access_key: Option<String>,
    #[serde(rename = "accessKey")]
    pub access_key_camel: Option<String>,
    /// Only read when adopting an older plugin's user (its customer's working key).
    pub secret_key: Option<secrecy::SecretString>,
    #[serde(rename = "secretKey")]
    pub secret_key_camel: Option<secrecy::SecretString>,
}

impl std::fmt::Debug for RawKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawKey({:?})", self.access_key)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawQuota {
    pub enabled: bool,
    #[serde(rename = "maxSize")]
    pub max_size: Option<i64>,
    #[serde(rename = "maxObjects")]
    pub max_objects: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawBucket {
    pub bucket: Option<String>,
    #[serde(rename = "usageSum")]
    pub usage_sum: Option<RawUsage>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RawUsage {
    pub size: Option<u64>,
    #[serde(rename = "numObjects")]
    pub num_objects: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct CreateUser<'a> {
    pub uid: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<&'a str>,
    #[serde(rename = "defaultPlacement", skip_serializing_if = "Option::is_none")]
    pub default_placement: Option<&'a str>,
    #[serde(
        rename = "defaultStorageClass",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_storage_class: Option<&'a str>,
}

/// A dimension that was not ordered is omitted, never 0 (croit reads 0 as "allow nothing").
#[derive(Debug, Serialize)]
pub struct PutQuota {
    pub enabled: bool,
    #[serde(rename = "maxSize", skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    #[serde(rename = "maxObjects", skip_serializing_if = "Option::is_none")]
    pub max_objects: Option<u64>,
}

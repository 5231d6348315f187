//! The one canned policy a tenant gets: exactly the object actions on exactly its bucket,
//! and no way to mint keys of its own. Its name carries the resource's ownership stamp
//! (MinIO keeps no user metadata; `user-info` names a user's policies).

use serde_json::json;

/// What a tenant needs to use its bucket: list it, read, write and delete objects, and clean
/// up multipart uploads. Nothing that changes the bucket itself (quota, policy, versioning,
/// deletion), no `s3:*`.
pub const BUCKET_ACTIONS: &[&str] = &[
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:ListBucketMultipartUploads",
];
pub const OBJECT_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
];

/// MinIO lets any user make service accounts for itself unless a policy denies it: keys must
/// come from the agent only (Waldur shows every key the tenant holds). Denied, never granted.
pub const DENIED_ADMIN_ACTIONS: &[&str] = &[
    "admin:CreateServiceAccount",
    "admin:UpdateServiceAccount",
    "admin:RemoveServiceAccount",
];

const STAMP_SUFFIX: &str = "@invalid";

/// The policy named after `stamp` (`waldur-<resource>-<uid>@invalid` → without the suffix).
pub fn name_for(stamp: &str) -> String {
    stamp
        .strip_suffix(STAMP_SUFFIX)
        .unwrap_or(stamp)
        .to_string()
}

/// The stamp a policy name carries, for a policy of `uid` made by the agent.
pub fn stamp_in(policy: &str, uid: &str) -> Option<String> {
    (policy.starts_with("waldur-") && policy.ends_with(&format!("-{uid}")))
        .then(|| format!("{policy}{STAMP_SUFFIX}"))
}

pub fn document(bucket: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": BUCKET_ACTIONS,
                "Resource": [format!("arn:aws:s3:::{bucket}")],
            },
            {
                "Effect": "Allow",
                "Action": OBJECT_ACTIONS,
                "Resource": [format!("arn:aws:s3:::{bucket}/*")],
            },
            {
                "Effect": "Deny",
                "Action": DENIED_ADMIN_ACTIONS,
            },
        ]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_the_object_actions_on_one_bucket_only() {
        let doc: serde_json::Value = serde_json::from_str(&document("waldur-a")).unwrap();
        let st = doc["Statement"].as_array().unwrap();
        for s in st.iter().filter(|s| s["Effect"] == "Allow") {
            for r in s["Resource"].as_array().unwrap() {
                let r = r.as_str().unwrap();
                assert!(
                    r == "arn:aws:s3:::waldur-a" || r == "arn:aws:s3:::waldur-a/*",
                    "{r}"
                );
            }
            for a in s["Action"].as_array().unwrap() {
                let a = a.as_str().unwrap();
                assert!(a.starts_with("s3:") && !a.contains('*'), "{a}");
                assert!(
                    !a.contains("Policy") && !a.contains("Delete") || a == "s3:DeleteObject",
                    "{a}"
                );
            }
        }
        let denied: Vec<_> = st.iter().filter(|s| s["Effect"] == "Deny").collect();
        assert_eq!(denied.len(), 1);
        assert!(denied[0].get("Resource").is_none());
    }

    #[test]
    fn the_policy_name_carries_the_stamp() {
        let stamp =
            site_agent_sdk::ownership_stamp("12345678-1234-5678-9abc-123456789abc", "waldur-x");
        let name = name_for(&stamp);
        assert_eq!(name, "waldur-12345678-1234-5678-9abc-123456789abc-waldur-x");
        assert!(site_agent_sdk::validate_identifier("p", &name).is_ok());
        assert_eq!(stamp_in(&name, "waldur-x"), Some(stamp));
        assert_eq!(stamp_in(&name, "waldur-y"), None);
        assert_eq!(stamp_in("readwrite", "waldur-x"), None);
    }
}

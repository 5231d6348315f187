//! The one policy a tenant gets: exactly the object actions on exactly its bucket.
//!
//! SeaweedFS maps S3 actions to coarse ones (`Read:<b>`, `Write:<b>`, `List:<b>`); `s3:*`
//! becomes `Admin:<b>`, which lets the tenant raise its own `?seaweedfs-quota` and delete the
//! bucket, and `Deny` statements are refused, so nothing can be carved out of a wildcard:
//! only explicit actions are granted (other-backends.md §5.2; test-peers.md §5, "Trap").

use serde_json::json;

/// The policy's name on the user.
pub const POLICY_NAME: &str = "waldur-bucket";

/// Object reads, writes, deletes, listing and multipart clean-up: what a tenant needs to use
/// its bucket, and nothing that changes the bucket itself (quota, policy, ACL, deletion).
/// `s3:ListBucketMultipartUploads` and `s3:ListMultipartUploadParts` are refused by
/// SeaweedFS 4.48 as unknown actions.
pub const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ListBucket",
    "s3:AbortMultipartUpload",
];

pub fn document(bucket: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ACTIONS,
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_actions_on_one_bucket_only() {
        let doc: serde_json::Value = serde_json::from_str(&document("waldur-a")).unwrap();
        let st = &doc["Statement"];
        assert_eq!(st.as_array().unwrap().len(), 1);
        assert_eq!(st[0]["Effect"], "Allow");
        assert_eq!(
            st[0]["Resource"],
            json!(["arn:aws:s3:::waldur-a", "arn:aws:s3:::waldur-a/*"])
        );
        for a in st[0]["Action"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            assert!(!a.contains('*'), "no wildcard: {a}");
            assert!(
                !a.contains("Bucket") || a == "s3:ListBucket",
                "no bucket-level change: {a}"
            );
            assert!(!a.contains("Policy") && !a.contains("Acl"), "{a}");
        }
    }
}

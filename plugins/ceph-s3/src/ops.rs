//! What both flavours share beyond the SDK's rules: where Ceph keeps the ownership stamp.

/// Ceph keeps the stamp in the user's e-mail field; an empty e-mail is no stamp.
pub fn stamp_of(email: String) -> Option<String> {
    (!email.is_empty()).then_some(email)
}

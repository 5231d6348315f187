//! Just enough XML for the flat answers of S3-style and IAM query APIs: the text of a leaf
//! element, and the bodies of repeated elements (`<member>…</member>`). Bounded by the
//! answer, which the HTTP layer already caps; no namespaces, attributes or nesting of the
//! same tag are needed by any answer read this way.

/// The bodies of every `<tag>…</tag>` in `xml` (outermost first, not nested in each other).
pub fn blocks<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else { break };
        out.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    out
}

/// The unescaped text of the first `<tag>…</tag>`.
pub fn leaf(xml: &str, tag: &str) -> Option<String> {
    blocks(xml, tag).first().map(|t| unescape(t.trim()))
}

/// Resolves the five predefined entities and numeric character references.
pub fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(semi) = tail.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..semi];
        let ch = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from SeaweedFS 4.48 `ListAccessKeys`.
    const KEYS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListAccessKeysResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListAccessKeysResult><AccessKeyMetadata><member><AccessKeyId>AKIA4B3KWTCZ2EOI9WMU</AccessKeyId><Status>Inactive</Status><UserName>exp-cdb825</UserName></member><member><AccessKeyId>AKIAB</AccessKeyId><Status>Active</Status><UserName>exp-cdb825</UserName></member></AccessKeyMetadata><IsTruncated>false</IsTruncated></ListAccessKeysResult></ListAccessKeysResponse>"#;

    #[test]
    fn members_and_leaves() {
        let members = blocks(KEYS, "member");
        assert_eq!(members.len(), 2);
        assert_eq!(
            leaf(members[0], "AccessKeyId").unwrap(),
            "AKIA4B3KWTCZ2EOI9WMU"
        );
        assert_eq!(leaf(members[1], "Status").unwrap(), "Active");
        assert_eq!(leaf(KEYS, "IsTruncated").unwrap(), "false");
        assert_eq!(leaf(KEYS, "Nope"), None);
        assert!(blocks("<a>unclosed", "a").is_empty());
    }

    #[test]
    fn entities() {
        assert_eq!(
            unescape("{&#34;Effect&#34;:&#34;Allow&#34;} &amp; &lt;x&gt; &#x41;"),
            "{\"Effect\":\"Allow\"} & <x> A"
        );
        assert_eq!(unescape("a & b &bogus; &#xZZ;"), "a & b &bogus; &#xZZ;");
    }
}

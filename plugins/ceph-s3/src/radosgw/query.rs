//! Admin Ops query strings: parameters keep insertion order, values are percent-encoded with
//! no safe characters (a space is `%20`, never `+`), valueless sub-resources are `key=`, and
//! `format=json` is always present. No parameter is ever repeated (older RGW signs a
//! canonical query from a map and would refuse it).

#[derive(Debug, Clone, Default)]
pub struct AdminQuery {
    pairs: Vec<(String, String)>,
}

impl AdminQuery {
    pub fn new() -> Self {
        Self::default()
    }

    /// A valueless sub-resource such as `quota` or `key`.
    pub fn subresource(mut self, name: &str) -> Self {
        self.set(name, "");
        self
    }

    pub fn param(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.set(name, value.as_ref());
        self
    }

    pub fn opt(self, name: &str, value: Option<impl AsRef<str>>) -> Self {
        match value {
            Some(v) => self.param(name, v),
            None => self,
        }
    }

    fn set(&mut self, name: &str, value: &str) {
        match self.pairs.iter_mut().find(|(k, _)| k == name) {
            Some(pair) => pair.1 = value.to_string(),
            None => self.pairs.push((name.to_string(), value.to_string())),
        }
    }

    /// The encoded query string, with `format=json` appended.
    pub fn encode(&self) -> String {
        let mut q = self.clone();
        q.set("format", "json");
        site_agent_sdk::sigv4::encode_pairs(q.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_rules() {
        let q = AdminQuery::new()
            .subresource("quota")
            .param("uid", "waldur-u")
            .param("quota-type", "user")
            .param("display-name", "My Bucket & co")
            .param("email", "waldur-x@invalid")
            .param("uid", "waldur-v");
        assert_eq!(
            q.encode(),
            "quota=&uid=waldur-v&quota-type=user&display-name=My%20Bucket%20%26%20co&email=waldur-x%40invalid&format=json"
        );
    }
}

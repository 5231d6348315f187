//! The HTTP core of the Waldur client: auth header, retry with jittered backoff for transient
//! errors (written once here, for every call), and pagination.

use super::auth::Authenticator;
use super::error::WaldurError;
use crate::config::Offering;
use crate::retry::RetryPolicy;
use futures_util::StreamExt;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde_json::Value;
use site_agent_sdk::http::{HttpConfig, ProxyConfig};
use std::time::Duration;

pub type Query = Vec<(String, String)>;

/// A typed client for one offering's Waldur.
pub struct WaldurClient {
    http: reqwest::Client,
    base: String,
    auth: Authenticator,
    retry: RetryPolicy,
    timeout: Duration,
    late_answers: Option<Duration>,
}

impl WaldurClient {
    pub fn new(
        offering: &Offering,
        retry: RetryPolicy,
        user_agent: &str,
    ) -> Result<Self, WaldurError> {
        // The proxy URL may carry `user:password@`; reqwest sends them as basic auth.
        let http = site_agent_sdk::http::build_client(&HttpConfig {
            timeout: offering.waldur_timeout,
            verify_tls: offering.verify_ssl,
            proxy: offering.proxy.as_ref().map(|url| ProxyConfig {
                url: url.clone(),
                username: None,
                password: None,
            }),
            user_agent: user_agent.to_string(),
            peer: format!("Waldur of offering {}", offering.name),
            follow_redirects: true,
        })
        .map_err(|e| WaldurError::setup(format!("Waldur client: {}", e.message())))?;
        Ok(Self {
            http,
            base: offering.api_base.clone(),
            auth: Authenticator::new(offering.auth.clone()),
            retry,
            timeout: offering.waldur_timeout,
            late_answers: None,
        })
    }

    /// How long after the agent gave up on a call Waldur may still carry it out (the server
    /// keeps working on a request whose client went away): twice the request timeout, unless
    /// set (tests shorten it).
    pub fn late_answer_window(&self) -> Duration {
        self.late_answers.unwrap_or(self.timeout * 2)
    }

    pub fn with_late_answer_window(mut self, d: Option<Duration>) -> Self {
        self.late_answers = d.or(self.late_answers);
        self
    }

    /// One request, without retry. `path` starts with `/api/`.
    async fn once(
        &self,
        what: &str,
        method: &Method,
        path: &str,
        query: &Query,
        body: Option<&Value>,
    ) -> Result<(reqwest::header::HeaderMap, String), WaldurError> {
        let header = self.auth.header(&self.http).await?;
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header(reqwest::header::AUTHORIZATION, header.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            crate::metrics::get().waldur_request(what, None);
            WaldurError::transport(what, e)
        })?;
        let status = resp.status().as_u16();
        crate::metrics::get().waldur_request(what, Some(status));
        let headers = resp.headers().clone();
        let text = site_agent_sdk::http::read_text(resp, site_agent_sdk::http::MAX_BODY)
            .await
            .map_err(|e| WaldurError::body(what, e))?;
        if (200..300).contains(&status) {
            Ok((headers, text))
        } else {
            Err(WaldurError::from_status(what, status, &text))
        }
    }

    /// A request retried on transient errors with jittered exponential backoff.
    pub async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &Query,
        body: Option<&Value>,
    ) -> Result<(reqwest::header::HeaderMap, String), WaldurError> {
        self.retry
            .run(
                what,
                || self.once(what, &method, path, query, body),
                WaldurError::is_retryable,
            )
            .await
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        query: &Query,
    ) -> Result<T, WaldurError> {
        let (_, text) = self.call(what, Method::GET, path, query, None).await?;
        serde_json::from_str(&text).map_err(|e| WaldurError::decode(what, e))
    }

    /// POST a JSON body; the answer body is returned as JSON (`Null` when empty).
    pub async fn post(&self, what: &str, path: &str, body: &Value) -> Result<Value, WaldurError> {
        let (_, text) = self
            .call(what, Method::POST, path, &Vec::new(), Some(body))
            .await?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| WaldurError::decode(what, e))
    }

    /// GET every page of a list (page_size 100). Once the first page gives the total
    /// (`X-Result-Count`), the other pages are fetched a few at a time, in order (a list of
    /// 10,000 resources is 100 pages: one after another they took 1.5 s at 5 ms each); without
    /// it, `Link: rel="next"` is followed page by page.
    pub async fn list<T: DeserializeOwned + Send>(
        &self,
        what: &str,
        path: &str,
        query: &Query,
    ) -> Result<Vec<T>, WaldurError> {
        Ok(self.list_counted(what, path, query).await?.0)
    }

    /// As [`Self::list`], with the total the first page announced (`X-Result-Count`).
    pub async fn list_counted<T: DeserializeOwned + Send>(
        &self,
        what: &str,
        path: &str,
        query: &Query,
    ) -> Result<(Vec<T>, Option<u32>), WaldurError> {
        let page_of = |page: u32| {
            let mut q = query.clone();
            q.push(("page_size".into(), PAGE_SIZE.to_string()));
            q.push(("page".into(), page.to_string()));
            async move {
                let (headers, text) = self.call(what, Method::GET, path, &q, None).await?;
                let items: Vec<T> =
                    serde_json::from_str(&text).map_err(|e| WaldurError::decode(what, e))?;
                Ok::<_, WaldurError>((headers, items))
            }
        };
        let (headers, first) = page_of(1).await?;
        let total = result_count(&headers);
        let got = first.len();
        let mut out = first;
        let mut page = 1u32;
        let mut next = next_page(&headers);
        if let Some(total) = total
            && got == PAGE_SIZE as usize
            && next.is_some()
        {
            let pages = total.div_ceil(PAGE_SIZE).min(MAX_PAGES);
            let mut rest = futures_util::stream::iter(2..=pages)
                .map(page_of)
                .buffered(PAGES_AT_ONCE);
            // Taken in order as they come: never more than a few pages held besides `out`.
            while let Some(r) = rest.next().await {
                let (h, items) = match r {
                    Ok(page) => page,
                    // The list shrank while it was read: its last pages are gone.
                    Err(e) if e.kind == site_agent_sdk::ErrorKind::NotFound => {
                        next = None;
                        break;
                    }
                    Err(e) => return Err(e),
                };
                let n = items.len();
                out.extend(items);
                page += 1;
                next = next_page(&h);
                if n == 0 {
                    next = None;
                    break;
                }
            }
        }
        // Page by page from here (no count, or the list grew meanwhile).
        while let Some(n) = next.filter(|n| *n > page) {
            let (h, items) = page_of(n).await?;
            if items.is_empty() {
                break;
            }
            out.extend(items);
            page = n;
            next = next_page(&h);
        }
        Ok((out, total))
    }
}

/// Items per page asked for.
const PAGE_SIZE: u32 = 100;
/// Pages fetched at once once the total is known.
const PAGES_AT_ONCE: usize = 4;
/// A bound on the pages one list may take (a count that is absurd is not believed).
const MAX_PAGES: u32 = 100_000;

/// `X-Result-Count`: how many items the whole list has.
fn result_count(headers: &reqwest::header::HeaderMap) -> Option<u32> {
    headers
        .get("x-result-count")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The `page` of the `rel="next"` link, if any.
fn next_page(headers: &reqwest::header::HeaderMap) -> Option<u32> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        if !params.contains("rel=\"next\"") {
            return None;
        }
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let parsed = url::Url::parse(url).ok()?;
        parsed
            .query_pairs()
            .find(|(k, _)| k == "page")
            .and_then(|(_, v)| v.parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_next_link() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            "<http://x/api/o/?page_size=100>; rel=\"first\", <http://x/api/o/?page=3&page_size=100>; rel=\"next\", <http://x/api/o/?page=9>; rel=\"last\""
                .parse()
                .unwrap(),
        );
        assert_eq!(next_page(&h), Some(3));
        h.insert(
            reqwest::header::LINK,
            "<http://x/api/o/?page=1>; rel=\"first\"".parse().unwrap(),
        );
        assert_eq!(next_page(&h), None);
    }
}

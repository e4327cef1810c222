//! The one HTTP client of the notifier: HTTPS through rustls with the platform's trust store
//! (the same stack kube uses), plain HTTP for receivers on a private network, a timeout on
//! every request. Errors name what went wrong, never the URL: a Slack or Discord webhook URL
//! is a credential.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::retry::{Verdict, classify};

/// A receiver that does not answer within this long is retried later: the worker must not
/// sit on one message.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Enough of a response to read a deployment id or an error message.
const MAX_RESPONSE: usize = 64 * 1024;

/// What came back from one attempt.
#[derive(Debug)]
pub struct Answer {
    pub verdict: Verdict,
    /// `HTTP 500: <start of the body>` or `timed out after 10 s`: for the page and the log.
    pub error: Option<String>,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    pub fn new() -> Result<HttpClient, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(REQUEST_TIMEOUT));
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("cannot load the platform's trust store: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(HttpClient {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// POSTs `body` as JSON with `headers`.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Answer {
        let failed = |error: String| Answer {
            verdict: Verdict::Failed,
            error: Some(error),
            body: Bytes::new(),
        };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("ordo/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = match request.body(Full::new(Bytes::from(body))) {
            Ok(r) => r,
            Err(_) => return failed("the receiver's URL or a header is not valid".into()),
        };
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = Limited::new(response.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, hyper_util::client::legacy::Error>((status, retry_after, body))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Err(_) => Answer {
                verdict: Verdict::Retry(None),
                error: Some(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())),
                body: Bytes::new(),
            },
            Ok(Err(e)) => Answer {
                verdict: Verdict::Retry(None),
                error: Some(connect_error(&e)),
                body: Bytes::new(),
            },
            Ok(Ok((status, retry_after, body))) => {
                let verdict = classify(status, retry_after.as_deref(), SystemTime::now());
                let error = (verdict != Verdict::Delivered).then(|| {
                    let text = String::from_utf8_lossy(&body);
                    let text = super::event::clip(text.trim(), 200);
                    if text.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        format!("HTTP {status}: {text}")
                    }
                });
                Answer {
                    verdict,
                    error,
                    body,
                }
            }
        }
    }
}

/// The cause of a failed request, without the URL hyper may carry in its messages.
fn connect_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    let what = if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    match last {
        Some(cause) if !cause.contains("://") => format!("{what}: {cause}"),
        _ => what.to_owned(),
    }
}

//! `POST /api/v1/webhook`: push notifications from GitHub, GitLab, Gitea, Forgejo, or anything
//! that can sign a small JSON body (`X-Ordo-Signature`). A verified push reconciles the apps
//! that follow the pushed repository and branch right away instead of at their next interval.
//!
//! Every request is authenticated before its body is parsed, compared in constant time, and
//! counted in `ordo_webhook_requests_total{provider,result}`.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc::error::TrySendError;

use super::ServerState;
use super::api::same_secret;
use super::error::ApiError;
use crate::agent::{Command, Push};

/// Push payloads are a few KiB (GitHub caps them at 25 MB, but only with thousands of commits,
/// which carry nothing a sync needs).
pub const BODY_LIMIT: usize = 1024 * 1024;

pub fn routes() -> Vec<(&'static str, MethodRouter<ServerState>)> {
    vec![(
        "/api/v1/webhook",
        post(receive).layer(DefaultBodyLimit::max(BODY_LIMIT)),
    )]
}

/// Who sent the request, judged by the headers each provider documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    GitLab,
    Gitea,
    Forgejo,
    Generic,
}

impl Provider {
    pub fn label(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Gitea => "gitea",
            Provider::Forgejo => "forgejo",
            Provider::Generic => "generic",
        }
    }

    /// Forgejo also sends Gitea's headers, and Gitea GitHub's, for compatibility: the most
    /// specific provider is checked first.
    pub fn detect(headers: &HeaderMap) -> Option<Provider> {
        let has = |name: &str| headers.contains_key(name);
        if has("x-forgejo-signature") || has("x-forgejo-event") {
            Some(Provider::Forgejo)
        } else if has("x-gitea-signature") || has("x-gitea-event") {
            Some(Provider::Gitea)
        } else if has("x-gitlab-event") || has("x-gitlab-token") {
            Some(Provider::GitLab)
        } else if has("x-github-event") || has("x-hub-signature-256") {
            Some(Provider::GitHub)
        } else if has("x-ordo-signature") {
            Some(Provider::Generic)
        } else {
            None
        }
    }

    /// Whether the request carries proof of the shared secret, as this provider signs.
    pub fn verify(self, headers: &HeaderMap, body: &[u8], secret: &[u8]) -> bool {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match self {
            // GitLab sends the secret itself, not a signature.
            Provider::GitLab => {
                header("x-gitlab-token").is_some_and(|t| same_secret(t.as_bytes(), secret))
            }
            Provider::GitHub => header("x-hub-signature-256")
                .and_then(|s| s.strip_prefix("sha256="))
                .is_some_and(|hex| signed(body, secret, hex)),
            Provider::Generic => header("x-ordo-signature")
                .and_then(|s| s.strip_prefix("sha256="))
                .is_some_and(|hex| signed(body, secret, hex)),
            Provider::Gitea => {
                header("x-gitea-signature").is_some_and(|hex| signed(body, secret, hex))
            }
            Provider::Forgejo => {
                header("x-forgejo-signature").is_some_and(|hex| signed(body, secret, hex))
            }
        }
    }

    /// What the request announces; `Err` when the body is not the JSON this provider sends.
    pub fn delivery(self, headers: &HeaderMap, body: &[u8]) -> Result<Delivery, String> {
        let event = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let event = match self {
            Provider::GitHub => event("x-github-event"),
            Provider::GitLab => event("x-gitlab-event"),
            Provider::Gitea => event("x-gitea-event"),
            Provider::Forgejo => event("x-forgejo-event"),
            Provider::Generic => "push".to_owned(),
        };
        let is_push = match self {
            Provider::GitLab => event == "Push Hook" || event == "Tag Push Hook",
            _ => event.eq_ignore_ascii_case("push"),
        };
        if event.eq_ignore_ascii_case("ping") {
            return Ok(Delivery::Ping);
        }
        if !is_push {
            return Ok(Delivery::Other(event));
        }
        let payload: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        if !payload.is_object() {
            return Err("the body is not a JSON object".to_owned());
        }
        Ok(Delivery::Push(match self {
            Provider::GitLab => payload::gitlab(&payload),
            Provider::Generic => payload::generic(&payload)?,
            _ => payload::github(&payload),
        }))
    }
}

/// `hex` is the HMAC-SHA256 of `body` keyed with `secret`. `verify_slice` compares in
/// constant time.
fn signed(body: &[u8], secret: &[u8], hex: &str) -> bool {
    let Some(signature) = decode_hex(hex.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Push(Push),
    Ping,
    /// An event ordo does not act on (issues, pull requests, …), by name.
    Other(String),
}

/// The push a provider's payload describes.
mod payload {
    use serde_json::Value;

    use super::strings;
    use crate::agent::Push;

    /// GitHub, Gitea and Forgejo share the payload shape.
    pub(super) fn github(payload: &Value) -> Push {
        let repo = &payload["repository"];
        Push {
            urls: strings(
                repo,
                &["clone_url", "ssh_url", "git_url", "html_url", "url"],
            ),
            reference: payload["ref"].as_str().map(str::to_owned),
            default_branch: repo["default_branch"].as_str().map(str::to_owned),
        }
    }

    pub(super) fn gitlab(payload: &Value) -> Push {
        let project = &payload["project"];
        let mut urls = strings(
            project,
            &[
                "git_http_url",
                "git_ssh_url",
                "web_url",
                "http_url",
                "ssh_url",
                "url",
            ],
        );
        urls.extend(strings(
            &payload["repository"],
            &["git_http_url", "git_ssh_url", "homepage", "url"],
        ));
        Push {
            urls,
            reference: payload["ref"].as_str().map(str::to_owned),
            default_branch: project["default_branch"].as_str().map(str::to_owned),
        }
    }

    pub(super) fn generic(payload: &Value) -> Result<Push, String> {
        let Some(repo) = payload["repo"].as_str() else {
            return Err("the body needs \"repo\": the repository URL".to_owned());
        };
        Ok(Push {
            urls: vec![repo.to_owned()],
            reference: payload["ref"].as_str().map(str::to_owned),
            default_branch: None,
        })
    }
}

fn strings(object: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .filter_map(|k| object[*k].as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// How a request ended, for the counter.
mod result {
    pub const TRIGGERED: &str = "triggered";
    pub const IGNORED: &str = "ignored";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const DISABLED: &str = "disabled";
    pub const INVALID: &str = "invalid";
    pub const TOO_LARGE: &str = "too_large";
    pub const STANDBY: &str = "standby";
}

/// Whether the request is a webhook signed with this agent's secret (what a standby checks
/// before it forwards one, `forward.rs`).
pub fn authentic(state: &ServerState, headers: &HeaderMap, body: &[u8]) -> bool {
    let (Some(secret), Some(provider)) =
        (state.webhook_secret.as_deref(), Provider::detect(headers))
    else {
        return false;
    };
    provider.verify(headers, body, secret)
}

async fn receive(
    State(state): State<ServerState>,
    forwarded: Option<Extension<super::forward::FromStandby>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // A standby checked the signature and forwards without it (GitLab's is the secret itself);
    // the generic form has no event header of its own.
    let forwarded = forwarded.is_some();
    let provider = Provider::detect(&headers).or(forwarded.then_some(Provider::Generic));
    let (result, response) = match handle(&state, provider, forwarded, &headers, body) {
        Ok((result, response)) => (result, response),
        Err((result, error)) => (result, error.into_response()),
    };
    state
        .metrics
        .webhook(provider.map_or("unknown", Provider::label), result);
    response
}

type Outcome = Result<(&'static str, Response), (&'static str, ApiError)>;

fn handle(
    state: &ServerState,
    provider: Option<Provider>,
    forwarded: bool,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Outcome {
    let Some(secret) = state.webhook_secret.as_deref() else {
        return Err((
            result::DISABLED,
            ApiError::forbidden(
                "webhooks are disabled: set webhookSecretFile in the config and sign with that secret",
            ),
        ));
    };
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            (result::TOO_LARGE, ApiError::too_large(BODY_LIMIT))
        } else {
            (result::INVALID, ApiError::bad_request(e.body_text()))
        }
    })?;
    let Some(provider) = provider else {
        return Err((
            result::UNAUTHORIZED,
            ApiError::unauthorized(
                "the request is not signed: send X-Hub-Signature-256 (GitHub), X-Gitlab-Token (GitLab), X-Gitea-Signature / X-Forgejo-Signature, or X-Ordo-Signature: sha256=<HMAC-SHA256 of the body>",
            ),
        ));
    };
    if !forwarded && !provider.verify(headers, &body, secret) {
        return Err((
            result::UNAUTHORIZED,
            ApiError::unauthorized(format!(
                "the {} signature is missing or does not match: sign with the secret in the agent's webhookSecretFile",
                provider.label()
            )),
        ));
    }
    let delivery = provider.delivery(headers, &body).map_err(|e| {
        (
            result::INVALID,
            ApiError::bad_request(format!(
                "the {} payload cannot be read: {e}",
                provider.label()
            )),
        )
    })?;
    let push = match delivery {
        Delivery::Push(push) => push,
        Delivery::Ping => return Ok((result::IGNORED, ignored("ping"))),
        Delivery::Other(event) => return Ok((result::IGNORED, ignored(&event))),
    };
    // A standby replica would drop the trigger: say so, so the delivery shows as failed and
    // can be redelivered (the leader picks the commit up at its next poll anyway).
    if state
        .apps
        .values()
        .any(|h| h.state.borrow().phase == crate::agent::Phase::Standby)
    {
        return Err((
            result::STANDBY,
            ApiError::unavailable(
                "this replica is on standby: another replica holds the leader lease and polls the repository; redeliver to the leader, or wait for its next poll",
                5,
            ),
        ));
    }
    let triggered = trigger(state, &push);
    tracing::info!(
        provider = provider.label(),
        reference = push.reference.as_deref().unwrap_or("-"),
        apps = ?triggered,
        "webhook: push received"
    );
    let result = if triggered.is_empty() {
        result::IGNORED
    } else {
        result::TRIGGERED
    };
    let reply = (
        StatusCode::ACCEPTED,
        Json(json!({ "triggered": triggered })),
    );
    Ok((result, reply.into_response()))
}

fn ignored(event: &str) -> Response {
    Json(json!({"triggered": [], "ignored": format!("event {event:?} triggers nothing; only pushes do")}))
        .into_response()
}

/// Sends `Command::Webhook` to every app the push concerns; returns their names. Which
/// repository and ref an app follows comes from its published state (git's settings, as the
/// agent was configured), not from anything in the request.
fn trigger(state: &ServerState, push: &Push) -> Vec<String> {
    state
        .apps
        .iter()
        .filter(|(_, handle)| {
            let app = handle.state.borrow();
            push.concerns(&app.repo, &app.reference)
        })
        .filter_map(|(name, handle)| {
            match handle.commands.try_send(Command::Webhook) {
                // A full queue already holds requests that reconcile the app, which fetches
                // the new head all the same.
                Ok(()) | Err(TrySendError::Full(_)) => Some(name.clone()),
                Err(TrySendError::Closed(_)) => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_hmac_sha256_of_the_exact_body() {
        // RFC 4231 test case 2.
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert!(signed(b"what do ya want for nothing?", b"Jefe", expected));
        assert!(signed(
            b"what do ya want for nothing?",
            b"Jefe",
            &expected.to_uppercase()
        ));
        assert!(!signed(b"what do ya want for nothing? ", b"Jefe", expected));
        assert!(!signed(b"what do ya want for nothing?", b"jefe", expected));
        assert!(!signed(b"what do ya want for nothing?", b"Jefe", "5bdc"));
        assert!(!signed(b"what do ya want for nothing?", b"Jefe", "zz"));
    }
}

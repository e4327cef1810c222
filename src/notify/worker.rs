//! One task per receiver: takes messages off its queue in order, applies the per-minute cap,
//! sends with retries, and records the result (metric, board, one log line per message that
//! could not be delivered; the retries before it are debug lines).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::email::{self, Mail};
use super::event::Event;
use super::payload::{self, Note};
use super::rate::RateCap;
use super::receiver::{Receiver, ReceiverKind};
use super::retry::{Verdict, next_delay};
use super::send::HttpClient;
use super::status::{self, Request};
use super::{Count, Deliveries};
use crate::metrics::Metrics;

/// What every receiver's task shares.
pub(super) struct Shared {
    pub repos: HashMap<String, String>,
    pub external_url: Option<String>,
    pub http: HttpClient,
    pub metrics: Arc<Metrics>,
    pub deliveries: Deliveries,
}

impl Shared {
    fn link(&self, app: &str) -> Option<String> {
        let base = self.external_url.as_deref()?;
        Some(format!("{}/apps/{app}", base.trim_end_matches('/')))
    }
}

struct Worker {
    receiver: Receiver,
    shared: Arc<Shared>,
    cap: RateCap,
    /// GitHub: the deployment each (app, revision) sync created, for its later statuses.
    deployments: HashMap<(String, String), u64>,
    /// The error last logged: a receiver failing the same way (a wrong token, a dead
    /// endpoint) is logged once, not once per message; the metric and the page count them all.
    logged: Option<String>,
    /// Apps whose repository is on another host than this git-host receiver's API: said once
    /// per app, counted every time.
    foreign: HashSet<String>,
}

/// Why a message was not delivered.
#[derive(Debug)]
enum Undelivered {
    /// Tried and failed (or could not be tried): counted `failed`.
    Failed(String),
    /// Not this receiver's to send (an app on another git host): counted `skipped`.
    Skipped(String),
}

impl From<String> for Undelivered {
    fn from(error: String) -> Self {
        Undelivered::Failed(error)
    }
}

impl From<&str> for Undelivered {
    fn from(error: &str) -> Self {
        Undelivered::Failed(error.to_owned())
    }
}

pub(super) async fn run(
    receiver: Receiver,
    mut queue: mpsc::Receiver<Arc<Event>>,
    shared: Arc<Shared>,
) {
    let cap = RateCap::new(receiver.max_per_minute, Instant::now());
    let mut w = Worker {
        receiver,
        shared,
        cap,
        deployments: HashMap::new(),
        logged: None,
        foreign: HashSet::new(),
    };
    loop {
        let summary_at = w.cap.window_end();
        let owed = w.cap.summary_due(summary_at);
        tokio::select! {
            next = queue.recv() => match next {
                Some(event) => w.handle(&event).await,
                None => return,
            },
            _ = tokio::time::sleep_until(summary_at.into()), if owed => w.summarize().await,
        }
    }
}

impl Worker {
    fn name(&self) -> &str {
        &self.receiver.name
    }

    async fn handle(&mut self, event: &Event) {
        let now = Instant::now();
        if self.cap.summary_due(now) {
            self.summarize().await;
        }
        if !self.cap.admit(now) {
            self.shared.metrics.notification(self.name(), "held_back");
            self.shared.deliveries.count(self.name(), Count::HeldBack);
            return;
        }
        let result = self.deliver(event).await;
        self.record(
            result,
            &format!("{} {} {}", event.app, event.kind, event.short_revision()),
        );
    }

    /// Sends the message that stands for what the cap held back (git hosts get none: a
    /// commit status cannot say it).
    async fn summarize(&mut self) {
        let held = self.cap.roll(Instant::now());
        if held == 0 {
            return;
        }
        info!(receiver = %self.name(), held_back = held, cap = self.cap.cap(), "notifications held back by the per-minute cap");
        if self.receiver.kind.is_git_host() {
            return;
        }
        let note = Note::suppressed(self.name(), held, self.cap.cap());
        let body = payload::webhook_summary(self.name(), held, self.cap.cap());
        let result = self.send_note(&note, body).await;
        self.record(result.map_err(Undelivered::Failed), "summary");
    }

    fn record(&mut self, result: Result<(), Undelivered>, what: &str) {
        match result {
            Ok(()) => {
                if self.logged.take().is_some() {
                    info!(receiver = %self.name(), "notifications delivered again");
                }
                self.shared.metrics.notification(self.name(), "delivered");
                self.shared.deliveries.count(self.name(), Count::Delivered);
            }
            Err(Undelivered::Skipped(why)) => {
                self.shared.metrics.notification(self.name(), "skipped");
                self.shared.deliveries.failed(self.name(), &why, unix_now());
            }
            Err(Undelivered::Failed(error)) => {
                // One line per kind of failure (its retries were debug lines); the same
                // failure again is a debug line until something is delivered.
                if self.logged.as_deref() == Some(error.as_str()) {
                    debug!(receiver = %self.name(), about = %what, error = %error, "notification not delivered (again)");
                } else {
                    warn!(receiver = %self.name(), kind = %self.receiver.kind, about = %what, error = %error, "notification not delivered; the same failure again is counted, not logged");
                    self.logged = Some(error.clone());
                }
                self.shared.metrics.notification(self.name(), "failed");
                self.shared
                    .deliveries
                    .failed(self.name(), &error, unix_now());
            }
        }
    }

    async fn deliver(&mut self, event: &Event) -> Result<(), Undelivered> {
        let link = self.shared.link(&event.app);
        if self.receiver.kind.is_git_host() {
            return self.commit_status(event, link.as_deref()).await;
        }
        let note = Note::of(event, link.as_deref());
        let body = payload::webhook(event, link.as_deref());
        Ok(self.send_note(&note, body).await?)
    }

    /// A chat message, a signed webhook or an email.
    async fn send_note(&self, note: &Note, webhook_body: Value) -> Result<(), String> {
        let r = &self.receiver;
        let url = r.url.as_ref().ok_or("no url")?.read()?;
        if r.kind == ReceiverKind::Smtp {
            let password = r.token.as_ref().map(|t| t.read()).transpose()?;
            return retrying(self.name(), || async {
                let mail = Mail {
                    url: &url,
                    from: r.from.as_deref().unwrap_or("ordo@localhost"),
                    to: &r.to,
                    username: r.username.as_deref(),
                    password: password.clone(),
                };
                let (verdict, error) = email::send(mail, note).await;
                (verdict, error, ())
            })
            .await
            .map(|_| ());
        }
        let (body, headers) = match payload::chat(r.kind, note) {
            Some(body) => (body, Vec::new()),
            None => {
                let body = webhook_body;
                let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
                let mut headers = vec![(
                    "x-ordo-event",
                    body["kind"].as_str().unwrap_or("").to_owned(),
                )];
                if let Some(path) = &r.secret {
                    let key = std::fs::read(path)
                        .map_err(|e| format!("cannot read secretFile {}: {e}", path.display()))?;
                    let key = trim_newline(&key);
                    let signature = payload::signature(key, &bytes).ok_or("cannot sign")?;
                    headers.push(("x-ordo-signature", signature));
                }
                (body, headers)
            }
        };
        let request = Request { url, headers, body };
        self.post(&request).await.map(|_| ())
    }

    /// Commit status (and, on GitHub, the deployment and its status) of the event's revision.
    async fn commit_status(
        &mut self,
        event: &Event,
        link: Option<&str>,
    ) -> Result<(), Undelivered> {
        let kind = self.receiver.kind;
        let repo = self.status_repo(&event.app)?;
        let token = self.receiver.token.as_ref().ok_or("no token")?.read()?;
        if let Some(request) = status::commit_status(kind, &repo, event, link, &token) {
            self.post(&request).await?;
        }
        if kind == ReceiverKind::Github {
            self.deployment(&repo, event, link, &token).await?;
        }
        Ok(())
    }

    /// The app's repository on this receiver's API. The API is the receiver's own (checked
    /// again here, whatever built the receiver): never taken from the repository URL, and
    /// never plain HTTP.
    fn status_repo(&mut self, app: &str) -> Result<status::Repo, Undelivered> {
        let kind = self.receiver.kind;
        let base = match &self.receiver.url {
            Some(url) => url.read()?,
            None if kind == ReceiverKind::Github => status::GITHUB_API.to_owned(),
            None => return Err(format!("no API address (url) for this {kind} receiver").into()),
        };
        let api = status::Api::new(kind, &base)?;
        let repo_url = self.shared.repos.get(app).ok_or("unknown app")?;
        match api.repo(repo_url) {
            Ok(repo) => Ok(repo),
            Err(status::NoRepo::NoPath) => {
                Err("the app's repository URL names no owner/repository".into())
            }
            Err(status::NoRepo::OtherHost(host)) => {
                let why = format!(
                    "app {app}'s repository is on {host}, not on {}: no commit status sent \
                     (this receiver's token is for {} only)",
                    api.host(),
                    api.host()
                );
                if self.foreign.insert(app.to_owned()) {
                    warn!(receiver = %self.name(), app, repository_host = %host, api_host = %api.host(), "commit status not sent: the app's repository is on another host than this receiver's API; add a receiver for that host (said once per app)");
                }
                Err(Undelivered::Skipped(why))
            }
        }
    }

    async fn deployment(
        &mut self,
        repo: &status::Repo,
        event: &Event,
        link: Option<&str>,
        token: &str,
    ) -> Result<(), String> {
        let key = (event.app.clone(), event.revision.clone());
        if event.kind == super::EventKind::SyncStarted {
            // Only the app's latest sync gets statuses: a superseded one never ends, and its
            // entry must not stay behind.
            self.deployments.retain(|(app, _), _| *app != event.app);
            let created = self
                .post(&status::github_deployment(repo, event, token))
                .await?;
            let id = serde_json::from_slice::<Value>(&created)
                .ok()
                .and_then(|v| v["id"].as_u64())
                .ok_or("GitHub answered the deployment without an id")?;
            self.deployments.insert(key.clone(), id);
        }
        let id = if event.kind == super::EventKind::SyncStarted {
            self.deployments.get(&key).copied()
        } else {
            self.deployments.remove(&key)
        };
        match id.and_then(|id| status::github_deployment_status(repo, id, event, link, token)) {
            Some(request) => self.post(&request).await.map(|_| ()),
            None => Ok(()),
        }
    }

    async fn post(&self, request: &Request) -> Result<bytes::Bytes, String> {
        let body = serde_json::to_vec(&request.body).map_err(|e| e.to_string())?;
        retrying(self.name(), || async {
            let answer = self
                .shared
                .http
                .post(&request.url, &request.headers, body.clone())
                .await;
            (answer.verdict, answer.error, answer.body)
        })
        .await
    }
}

/// Attempts until delivered, refused, or out of retries (see `retry.rs`).
async fn retrying<T, F, Fut>(receiver: &str, mut attempt: F) -> Result<T, String>
where
    T: Default,
    F: FnMut() -> Fut,
    Fut: Future<Output = (Verdict, Option<String>, T)>,
{
    let mut n = 1;
    loop {
        let (verdict, error, out) = attempt().await;
        let error = error.unwrap_or_default();
        match verdict {
            Verdict::Delivered => return Ok(out),
            Verdict::Failed => return Err(error),
            Verdict::Retry(after) => match next_delay(n, after) {
                Some(delay) => {
                    debug!(receiver, attempt = n, error = %error, delay_ms = delay.as_millis() as u64, "notification: retrying");
                    tokio::time::sleep(delay).await;
                    n += 1;
                }
                None => return Err(format!("{error} (gave up after {n} attempts)")),
            },
        }
    }
}

/// Unix seconds, for the board.
pub(super) fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn trim_newline(key: &[u8]) -> &[u8] {
    let key = key.strip_suffix(b"\n").unwrap_or(key);
    key.strip_suffix(b"\r").unwrap_or(key)
}

//! A real Gitea (and Mailpit) for one test, started and stopped by `scripts/gitea.sh` with its
//! own state directory and free ports, and the few API calls a user would make.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

pub struct Gitea {
    dir: tempfile::TempDir,
    pub url: String,
    pub user: String,
    pub token_file: PathBuf,
    pub token: String,
    pub smtp: String,
    pub mailpit: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gitea.sh")
}

pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

impl Gitea {
    /// `scripts/gitea.sh up` (builds Gitea and Mailpit first if the cache lacks them).
    pub fn start() -> Gitea {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("gitea");
        let out = Command::new(script())
            .arg("up")
            .env("ORDO_GITEA_DIR", &state)
            .env("ORDO_GITEA_PORT", free_port().to_string())
            .env("ORDO_MAILPIT_SMTP_PORT", free_port().to_string())
            .env("ORDO_MAILPIT_PORT", free_port().to_string())
            .output()
            .expect("scripts/gitea.sh runs");
        assert!(
            out.status.success(),
            "scripts/gitea.sh up failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(state.join("env")).unwrap();
        let var = |name: &str| -> String {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("{name} missing from {env}"))
                .to_owned()
        };
        let token_file = PathBuf::from(var("ORDO_GITEA_TOKEN_FILE"));
        let token = std::fs::read_to_string(&token_file)
            .unwrap()
            .trim()
            .to_owned();
        Gitea {
            url: var("ORDO_GITEA_URL"),
            user: var("ORDO_GITEA_USER"),
            token_file,
            token,
            smtp: var("ORDO_MAILPIT_SMTP"),
            mailpit: var("ORDO_MAILPIT_API"),
            dir,
        }
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/api/v1{path}", self.url);
        let auth = format!("token {}", self.token);
        let mut response = match body {
            Some(b) => client()
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(b.to_string().as_bytes())
                .unwrap(),
            None => {
                assert_eq!(method, "GET");
                client()
                    .get(&url)
                    .header("authorization", &auth)
                    .call()
                    .unwrap()
            }
        };
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn get(&self, path: &str) -> Value {
        let (status, body) = self.request("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.request("POST", path, Some(body));
        assert!(
            (200..300).contains(&status),
            "POST {path}: {status} {answer}"
        );
        answer
    }

    /// A private repository of the admin user; returns its clone URL (no credentials in it).
    pub fn create_repo(&self, name: &str) -> String {
        let repo = self.post(
            "/user/repos",
            json!({"name": name, "private": true, "default_branch": "main"}),
        );
        repo["clone_url"].as_str().unwrap().to_owned()
    }

    /// The clone URL with the token as the password: how a user pushes over HTTP.
    pub fn push_url(&self, clone_url: &str) -> String {
        clone_url.replacen("://", &format!("://{}:{}@", self.user, self.token), 1)
    }

    /// A push webhook to `target`, signed with `secret`, created as a user would.
    pub fn add_webhook(&self, repo: &str, target: &str, secret: &str) {
        self.post(
            &format!("/repos/{}/{repo}/hooks", self.user),
            json!({
                "type": "gitea",
                "active": true,
                "events": ["push"],
                "branch_filter": "*",
                "config": {"url": target, "content_type": "json", "secret": secret},
            }),
        );
    }

    /// The commit statuses of `sha` (newest first), as Gitea lists them.
    pub fn statuses(&self, repo: &str, sha: &str) -> Vec<Value> {
        self.get(&format!(
            "/repos/{}/{repo}/commits/{sha}/statuses",
            self.user
        ))
        .as_array()
        .cloned()
        .unwrap_or_default()
    }

    /// The emails Mailpit received (summaries: Subject, To, …).
    pub fn emails(&self) -> Vec<Value> {
        let mut response = client()
            .get(&format!("{}/api/v1/messages", self.mailpit))
            .call()
            .unwrap();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        doc["messages"].as_array().cloned().unwrap_or_default()
    }

    /// One email's plain text.
    pub fn email_text(&self, id: &str) -> String {
        let mut response = client()
            .get(&format!("{}/api/v1/message/{id}", self.mailpit))
            .call()
            .unwrap();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        doc["Text"].as_str().unwrap_or_default().to_owned()
    }
}

impl Drop for Gitea {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("down")
            .env("ORDO_GITEA_DIR", self.dir.path().join("gitea"))
            .output();
    }
}

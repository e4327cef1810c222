//! The `smtp` receiver: one plain-text email per message, through lettre's async SMTP
//! transport. The URL is lettre's: `smtp://host:25` (no TLS, for a relay on the same network),
//! `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465` (TLS); the login is
//! `username` with the password from `tokenFile`/`tokenEnv`.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::payload::Note;
use super::retry::Verdict;
use super::send::REQUEST_TIMEOUT;

/// Where and how to send, read at each delivery (the password may rotate).
pub struct Mail<'a> {
    pub url: &'a str,
    pub from: &'a str,
    pub to: &'a [String],
    pub username: Option<&'a str>,
    pub password: Option<String>,
}

/// Sends `note`; the verdict says whether to try again (a refused login or address is not
/// retried, a server that is down or says 4xx is).
pub async fn send(mail: Mail<'_>, note: &Note) -> (Verdict, Option<String>) {
    let message = match message(&mail, note) {
        Ok(m) => m,
        Err(e) => return (Verdict::Failed, Some(e)),
    };
    let builder = match AsyncSmtpTransport::<Tokio1Executor>::from_url(mail.url) {
        Ok(b) => b,
        // lettre's message may echo the URL, which may carry a login: name the field only.
        Err(_) => return (Verdict::Failed, Some("url is not a valid SMTP URL".into())),
    };
    let mut builder = builder.timeout(Some(REQUEST_TIMEOUT));
    if let (Some(user), Some(password)) = (mail.username, mail.password) {
        builder = builder.credentials(Credentials::new(user.to_owned(), password));
    }
    let transport = builder.build();
    let sent = tokio::time::timeout(
        REQUEST_TIMEOUT + Duration::from_secs(5),
        transport.send(message),
    )
    .await;
    match sent {
        Ok(Ok(_)) => (Verdict::Delivered, None),
        Ok(Err(e)) => {
            // 5xx (a refused login or recipient) will be refused again; the rest may pass.
            let verdict = if e.is_permanent() {
                Verdict::Failed
            } else {
                Verdict::Retry(None)
            };
            (verdict, Some(format!("SMTP: {e}")))
        }
        Err(_) => (
            Verdict::Retry(None),
            Some(format!(
                "SMTP: no answer within {} s",
                REQUEST_TIMEOUT.as_secs()
            )),
        ),
    }
}

fn message(mail: &Mail<'_>, note: &Note) -> Result<Message, String> {
    let from: Mailbox = mail
        .from
        .parse()
        .map_err(|e| format!("from is not an address: {e}"))?;
    let mut builder = Message::builder().from(from).subject(note.title.clone());
    for to in mail.to {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("to {to:?} is not an address: {e}"))?;
        builder = builder.to(to);
    }
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(note.text())
        .map_err(|e| format!("cannot build the email: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_has_subject_recipients_and_text() {
        let note = Note {
            title: "travel: SyncFailed".into(),
            fields: vec![("Revision", "abc1234".into())],
            link: Some("https://ordo/apps/travel".into()),
            bad: true,
        };
        let to = vec![
            "ops@example.com".to_owned(),
            "Dev <dev@example.com>".to_owned(),
        ];
        let mail = Mail {
            url: "smtp://127.0.0.1:1025",
            from: "ordo <ordo@example.com>",
            to: &to,
            username: None,
            password: None,
        };
        let raw = String::from_utf8(message(&mail, &note).unwrap().formatted()).unwrap();
        for want in [
            "Subject: travel: SyncFailed",
            "To: ops@example.com, Dev <dev@example.com>",
            "From: ordo <ordo@example.com>",
            "Revision: abc1234",
            "https://ordo/apps/travel",
        ] {
            assert!(raw.contains(want), "{want:?} missing from:\n{raw}");
        }
        let bad = vec!["not an address".to_owned()];
        let mail = Mail { to: &bad, ..mail };
        assert!(
            message(&mail, &note)
                .unwrap_err()
                .starts_with("to \"not an address\"")
        );
    }
}

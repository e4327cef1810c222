//! The bodies sent to chat services and webhooks, each in its provider's documented shape.
//! Pure: an event (or a rate-cap summary) in, JSON out.
//!
//! - Slack incoming webhooks: `{"text": …}` with Block Kit `blocks` (the text is the
//!   notification fallback).
//! - Discord webhooks: `{"content": …, "embeds": [{title, description, url, color, fields}]}`,
//!   content at most 2,000 characters, field values at most 1,024.
//! - Microsoft Teams Workflows webhooks: `{"type": "message", "attachments": [{"contentType":
//!   "application/vnd.microsoft.card.adaptive", "content": <Adaptive Card 1.4>}]}` (Office 365
//!   connectors and their MessageCard are retired).
//! - `webhook`: ordo's own JSON, `{"kind", "app", "revision", …, "url"}`, signed with
//!   HMAC-SHA256 over the exact body (`X-Ordo-Signature: sha256=<hex>`), as GitHub signs its
//!   webhooks.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::event::{Event, MAX_TEXT, clip};
use super::receiver::ReceiverKind;

/// What a message says, whatever carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub title: String,
    /// Label and value pairs: revision, commit, author, result, duration, object, reason.
    pub fields: Vec<(&'static str, String)>,
    pub link: Option<String>,
    pub bad: bool,
}

impl Note {
    pub fn of(event: &Event, link: Option<&str>) -> Note {
        let mut fields = Vec::new();
        if !event.revision.is_empty() {
            fields.push(("Revision", event.short_revision().to_owned()));
        }
        if !event.message.is_empty() {
            fields.push(("Commit", clip(event.title(), 200)));
        }
        if !event.author.is_empty() {
            fields.push(("Author", event.author.clone()));
        }
        if !event.result.is_empty() {
            fields.push(("Result", event.result.clone()));
        }
        if let Some(d) = event.duration_seconds {
            fields.push(("Duration", format!("{d:.1} s")));
        }
        if let Some(o) = &event.object {
            fields.push(("Object", o.clone()));
        }
        if let Some(r) = &event.reason {
            fields.push(("Reason", clip(r, MAX_TEXT)));
        }
        Note {
            title: format!("{}: {}", event.app, event.kind),
            fields,
            link: link.map(str::to_owned),
            bad: event.kind.is_bad(),
        }
    }

    /// The message that stands for `count` messages the rate cap held back.
    pub fn suppressed(receiver: &str, count: u64, cap: u32) -> Note {
        Note {
            title: format!("ordo: {count} notifications held back"),
            fields: vec![(
                "Why",
                format!("receiver {receiver} sends at most {cap} a minute; see the status page"),
            )],
            link: None,
            bad: true,
        }
    }

    /// Plain text: the title, then one `Label: value` line per field, then the link.
    pub fn text(&self) -> String {
        let mut out = self.title.clone();
        for (label, value) in &self.fields {
            out.push_str(&format!("\n{label}: {value}"));
        }
        if let Some(link) = &self.link {
            out.push_str(&format!("\n{link}"));
        }
        out
    }
}

/// The JSON body for a chat receiver; `None` for the other kinds.
pub fn chat(kind: ReceiverKind, note: &Note) -> Option<Value> {
    match kind {
        ReceiverKind::Slack => Some(slack(note)),
        ReceiverKind::Discord => Some(discord(note)),
        ReceiverKind::Msteams => Some(msteams(note)),
        _ => None,
    }
}

fn slack(note: &Note) -> Value {
    let fields: Vec<Value> = note
        .fields
        .iter()
        .map(|(l, v)| json!({"type": "mrkdwn", "text": format!("*{l}*\n{}", escape_slack(v))}))
        .collect();
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!("*{}*", escape_slack(&note.title))},
    })];
    // Slack allows at most 10 fields in a section.
    for chunk in fields.chunks(10) {
        blocks.push(json!({"type": "section", "fields": chunk}));
    }
    if let Some(link) = &note.link {
        blocks.push(json!({
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open in ordo"}, "url": link}],
        }));
    }
    // The fallback (notifications, clients without blocks) is mrkdwn too: escaped like the
    // blocks, or a commit message saying `<!channel>` pings everyone, `<https://x|y>` links.
    json!({"text": escape_slack(&note.text()), "blocks": blocks})
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup; these three are the escapes Slack
/// documents ("Escaping text"), and nothing else needs one.
fn escape_slack(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn discord(note: &Note) -> Value {
    let fields: Vec<Value> = note
        .fields
        .iter()
        .map(|(l, v)| json!({"name": l, "value": clip(v, 1000), "inline": v.len() < 40}))
        .collect();
    let mut embed = json!({
        "title": clip(&note.title, 250),
        // Red for bad news, green otherwise.
        "color": if note.bad { 0xD9_3F_0B } else { 0x2E_A0_43 },
        "fields": fields,
    });
    if let Some(link) = &note.link {
        embed["url"] = json!(link);
    }
    json!({"content": clip(&note.title, 1900), "embeds": [embed]})
}

fn msteams(note: &Note) -> Value {
    let facts: Vec<Value> = note
        .fields
        .iter()
        .map(|(l, v)| json!({"title": l, "value": v}))
        .collect();
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": note.title, "weight": "Bolder", "size": "Medium",
             "color": if note.bad { "Attention" } else { "Good" }, "wrap": true},
            {"type": "FactSet", "facts": facts},
        ],
    });
    if let Some(link) = &note.link {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open in ordo", "url": link}]);
    }
    json!({
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
    })
}

/// The `webhook` receiver's body: the event as JSON, with the page link.
pub fn webhook(event: &Event, link: Option<&str>) -> Value {
    let mut body = json!(event);
    body["url"] = json!(link);
    body
}

/// The `webhook` receiver's body for a rate-cap summary.
pub fn webhook_summary(receiver: &str, count: u64, cap: u32) -> Value {
    json!({"kind": "Suppressed", "receiver": receiver, "count": count, "maxPerMinute": cap})
}

/// `sha256=<hex>` of HMAC-SHA256(key, body): the value of `X-Ordo-Signature`. `None` only if
/// the HMAC refused the key (it takes any length, so never in practice).
pub fn signature(key: &[u8], body: &[u8]) -> Option<String> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("sha256={hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::EventKind;

    fn failed() -> Event {
        let mut e = Event::new(EventKind::SyncFailed, "travel", "0123456789abcdef0123", 1.0);
        e.message = "Backend 1.5.0\n\nlong body".into();
        e.author = "Ada <ada@example.com>".into();
        e.result = "Failed".into();
        e.duration_seconds = Some(12.34);
        e.object = Some("Deployment/travel/backend".into());
        e.reason = Some("Deployment/travel/backend: Degraded <crashloop>".into());
        e
    }

    #[test]
    fn note_carries_what_people_act_on() {
        let note = Note::of(&failed(), Some("https://ordo.example.com/apps/travel"));
        assert_eq!(note.title, "travel: SyncFailed");
        let labels: Vec<_> = note.fields.iter().map(|(l, _)| *l).collect();
        assert_eq!(
            labels,
            [
                "Revision", "Commit", "Author", "Result", "Duration", "Object", "Reason"
            ]
        );
        assert_eq!(note.fields[0].1, "0123456");
        assert_eq!(note.fields[1].1, "Backend 1.5.0");
        assert_eq!(note.fields[4].1, "12.3 s");
        assert!(note.bad);
        assert!(
            note.text()
                .ends_with("\nhttps://ordo.example.com/apps/travel")
        );
    }

    #[test]
    fn each_chat_provider_gets_its_documented_shape() {
        let note = Note::of(&failed(), Some("https://ordo/apps/travel"));
        // (kind, JSON pointer, expected value)
        let cases: &[(ReceiverKind, &str, Value)] = &[
            (ReceiverKind::Slack, "/blocks/0/type", json!("section")),
            (
                ReceiverKind::Slack,
                "/blocks/0/text/text",
                json!("*travel: SyncFailed*"),
            ),
            (
                ReceiverKind::Slack,
                "/blocks/1/fields/0/type",
                json!("mrkdwn"),
            ),
            (
                ReceiverKind::Slack,
                "/blocks/2/elements/0/url",
                json!("https://ordo/apps/travel"),
            ),
            (
                ReceiverKind::Discord,
                "/content",
                json!("travel: SyncFailed"),
            ),
            (
                ReceiverKind::Discord,
                "/embeds/0/url",
                json!("https://ordo/apps/travel"),
            ),
            (ReceiverKind::Discord, "/embeds/0/color", json!(0xD93F0B)),
            (
                ReceiverKind::Discord,
                "/embeds/0/fields/0/name",
                json!("Revision"),
            ),
            (ReceiverKind::Msteams, "/type", json!("message")),
            (
                ReceiverKind::Msteams,
                "/attachments/0/contentType",
                json!("application/vnd.microsoft.card.adaptive"),
            ),
            (
                ReceiverKind::Msteams,
                "/attachments/0/content/type",
                json!("AdaptiveCard"),
            ),
            (
                ReceiverKind::Msteams,
                "/attachments/0/content/body/1/facts/0/value",
                json!("0123456"),
            ),
            (
                ReceiverKind::Msteams,
                "/attachments/0/content/actions/0/url",
                json!("https://ordo/apps/travel"),
            ),
        ];
        for (kind, pointer, want) in cases {
            let body = chat(*kind, &note).unwrap();
            assert_eq!(
                body.pointer(pointer),
                Some(want),
                "{kind} {pointer}: {body}"
            );
        }
        let slack = chat(ReceiverKind::Slack, &note).unwrap();
        assert!(
            slack["text"]
                .as_str()
                .unwrap()
                .starts_with("travel: SyncFailed\n")
        );
        let reason = slack
            .pointer("/blocks/1/fields/6/text")
            .unwrap()
            .as_str()
            .unwrap();
        assert!(reason.contains("&lt;crashloop&gt;"), "{reason}");
        assert_eq!(chat(ReceiverKind::Webhook, &note), None);
        assert_eq!(chat(ReceiverKind::Gitea, &note), None);
    }

    #[test]
    fn slack_fallback_text_cannot_ping_or_link() {
        let mut event = failed();
        event.message = "<!channel> deploy & <https://evil.example|click here>".into();
        event.author = "<@U012AB3CD>".into();
        let slack = chat(ReceiverKind::Slack, &Note::of(&event, None)).unwrap();
        let text = slack["text"].as_str().unwrap();
        assert!(
            text.contains("&lt;!channel&gt; deploy &amp; &lt;https://evil.example|click here&gt;"),
            "{text}"
        );
        assert!(text.contains("Author: &lt;@U012AB3CD&gt;"), "{text}");
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        // Every mrkdwn string of the message is escaped the same way.
        let all = slack.to_string();
        assert!(
            !all.contains("<!channel>") && !all.contains("<@U012"),
            "{all}"
        );
    }

    #[test]
    fn webhook_body_is_the_event_with_its_link() {
        let body = webhook(&failed(), Some("https://ordo/apps/travel"));
        assert_eq!(body["kind"], "SyncFailed");
        assert_eq!(body["app"], "travel");
        assert_eq!(body["revision"], "0123456789abcdef0123");
        assert_eq!(body["durationSeconds"], 12.34);
        assert_eq!(body["url"], "https://ordo/apps/travel");
        let summary = webhook_summary("ops", 7, 30);
        assert_eq!(
            summary,
            json!({"kind": "Suppressed", "receiver": "ops", "count": 7, "maxPerMinute": 30})
        );
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        let cases = [(
            &b"Jefe"[..],
            &b"what do ya want for nothing?"[..],
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        )];
        for (key, body, want) in cases {
            assert_eq!(signature(key, body).as_deref(), Some(want));
        }
    }
}

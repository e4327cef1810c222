//! What the agent tells the notifier: one [`Event`] per thing that happened to an app. Pure
//! values; the page link is added by the notifier (it knows `externalURL`).

use serde::Serialize;

/// The kinds of events, as written in `events:` of a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum EventKind {
    SyncStarted,
    SyncSucceeded,
    /// The failing object and its reason are in [`Event::reason`].
    SyncFailed,
    /// The sync ended with something Degraded.
    Degraded,
    /// A sync of the last healthy revision after a failed one.
    RolledBack,
    DriftDetected,
    DriftCorrected,
    /// A revision that cannot be applied (render, parse, signature): nothing was applied.
    BadCommit,
    /// The repository could not be reached or read.
    SourceError,
    /// A waiting state: objects left git and their prune waits for someone to confirm it
    /// (`pruneGuard`); the objects are in [`Event::reason`].
    PruneAwaitingConfirmation,
}

impl EventKind {
    pub const ALL: [EventKind; 10] = [
        EventKind::SyncStarted,
        EventKind::SyncSucceeded,
        EventKind::SyncFailed,
        EventKind::Degraded,
        EventKind::RolledBack,
        EventKind::DriftDetected,
        EventKind::DriftCorrected,
        EventKind::BadCommit,
        EventKind::SourceError,
        EventKind::PruneAwaitingConfirmation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SyncStarted => "SyncStarted",
            EventKind::SyncSucceeded => "SyncSucceeded",
            EventKind::SyncFailed => "SyncFailed",
            EventKind::Degraded => "Degraded",
            EventKind::RolledBack => "RolledBack",
            EventKind::DriftDetected => "DriftDetected",
            EventKind::DriftCorrected => "DriftCorrected",
            EventKind::BadCommit => "BadCommit",
            EventKind::SourceError => "SourceError",
            EventKind::PruneAwaitingConfirmation => "PruneAwaitingConfirmation",
        }
    }

    /// Bad news, for colours and email subjects.
    pub fn is_bad(self) -> bool {
        matches!(
            self,
            EventKind::SyncFailed
                | EventKind::Degraded
                | EventKind::RolledBack
                | EventKind::DriftDetected
                | EventKind::BadCommit
                | EventKind::SourceError
                | EventKind::PruneAwaitingConfirmation
        )
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing that happened to one app. Carries what people need to act on it and nothing
/// read from a Secret: the reason is the message the page already shows (Secret values are
/// redacted before any message is built), and credentials never reach an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub kind: EventKind,
    pub app: String,
    /// Full commit SHA; empty when the source could not be read at all.
    pub revision: String,
    /// The commit's message and author, when known.
    pub message: String,
    pub author: String,
    /// `Succeeded`, `Failed`, `TimedOut`, `Superseded`, `Pending`, `Corrected`, `Error`.
    pub result: String,
    /// How long the sync took; `None` for events that are not the end of a sync.
    pub duration_seconds: Option<f64>,
    /// The failing object, when one is to blame.
    pub object: Option<String>,
    /// Why: the error or the failing object's message.
    pub reason: Option<String>,
    /// Unix seconds.
    pub at: f64,
}

/// Longest reason or commit message carried: chat services cut (or refuse) long messages,
/// and a reason is a summary, the page has the rest.
pub const MAX_TEXT: usize = 1000;

impl Event {
    /// `kind` for `app` at `revision`, everything else empty: the agent fills in what it knows.
    pub fn new(kind: EventKind, app: &str, revision: &str, at: f64) -> Event {
        Event {
            kind,
            app: app.to_owned(),
            revision: revision.to_owned(),
            message: String::new(),
            author: String::new(),
            result: String::new(),
            duration_seconds: None,
            object: None,
            reason: None,
            at,
        }
    }

    /// The first 7 characters of the revision, as git shows it.
    pub fn short_revision(&self) -> &str {
        self.revision.get(..7).unwrap_or(&self.revision)
    }

    /// The message's first line.
    pub fn title(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }

    /// One line for people: `travel: SyncFailed at abc1234 (Deployment/backend: …)`.
    pub fn summary(&self) -> String {
        let mut line = format!("{}: {}", self.app, self.kind);
        if !self.revision.is_empty() {
            line.push_str(&format!(" at {}", self.short_revision()));
        }
        if let Some(reason) = &self.reason {
            line.push_str(&format!(" ({})", clip(reason, 300)));
        }
        line
    }
}

/// `text` cut to at most `max` characters (on a character boundary), with `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_on_character_boundaries() {
        let cases = [
            ("short", 10, "short"),
            ("exactly10!", 10, "exactly10!"),
            ("eleven char", 10, "eleven cha…"),
            ("ééééé", 2, "éé…"),
            ("", 3, ""),
        ];
        for (text, max, want) in cases {
            assert_eq!(clip(text, max), want, "{text:?} {max}");
        }
    }

    #[test]
    fn summary_names_app_kind_revision_and_reason() {
        let mut e = Event::new(EventKind::SyncFailed, "travel", "0123456789abcdef", 0.0);
        assert_eq!(e.summary(), "travel: SyncFailed at 0123456");
        e.reason = Some("Deployment/backend: Degraded".into());
        assert_eq!(
            e.summary(),
            "travel: SyncFailed at 0123456 (Deployment/backend: Degraded)"
        );
        let e = Event::new(EventKind::SourceError, "travel", "", 0.0);
        assert_eq!(e.summary(), "travel: SourceError");
    }
}

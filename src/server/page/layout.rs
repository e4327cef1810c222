//! What every page shares: the document shell, the icon sprite, status badges, times and the
//! JSON island the script starts from. Pure: values in, markup out.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use super::assets;

/// Icons drawn in a 16×16 box with the current text colour. Several statuses share a drawing;
/// the status's lowercase name is the symbol id, so the script needs no table to pick one.
/// Every status has its word next to the icon: colour and shape are never the only signal.
const ICONS: &[(&[&str], &str)] = &[
    (
        &["healthy", "synced", "succeeded"],
        r#"<circle cx="8" cy="8" r="6.5"/><path d="M5 8.3l2 2 4-4.5"/>"#,
    ),
    (
        &["progressing"],
        r#"<circle cx="8" cy="8" r="6.5"/><path d="M8 1.5a6.5 6.5 0 0 1 0 13z" fill="currentColor"/>"#,
    ),
    (
        &["degraded", "failed", "interrupted"],
        r#"<circle cx="8" cy="8" r="6.5"/><path d="M5.6 5.6l4.8 4.8M10.4 5.6l-4.8 4.8"/>"#,
    ),
    (
        &["suspended"],
        r#"<circle cx="8" cy="8" r="6.5"/><path d="M6.5 5.5v5M9.5 5.5v5"/>"#,
    ),
    (
        &["missing", "connecting"],
        r#"<circle cx="8" cy="8" r="6.5" stroke-dasharray="2.6 2"/>"#,
    ),
    (
        &["unknown"],
        r#"<circle cx="8" cy="8" r="6.5"/><path d="M6.2 6.4a1.9 1.9 0 1 1 2.6 1.8c-.6.3-.8.6-.8 1.3"/><circle cx="8" cy="11.4" r=".5" fill="currentColor"/>"#,
    ),
    (
        &["pending", "idle"],
        r#"<circle cx="8" cy="8" r="6.5"/><circle cx="5" cy="8" r=".8" fill="currentColor"/><circle cx="8" cy="8" r=".8" fill="currentColor"/><circle cx="11" cy="8" r=".8" fill="currentColor"/>"#,
    ),
    (
        &["outofsync"],
        r#"<path d="M8 1.8l6.6 12H1.4z"/><path d="M8 6.2v3.6"/><circle cx="8" cy="11.7" r=".5" fill="currentColor"/>"#,
    ),
    (
        &["extraneous"],
        r#"<rect x="1.8" y="1.8" width="12.4" height="12.4" rx="2"/><path d="M5 8h6"/>"#,
    ),
    (
        &["superseded"],
        r#"<path d="M2.8 4l4 4-4 4M8.3 4l4 4-4 4"/>"#,
    ),
    (
        &["blocked"],
        r#"<circle cx="8" cy="8" r="6.5"/><path d="M3.4 12.6l9.2-9.2"/>"#,
    ),
    (
        &["timedout"],
        r#"<circle cx="8" cy="8" r="6.5"/><path d="M8 4.3V8l2.6 1.7"/>"#,
    ),
    (
        &["syncing"],
        r#"<path d="M13 8a5 5 0 0 1-8.6 3.5M3 8a5 5 0 0 1 8.6-3.5"/><path d="M11.8 1.8v2.9H8.9M4.2 14.2v-2.9h2.9"/>"#,
    ),
    (
        &["fetching"],
        r#"<path d="M8 2v8M4.8 7l3.2 3.2L11.2 7M3 13.5h10"/>"#,
    ),
    (
        &["rollingback"],
        r#"<path d="M3.6 8a4.6 4.6 0 1 0 1.4-3.3"/><path d="M2.6 2.4v3h3"/>"#,
    ),
    (
        &["live"],
        r#"<circle cx="8" cy="8" r="4" fill="currentColor"/>"#,
    ),
];

/// The hidden SVG sprite every badge points into.
fn sprite() -> Markup {
    let mut symbols = String::new();
    for (names, body) in ICONS {
        for name in *names {
            symbols.push_str(&format!(
                r#"<symbol id="i-{name}" viewBox="0 0 16 16">{body}</symbol>"#
            ));
        }
    }
    html! {
        svg.sprite xmlns="http://www.w3.org/2000/svg" aria-hidden="true" focusable="false" {
            (PreEscaped(symbols))
        }
    }
}

/// The icon for a status value (`Healthy`, `OutOfSync`, …).
pub fn icon(value: &str) -> Markup {
    let id = format!("#i-{}", value.to_ascii_lowercase());
    html! {
        svg.icon aria-hidden="true" focusable="false" { use href=(id) {} }
    }
}

/// A status as icon and word; the script updates it by `data-v` (see `ordo.js`, `setStatus`).
pub fn status(value: &str) -> Markup {
    status_as(value, &label(value))
}

/// A status with its own wording (e.g. "3/5 healthy" coloured as `Progressing`).
pub fn status_as(value: &str, text: &str) -> Markup {
    html! {
        span.st data-v=(value) { (icon(value)) span.st-t { (text) } }
    }
}

/// Words for the values that are not already words.
pub fn label(value: &str) -> String {
    match value {
        "OutOfSync" => "Out of sync".into(),
        "TimedOut" => "Timed out".into(),
        "RollingBack" => "Rolling back".into(),
        other => other.into(),
    }
}

/// The first seven characters of a SHA, as git prints them.
pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// The first line of a commit message.
pub fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}

/// "12s ago", "5m ago", "3h ago", "2d ago" (the script refreshes it while the page is open).
pub fn ago(now: f64, then: f64) -> String {
    let secs = (now - then).max(0.0) as u64;
    match secs {
        0..=4 => "just now".into(),
        5..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// A duration a person reads at a glance: "0.4s", "12s", "3m 05s".
pub fn duration(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 10.0 {
        format!("{secs:.1}s")
    } else if secs < 60.0 {
        format!("{}s", secs.round() as u64)
    } else {
        let s = secs.round() as u64;
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

/// RFC 3339 UTC for `<time datetime>` (days-from-civil, inverted; no calendar crate needed).
pub fn iso(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A relative time the script keeps fresh (`data-t` holds the unix time).
pub fn time(now: f64, then: f64) -> Markup {
    html! { time datetime=(iso(then)) data-t=(then) { (ago(now, then)) } }
}

/// A JSON document in a non-executed script element. `<`, `>` and `&` are written as JSON
/// escapes so no string (a commit message, say) can close the element early.
pub fn json_island(id: &str, value: &Value) -> Markup {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    let safe = text
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    html! { script #(id) type="application/json" { (PreEscaped(safe)) } }
}

/// What a page is: its title, which script behaviour it wants, and its content.
pub struct Page<'a> {
    pub title: &'a str,
    /// `index`, `app` or `missing`: the script reads it from `<body data-page>`.
    pub kind: &'a str,
    pub app: Option<&'a str>,
    /// Whether the server accepts authenticated actions (an API token is configured).
    pub actions: bool,
    pub main: Markup,
    pub data: Option<Markup>,
}

/// The document around a page's content.
pub fn document(page: Page<'_>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (page.title) " · ordo" }
                link rel="icon" href=(FAVICON);
                link rel="stylesheet" href=(assets::css_url());
                script src=(assets::js_url()) defer {}
                script src=(assets::live_js_url()) defer {}
            }
            body data-page=(page.kind) data-app=[page.app] data-actions=(page.actions) {
                (sprite())
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { span.brand-mark aria-hidden="true" { "◆" } " ordo" }
                    @if let Some(app) = page.app {
                        span.crumb { "/" }
                        span.crumb-app { (app) }
                    }
                    span.live #live data-v="connecting" hidden {
                        (icon("connecting")) span.st-t { "connecting" }
                    }
                }
                main #main { (page.main) }
                div.notice #notice role="status" aria-live="polite" hidden {}
                (token_dialog())
                @if let Some(data) = page.data { (data) }
            }
        }
    }
}

/// Asks for the API token once per browser tab (kept in sessionStorage by the script).
fn token_dialog() -> Markup {
    html! {
        dialog #token-dialog aria-labelledby="token-title" {
            form method="dialog" {
                h2 #token-title { "API token" }
                p { "Actions need the agent's API token (the file named by " code { "apiTokenFile" } "). It is kept for this tab only." }
                p.token-error #token-error hidden {}
                label for="token-input" { "Token" }
                input #token-input type="password" name="token" autocomplete="off" spellcheck="false" required;
                // Continue comes first: Enter submits with the form's first submit button.
                div.dialog-buttons {
                    button.btn.primary type="submit" value="ok" { "Continue" }
                    button.btn type="submit" value="cancel" formnovalidate { "Cancel" }
                }
            }
        }
    }
}

/// A diamond in the brand colour, inline: no request for /favicon.ico.
const FAVICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Cpath d='M8 1l7 7-7 7-7-7z' fill='%232563eb'/%3E%3C/svg%3E";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_match_known_instants() {
        assert_eq!(iso(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(iso(1_700_000_000.5), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn durations_and_ages_read_at_a_glance() {
        assert_eq!(duration(0.42), "0.4s");
        assert_eq!(duration(12.4), "12s");
        assert_eq!(duration(185.0), "3m 05s");
        assert_eq!(ago(100.0, 99.0), "just now");
        assert_eq!(ago(100.0, 40.0), "1m ago");
        assert_eq!(ago(10_000.0, 2_000.0), "2h ago");
    }

    #[test]
    fn the_json_island_cannot_be_closed_by_its_content() {
        let doc = serde_json::json!({"message": "</script><script>alert(1)</script> & more"});
        let html = json_island("d", &doc).into_string();
        assert!(!html.contains("</script><script>"), "{html}");
        assert_eq!(html.matches("</script>").count(), 1);
        let inner = html
            .trim_start_matches(r#"<script id="d" type="application/json">"#)
            .trim_end_matches("</script>");
        let back: Value = serde_json::from_str(inner).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn every_status_has_an_icon() {
        let names: Vec<&str> = ICONS.iter().flat_map(|(n, _)| n.iter().copied()).collect();
        for value in [
            "Healthy",
            "Progressing",
            "Degraded",
            "Suspended",
            "Missing",
            "Unknown",
            "Pending",
            "Synced",
            "OutOfSync",
            "Extraneous",
            "Succeeded",
            "Failed",
            "TimedOut",
            "Superseded",
            "Interrupted",
            "Blocked",
            "Idle",
            "Fetching",
            "Syncing",
            "RollingBack",
        ] {
            assert!(
                names.contains(&value.to_ascii_lowercase().as_str()),
                "{value}"
            );
        }
    }
}

//! The index page's "Notifications" section: each receiver that failed, dropped or held
//! back a message, with its last error, so a broken receiver is seen where people look.

use maud::{Markup, html};

use super::layout::time;
use crate::notify::Board;

/// Nothing when every receiver delivered everything (or there are none).
pub fn section(board: &Board, now: f64) -> Markup {
    let troubled: Vec<_> = board
        .receivers
        .iter()
        .filter(|r| r.failed + r.dropped + r.held_back > 0)
        .collect();
    html! {
        @if !troubled.is_empty() {
            section.notifications {
                h2 { "Notifications" }
                ul {
                    @for r in troubled {
                        li.receiver data-receiver=(r.name) {
                            strong { (r.name) } " (" (r.kind) "): "
                            (r.delivered) " delivered, " (r.failed) " failed"
                            @if r.dropped > 0 { ", " (r.dropped) " dropped (queue full)" }
                            @if r.held_back > 0 { ", " (r.held_back) " held back (per-minute cap)" }
                            @if let (Some(e), Some(at)) = (&r.last_error, r.last_error_at) {
                                br;
                                span.tile-error { "Last error " (time(now, at)) ": " (e) }
                            }
                        }
                    }
                }
            }
        }
    }
}

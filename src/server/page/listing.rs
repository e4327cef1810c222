//! Which apps `/` lists, in what order, and how many there are of each status (issue #14: the
//! page must stay usable at 1,000 apps). The query string (`q`, `sync`, `health`, `only`,
//! `page`) becomes a [`Filter`]; [`list`] counts every app by status, keeps the matching ones,
//! puts those needing attention first and cuts one page of at most [`PAGE_SIZE`].
//! Pure: apps and a filter in, a [`Listing`] out.

use serde::Deserialize;

use crate::agent::{AppState, Phase};
use crate::diff::SyncStatus;
use crate::health::HealthStatus;

/// Tiles per page: 1,000 apps never render 1,000 tiles.
pub const PAGE_SIZE: usize = 100;

/// Every app-level sync status, in the order the counts show them.
pub const SYNC_VALUES: [SyncStatus; 4] = [
    SyncStatus::Synced,
    SyncStatus::OutOfSync,
    SyncStatus::Missing,
    SyncStatus::Extraneous,
];

/// Every health, best first, in the order the counts show them.
pub const HEALTH_VALUES: [HealthStatus; 6] = [
    HealthStatus::Healthy,
    HealthStatus::Progressing,
    HealthStatus::Suspended,
    HealthStatus::Degraded,
    HealthStatus::Missing,
    HealthStatus::Unknown,
];

/// Conditions that are not a status value (`?only=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// Not Healthy, not Synced, or with an error: what sorts first.
    Attention,
    /// A last error, a stored state that was not saved, or a task that is down.
    Error,
    /// On a replica that does not hold the leader lease.
    Standby,
}

impl Only {
    pub const ALL: [Only; 3] = [Only::Attention, Only::Error, Only::Standby];

    pub fn as_str(self) -> &'static str {
        match self {
            Only::Attention => "attention",
            Only::Error => "error",
            Only::Standby => "standby",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Only::Attention => "Needs attention",
            Only::Error => "With an error",
            Only::Standby => "Standby",
        }
    }
}

/// One value a count is kept for and a link filters by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facet {
    Sync(SyncStatus),
    Health(HealthStatus),
    Only(Only),
}

impl Facet {
    /// Every facet, in the order the counts show them.
    pub fn all() -> impl Iterator<Item = Facet> {
        SYNC_VALUES
            .into_iter()
            .map(Facet::Sync)
            .chain(HEALTH_VALUES.into_iter().map(Facet::Health))
            .chain(Only::ALL.into_iter().map(Facet::Only))
    }

    /// `sync:OutOfSync`, `health:Degraded`, `only:error`: what `ordo.js` finds a count by.
    pub fn key(self) -> String {
        match self {
            Facet::Sync(s) => format!("sync:{}", s.as_str()),
            Facet::Health(h) => format!("health:{}", h.as_str()),
            Facet::Only(o) => format!("only:{}", o.as_str()),
        }
    }

    pub fn holds(self, app: &AppState) -> bool {
        match self {
            Facet::Sync(s) => app.sync_status == s,
            Facet::Health(h) => app.health == h,
            Facet::Only(Only::Attention) => needs_attention(app),
            Facet::Only(Only::Error) => has_error(app),
            Facet::Only(Only::Standby) => app.phase == Phase::Standby,
        }
    }
}

/// An error the tile or the app page shows as a banner. (`ordo.js`, `hasError`, agrees.)
pub fn has_error(app: &AppState) -> bool {
    app.last_error.is_some() || app.store_error.is_some() || app.task_down.is_some()
}

/// What a person should look at first. (`ordo.js`, `needsAttention`, agrees.)
pub fn needs_attention(app: &AppState) -> bool {
    app.health != HealthStatus::Healthy || app.sync_status != SyncStatus::Synced || has_error(app)
}

/// The query string as it arrives. Every value is a string, so a bad one is answered with a
/// message naming it rather than serde's; parameters not named here are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct RawQuery {
    pub q: Option<String>,
    pub sync: Option<String>,
    pub health: Option<String>,
    pub only: Option<String>,
    pub page: Option<String>,
}

/// What `/` shows: a search, at most one value per facet kind, and a page (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Trimmed, as typed; matched case-insensitively.
    pub q: String,
    pub sync: Option<SyncStatus>,
    pub health: Option<HealthStatus>,
    pub only: Option<Only>,
    pub page: usize,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            q: String::new(),
            sync: None,
            health: None,
            only: None,
            page: 1,
        }
    }
}

/// Longest search accepted: longer ones are refused rather than cached.
const MAX_QUERY: usize = 200;

impl Filter {
    /// Values are matched case-insensitively (`health=degraded` is `Degraded`); an empty
    /// value is no filter. An unknown value is an error naming the accepted ones: a typo must
    /// not quietly show every app as if it matched.
    pub fn parse(raw: &RawQuery) -> Result<Filter, String> {
        let q = raw.q.as_deref().unwrap_or_default().trim();
        if q.chars().count() > MAX_QUERY {
            return Err(format!(
                "q is longer than {MAX_QUERY} characters: search for part of a name, repository, path or namespace"
            ));
        }
        Ok(Filter {
            q: q.to_owned(),
            sync: pick("sync", raw.sync.as_deref(), &SYNC_VALUES, |s| s.as_str())?,
            health: pick("health", raw.health.as_deref(), &HEALTH_VALUES, |h| {
                h.as_str()
            })?,
            only: pick("only", raw.only.as_deref(), &Only::ALL, |o| o.as_str())?,
            page: page(raw.page.as_deref())?,
        })
    }

    /// Whether anything narrows the list (the page does not).
    pub fn is_narrowed(&self) -> bool {
        !self.q.is_empty() || self.sync.is_some() || self.health.is_some() || self.only.is_some()
    }

    pub fn is_active(&self, facet: Facet) -> bool {
        match facet {
            Facet::Sync(s) => self.sync == Some(s),
            Facet::Health(h) => self.health == Some(h),
            Facet::Only(o) => self.only == Some(o),
        }
    }

    /// This filter with `facet` set, or cleared if it is already set, from page 1: what a
    /// count links to. The search and the other kinds of facet stay.
    pub fn toggled(&self, facet: Facet) -> Filter {
        let mut next = Filter {
            page: 1,
            ..self.clone()
        };
        let on = !self.is_active(facet);
        match facet {
            Facet::Sync(s) => next.sync = on.then_some(s),
            Facet::Health(h) => next.health = on.then_some(h),
            Facet::Only(o) => next.only = on.then_some(o),
        }
        next
    }

    pub fn at_page(&self, page: usize) -> Filter {
        Filter {
            page,
            ..self.clone()
        }
    }

    /// The canonical URL: parameters in one order, values as the server spells them, page 1
    /// left out. Equal filters give equal URLs, so it is also the render cache's key.
    pub fn href(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.q.is_empty() {
            pairs.push(("q", self.q.clone()));
        }
        if let Some(s) = self.sync {
            pairs.push(("sync", s.as_str().into()));
        }
        if let Some(h) = self.health {
            pairs.push(("health", h.as_str().into()));
        }
        if let Some(o) = self.only {
            pairs.push(("only", o.as_str().into()));
        }
        if self.page > 1 {
            pairs.push(("page", self.page.to_string()));
        }
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        if query.is_empty() {
            "/".into()
        } else {
            format!("/?{}", query.join("&"))
        }
    }

    /// Whether `app` is listed; `needle` is the search, lowercased once by the caller.
    fn matches(&self, app: &AppState, needle: &str) -> bool {
        let facets = [
            self.sync.map(Facet::Sync),
            self.health.map(Facet::Health),
            self.only.map(Facet::Only),
        ];
        facets.into_iter().flatten().all(|f| f.holds(app))
            && (needle.is_empty()
                || [&app.name, &app.repo, &app.path, &app.namespace]
                    .iter()
                    .any(|field| field.to_lowercase().contains(needle)))
    }
}

/// The value of `values` spelled `given` (any case), or a message listing the accepted ones.
fn pick<T: Copy>(
    name: &str,
    given: Option<&str>,
    values: &[T],
    spell: impl Fn(T) -> &'static str,
) -> Result<Option<T>, String> {
    let given = given.unwrap_or_default().trim();
    if given.is_empty() {
        return Ok(None);
    }
    values
        .iter()
        .copied()
        .find(|v| spell(*v).eq_ignore_ascii_case(given))
        .map(Some)
        .ok_or_else(|| {
            let accepted: Vec<&str> = values.iter().map(|v| spell(*v)).collect();
            format!(
                "{name}={given:?} is not a known value; use one of {}",
                accepted.join(", ")
            )
        })
}

fn page(given: Option<&str>) -> Result<usize, String> {
    let given = given.unwrap_or_default().trim();
    if given.is_empty() {
        return Ok(1);
    }
    match given.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "page={given:?} is not a page number; pages count from 1"
        )),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How many of all the apps (not only the matching ones) hold each facet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub by: Vec<(Facet, usize)>,
}

impl Counts {
    pub fn of(apps: &[&AppState]) -> Counts {
        let by = Facet::all()
            .map(|f| (f, apps.iter().filter(|a| f.holds(a)).count()))
            .collect();
        Counts {
            total: apps.len(),
            by,
        }
    }

    pub fn get(&self, facet: Facet) -> usize {
        self.by
            .iter()
            .find(|(f, _)| *f == facet)
            .map_or(0, |(_, n)| *n)
    }
}

/// One page of the index.
pub struct Listing<'a> {
    pub counts: Counts,
    /// Apps the filter matches, on every page.
    pub matching: usize,
    /// The page shown: the one asked for, or the last if it asked past the end.
    pub page: usize,
    pub pages: usize,
    /// The position (from 1) of the first app shown among the matching ones.
    pub first: usize,
    pub shown: Vec<&'a AppState>,
}

/// Counts all `apps`, keeps those `filter` matches, needing attention first and then by name,
/// and cuts the page asked for (the last one if it asked past the end: a link from a page
/// that was longer a moment ago still shows apps).
pub fn list<'a>(apps: &[&'a AppState], filter: &Filter) -> Listing<'a> {
    let needle = filter.q.to_lowercase();
    let mut matching: Vec<&AppState> = apps
        .iter()
        .copied()
        .filter(|a| filter.matches(a, &needle))
        .collect();
    matching.sort_by(|a, b| (!needs_attention(a), &a.name).cmp(&(!needs_attention(b), &b.name)));
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let page = filter.page.clamp(1, pages);
    let start = (page - 1) * PAGE_SIZE;
    let shown: Vec<&AppState> = matching
        .iter()
        .skip(start)
        .take(PAGE_SIZE)
        .copied()
        .collect();
    Listing {
        counts: Counts::of(apps),
        matching: matching.len(),
        page,
        pages,
        first: start + 1,
        shown,
    }
}

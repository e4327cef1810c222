//! "Did you mean …?" for misspelt config keys.

/// The known key closest to `key`: same letters ignoring case, '_' and '-' (`self_heal`), or
/// within a small edit distance (`selfHeel`).
pub(super) fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let key = norm(key);
    let limit = (key.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (edit_distance(&key, &norm(k)), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["name", "namespace", "interval", "selfHeal", "allowEmpty"];

    #[test]
    fn edit_distance_counts_single_edits() {
        let cases = [
            ("", "", 0),
            ("abc", "", 3),
            ("selfheel", "selfheal", 1),
            ("kitten", "sitting", 3),
            ("prnue", "prune", 2),
        ];
        for (a, b, want) in cases {
            assert_eq!(edit_distance(a, b), want, "{a} / {b}");
        }
    }

    #[test]
    fn suggestions_forgive_case_separators_and_typos() {
        let cases = [
            ("selfHeel", Some("selfHeal")),
            ("self_heal", Some("selfHeal")),
            ("Namespace", Some("namespace")),
            ("intervall", Some("interval")),
            ("allow-empty", Some("allowEmpty")),
            ("colour", None),
            ("x", None),
        ];
        for (key, want) in cases {
            assert_eq!(suggest(key, KEYS), want, "{key}");
        }
    }
}

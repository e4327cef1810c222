//! `dependsOn` between apps: every name must be another app of the file, and the graph must
//! have no cycle (an app that waits for itself, through others, would never sync). Pure.

/// The first problem with the apps' dependencies: (index of the app whose `dependsOn` is wrong,
/// what is wrong). `apps` holds each app's name and dependencies, in file order.
pub fn problem(apps: &[(&str, &[String])]) -> Option<(usize, String)> {
    for (i, (name, deps)) in apps.iter().enumerate() {
        for dep in deps.iter() {
            if dep == name {
                return Some((i, format!("{name:?} cannot depend on itself")));
            }
            if !apps.iter().any(|(other, _)| other == dep) {
                let names: Vec<&str> = apps.iter().map(|(n, _)| *n).collect();
                return Some((
                    i,
                    format!(
                        "{dep:?} is not an app of this file (apps: {})",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    cycle(apps)
}

/// A cycle, as "a → b → a", found by depth-first search from each app in file order.
fn cycle(apps: &[(&str, &[String])]) -> Option<(usize, String)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        at: usize,
        apps: &[(&str, &[String])],
        marks: &mut Vec<Mark>,
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[at] = Mark::OnPath;
        path.push(at);
        for dep in apps[at].1.iter() {
            let Some(next) = apps.iter().position(|(n, _)| n == dep) else {
                continue;
            };
            match marks[next] {
                Mark::OnPath => {
                    let start = path.iter().position(|&p| p == next).unwrap_or(0);
                    let mut found = path[start..].to_vec();
                    found.push(next);
                    return Some(found);
                }
                Mark::New => {
                    if let Some(found) = visit(next, apps, marks, path) {
                        return Some(found);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[at] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; apps.len()];
    for start in 0..apps.len() {
        if marks[start] == Mark::New {
            let mut path = Vec::new();
            if let Some(found) = visit(start, apps, &mut marks, &mut path) {
                let names: Vec<&str> = found.iter().map(|&i| apps[i].0).collect();
                return Some((
                    found[0],
                    format!(
                        "a cycle of dependsOn: {}; no app of it could ever sync",
                        names.join(" → ")
                    ),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_self_and_circular_dependencies_are_named() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (ingress, operator, shop, db) =
            (s(&[]), s(&[]), s(&["ingress", "db"]), s(&["operator"]));
        let fine = [
            ("ingress", &ingress[..]),
            ("operator", &operator[..]),
            ("shop", &shop[..]),
            ("db", &db[..]),
        ];
        assert_eq!(problem(&fine), None);

        let missing = s(&["nginx"]);
        let (i, m) = problem(&[("shop", &missing[..])]).unwrap();
        assert_eq!(i, 0);
        assert!(m.contains("\"nginx\" is not an app"), "{m}");

        let me = s(&["shop"]);
        let (_, m) = problem(&[("shop", &me[..])]).unwrap();
        assert!(m.contains("cannot depend on itself"), "{m}");

        let (a, b, c) = (s(&["b"]), s(&["c"]), s(&["a"]));
        let (i, m) =
            problem(&[("x", &[][..]), ("a", &a[..]), ("b", &b[..]), ("c", &c[..])]).unwrap();
        assert_eq!(i, 1);
        assert_eq!(
            m,
            "a cycle of dependsOn: a → b → c → a; no app of it could ever sync"
        );
    }
}

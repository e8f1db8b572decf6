//! Names in a shared-cluster classroom: the classroom's, the learners',
//! their namespaces, and the labels that mark what a classroom owns.
//!
//! A learner `ana` of classroom `ws` works in namespace `ws-ana`; every
//! object made for the classroom carries `kubetutor.dev/classroom=ws`
//! (teardown deletes by it, and only what carries it), and namespaced
//! ones also `app.kubernetes.io/part-of=kubetutor-classroom`.

use std::collections::BTreeMap;

/// What the classroom's objects are part of.
pub const PART_OF: &str = "kubetutor-classroom";
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
/// The classroom an object belongs to (teardown selects by it).
pub const CLASSROOM_LABEL: &str = "kubetutor.dev/classroom";
/// The learner an object is for.
pub const LEARNER_LABEL: &str = "kubetutor.dev/learner";
/// The kubeconfig context extension that marks a learner's kubeconfig.
pub const KUBECONFIG_EXTENSION: &str = "kubetutor.dev/classroom";
/// The default classroom name.
pub const DEFAULT_CLASSROOM: &str = "workshop";
/// Longest classroom and learner names (`<classroom>-<learner>` stays a
/// valid namespace name, with room for object name prefixes).
pub const MAX_CLASSROOM: usize = 20;
pub const MAX_LEARNER: usize = 30;

fn is_label(name: &str, max: usize) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A classroom name: a DNS label of at most 20 characters.
pub fn check_classroom(name: &str) -> Result<String, String> {
    if is_label(name, MAX_CLASSROOM) {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "`{name}` cannot name a classroom: use 1 to {MAX_CLASSROOM} lowercase letters, digits or '-', starting and ending with a letter or digit"
        ))
    }
}

/// A learner name (for namespaces): a DNS label of at most 30 characters.
pub fn check_learner(name: &str) -> Result<String, String> {
    if is_label(name, MAX_LEARNER) {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "`{name}` cannot name a learner on a shared cluster: use 1 to {MAX_LEARNER} lowercase letters, digits or '-', starting and ending with a letter or digit (it becomes part of a namespace name)"
        ))
    }
}

/// The learners to provision: `count` numbered ones (`learner-01`...)
/// or the names given (comma-separated lists allowed), checked and
/// without duplicates.
pub fn learners(count: Option<usize>, names: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(n) = count {
        if n == 0 || n > 1000 {
            return Err(format!("--learners takes 1 to 1000, not {n}"));
        }
        let width = n.to_string().len().max(2);
        out.extend((1..=n).map(|i| format!("learner-{i:0width$}")));
    }
    for part in names.iter().flat_map(|n| n.split(',')) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let name = check_learner(part)?;
        if out.contains(&name) {
            return Err(format!("learner `{name}` is listed twice"));
        }
        out.push(name);
    }
    if out.is_empty() {
        return Err("name the learners: --learners N, or --names ana,bob,...".into());
    }
    Ok(out)
}

/// A learner's namespace.
pub fn namespace(classroom: &str, learner: &str) -> String {
    format!("{classroom}-{learner}")
}

/// The suffix cluster-scoped lesson objects carry for this learner.
pub fn suffix(learner: &str) -> String {
    format!("-{learner}")
}

/// The labels of an object made for a classroom (and a learner).
pub fn labels(classroom: &str, learner: Option<&str>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::from([
        (PART_OF_LABEL.to_owned(), PART_OF.to_owned()),
        (CLASSROOM_LABEL.to_owned(), classroom.to_owned()),
    ]);
    if let Some(l) = learner {
        m.insert(LEARNER_LABEL.to_owned(), l.to_owned());
    }
    m
}

/// The selector of everything a classroom owns.
pub fn selector(classroom: &str) -> String {
    format!("{CLASSROOM_LABEL}={classroom}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learners_and_namespaces() {
        assert_eq!(
            learners(Some(3), &[]).unwrap(),
            ["learner-01", "learner-02", "learner-03"]
        );
        assert_eq!(learners(Some(100), &[]).unwrap()[99], "learner-100");
        assert_eq!(
            learners(None, &["ana,bob".into(), " cy ".into()]).unwrap(),
            ["ana", "bob", "cy"]
        );
        assert!(
            learners(None, &["Ana".into()])
                .unwrap_err()
                .contains("lowercase")
        );
        assert!(
            learners(None, &["ana,ana".into()])
                .unwrap_err()
                .contains("twice")
        );
        assert!(learners(None, &[]).is_err());
        assert!(learners(Some(0), &[]).is_err());
        assert_eq!(namespace("ws", "ana"), "ws-ana");
        assert!(check_classroom("-ws").is_err());
        assert!(check_classroom(&"w".repeat(21)).is_err());
        assert_eq!(selector("ws"), "kubetutor.dev/classroom=ws");
    }
}

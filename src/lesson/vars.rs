//! Course variables: `{{name}}` in lessons and assets, replaced when the
//! course is loaded, so that text, manifests and checks name the same
//! objects.
//!
//! | variable | value |
//! |---|---|
//! | `{{namespace}}` | the course namespace (`kubetutor`, `--namespace`, or a classroom learner's own) |
//! | `{{learner-suffix}}` | `-NAME` for a learner on a cluster shared by a class, empty otherwise: cluster-scoped objects a lesson creates (a PersistentVolume, its `hostPath`) carry it, so that learners do not collide |
//!
//! Substitution happens on the raw files, before markdown and YAML are
//! parsed (a variable may sit in a YAML flow mapping). An unknown
//! `{{...}}` is a lint error.

use std::borrow::Cow;

/// The variables' names.
pub const NAMES: &[&str] = &["namespace", "learner-suffix"];

/// The values a course is loaded with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    pub namespace: String,
    pub learner_suffix: String,
}

impl Default for Vars {
    fn default() -> Self {
        Vars {
            namespace: crate::cluster::connection::DEFAULT_NAMESPACE.to_owned(),
            learner_suffix: String::new(),
        }
    }
}

impl Vars {
    fn value(&self, name: &str) -> Option<&str> {
        match name {
            "namespace" => Some(&self.namespace),
            "learner-suffix" => Some(&self.learner_suffix),
            _ => None,
        }
    }

    /// Whether these are a learner's on a cluster shared by a class.
    pub fn shared(&self) -> bool {
        !self.learner_suffix.is_empty()
    }
}

/// `text` with every known `{{name}}` replaced (unknown ones are kept, for
/// lint to report).
pub fn substitute<'a>(text: &'a str, vars: &Vars) -> Cow<'a, str> {
    if !text.contains("{{") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match after
            .find("}}")
            .and_then(|close| Some((close, vars.value(&after[..close])?)))
        {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Unknown variables in `text`: (0-based line, 1-based column, name).
pub fn unknown(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut from = 0;
        while let Some(open) = line[from..].find("{{") {
            let start = from + open;
            let after = &line[start + 2..];
            let Some(close) = after.find("}}") else {
                break;
            };
            let name = &after[..close];
            let looks_like_one = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if looks_like_one && !NAMES.contains(&name) {
                out.push((i, line[..start].chars().count() + 1, name.to_owned()));
            }
            from = start + 2 + close + 2;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_known_keeps_unknown() {
        let v = Vars {
            namespace: "ws-ana".into(),
            learner_suffix: "-ana".into(),
        };
        assert_eq!(
            substitute(
                "pv local-pv-1{{learner-suffix}} in {{namespace}} {{x}} {{",
                &v
            ),
            "pv local-pv-1-ana in ws-ana {{x}} {{"
        );
        assert!(matches!(substitute("none", &v), Cow::Borrowed(_)));
        assert_eq!(substitute("{{learner-suffix}}", &Vars::default()), "");
        assert!(v.shared() && !Vars::default().shared());
        assert_eq!(
            unknown("a {{namespace}}\n  {{nope}} and {{ not a var }}"),
            vec![(1, 3, "nope".to_owned())]
        );
    }
}

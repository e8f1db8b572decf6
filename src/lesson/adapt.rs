//! Lesson text that adapts to the cluster it runs on.
//!
//! A lesson may hold blocks that only apply to some clusters:
//!
//! ```markdown
//! <!-- when binding: WaitForFirstConsumer -->
//! The claim stays `Pending` until a pod uses it.
//! <!-- else -->
//! The claim is `Bound` at once.
//! <!-- end -->
//! ```
//!
//! Each marker is an HTML comment alone on its line (markdown renderers
//! elsewhere hide them, so the file still reads well on GitHub). A `when`
//! holds one or more `key: value` conditions separated by commas, all of
//! which must hold. Keys and values:
//!
//! | key | values | from |
//! |---|---|---|
//! | `binding` | `Immediate`, `WaitForFirstConsumer`, `none`, `unknown` | the default StorageClass's `volumeBindingMode` (`none`: no default class; `unknown`: not read yet) |
//! | `nodes` | `one`, `many`, `unknown` | the number of nodes |
//! | `cluster` | `sandbox`, `other` | kubetutor's built-in sandbox or any other cluster |
//! | `learners` | `shared`, `own` | a cluster shared by a class (a classroom kubeconfig from `kubetutor classroom provision`), or the learner's own |
//!
//! While a fact is not known yet (the first list has not arrived), only its
//! `unknown` condition holds: give that block neutral text.

use std::borrow::Cow;

use crate::cluster::kinds::Kind;
use crate::cluster::state::ClusterState;

/// What the cluster offers, as far as lessons care.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The default StorageClass's binding mode: `Some(None)` when the
    /// cluster has no default class, `None` while unknown.
    pub binding: Option<Option<String>>,
    /// The number of nodes, once known.
    pub nodes: Option<usize>,
    /// Whether this is kubetutor's sandbox.
    pub sandbox: bool,
    /// Whether the cluster is shared by a class (from the course's
    /// variables: the learner's suffix is set).
    pub shared: bool,
}

impl Facts {
    /// What a cluster shows of these facts: the default class's binding
    /// mode and the node count, once their first lists arrived.
    pub fn of(state: &ClusterState, sandbox: bool) -> Facts {
        let binding = state.is_synced(Kind::StorageClass).then(|| {
            state.default_storage_class().map(|sc| {
                // An unset mode is Immediate.
                sc.volume_binding_mode
                    .clone()
                    .unwrap_or_else(|| "Immediate".to_string())
            })
        });
        let nodes = state.is_synced(Kind::Node).then(|| state.count(Kind::Node));
        Facts {
            binding,
            nodes,
            sandbox,
            shared: false,
        }
    }

    /// The facts known before the cluster says anything: the course's.
    pub fn for_course(vars: &crate::lesson::vars::Vars) -> Facts {
        Facts::default().with_course(vars)
    }

    /// These facts with what the course's variables say (shared cluster).
    pub fn with_course(mut self, vars: &crate::lesson::vars::Vars) -> Facts {
        self.shared = vars.shared();
        self
    }
}

const KEYS: &[(&str, &[&str])] = &[
    (
        "binding",
        &["Immediate", "WaitForFirstConsumer", "none", "unknown"],
    ),
    ("nodes", &["one", "many", "unknown"]),
    ("cluster", &["sandbox", "other"]),
    ("learners", &["shared", "own"]),
];

/// A marker line.
#[derive(Debug, PartialEq)]
enum Marker<'a> {
    When(&'a str),
    Else,
    End,
}

fn marker(line: &str) -> Option<Marker<'_>> {
    let inner = line
        .trim()
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim();
    if let Some(conds) = inner.strip_prefix("when ") {
        return Some(Marker::When(conds.trim()));
    }
    match inner {
        "else" => Some(Marker::Else),
        "end" => Some(Marker::End),
        _ => None,
    }
}

/// Parses `key: value, key: value`; errors are the linter's messages.
fn conditions(text: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    for part in text.split(',') {
        let Some((k, v)) = part.split_once(':') else {
            return Err(format!("expected `key: value` in `when {text}`"));
        };
        let (k, v) = (k.trim(), v.trim());
        let Some((_, values)) = KEYS.iter().find(|(key, _)| *key == k) else {
            let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            return Err(format!(
                "unknown condition `{k}` (known: {})",
                known.join(", ")
            ));
        };
        if !values.contains(&v) {
            return Err(format!("`{k}` is one of {}, not `{v}`", values.join(", ")));
        }
        out.push((k, v));
    }
    Ok(out)
}

impl Facts {
    fn holds(&self, key: &str, value: &str) -> bool {
        match key {
            "binding" => match &self.binding {
                None => value == "unknown",
                Some(None) => value == "none",
                Some(Some(mode)) => mode == value,
            },
            "nodes" => match self.nodes {
                None => value == "unknown",
                Some(n) => value != "unknown" && (value == "one") == (n <= 1),
            },
            "cluster" => (value == "sandbox") == self.sandbox,
            "learners" => (value == "shared") == self.shared,
            _ => false,
        }
    }
}

/// The text with the blocks that do not apply to `facts` removed (marker
/// lines too). Text without markers is returned as is.
pub fn adapt<'a>(text: &'a str, facts: &Facts) -> Cow<'a, str> {
    if !text.contains("<!--") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    // None: outside any block; Some(showing).
    let mut block: Option<bool> = None;
    let mut in_fence: Option<String> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(fence) = &in_fence {
            if trimmed.starts_with(fence.as_str()) {
                in_fence = None;
            }
        } else if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = Some(trimmed[..3].to_string());
        } else if let Some(m) = marker(line) {
            match m {
                Marker::When(c) => {
                    let show = conditions(c)
                        .map(|cs| cs.iter().all(|(k, v)| facts.holds(k, v)))
                        .unwrap_or(false);
                    block = Some(show);
                }
                Marker::Else => block = block.map(|s| !s),
                Marker::End => block = None,
            }
            continue;
        }
        if block.unwrap_or(true) {
            out.push_str(line);
        }
    }
    Cow::Owned(out)
}

/// Problems with the markers of `text`: (0-based line, message).
pub fn problems(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, bool)> = None;
    let mut in_fence: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(fence) = &in_fence {
            if trimmed.starts_with(fence.as_str()) {
                in_fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = Some(trimmed[..3].to_string());
            continue;
        }
        match marker(line) {
            Some(Marker::When(c)) => {
                if open.is_some() {
                    out.push((i, "`when` blocks cannot be nested: close the previous one with `<!-- end -->`".to_string()));
                }
                if let Err(e) = conditions(c) {
                    out.push((i, e));
                }
                open = Some((i, false));
            }
            Some(Marker::Else) => match open {
                None => out.push((
                    i,
                    "`<!-- else -->` without a `<!-- when ... -->`".to_string(),
                )),
                Some((_, true)) => {
                    out.push((i, "a second `<!-- else -->` in one block".to_string()))
                }
                Some((start, false)) => open = Some((start, true)),
            },
            Some(Marker::End) => {
                if open.take().is_none() {
                    out.push((
                        i,
                        "`<!-- end -->` without a `<!-- when ... -->`".to_string(),
                    ));
                }
            }
            None => {
                if trimmed.starts_with("<!-- when") {
                    out.push((
                        i,
                        "a `when` marker must be `<!-- when key: value -->` alone on its line"
                            .to_string(),
                    ));
                }
            }
        }
    }
    if let Some((start, _)) = open {
        out.push((start, "this `when` block has no `<!-- end -->`".to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Intro.\n<!-- when binding: WaitForFirstConsumer -->\nPending until used.\n<!-- else -->\nBound at once.\n<!-- end -->\nAfter.\n```sh\n<!-- when nodes: one -->\n```\n";

    #[test]
    fn keeps_the_block_that_applies() {
        let wffc = Facts {
            binding: Some(Some("WaitForFirstConsumer".into())),
            ..Facts::default()
        };
        assert_eq!(
            adapt(TEXT, &wffc),
            "Intro.\nPending until used.\nAfter.\n```sh\n<!-- when nodes: one -->\n```\n"
        );
        let immediate = Facts {
            binding: Some(Some("Immediate".into())),
            ..Facts::default()
        };
        assert!(adapt(TEXT, &immediate).contains("Bound at once."));
        // Unknown facts: the else text, and `unknown` blocks.
        assert!(adapt(TEXT, &Facts::default()).contains("Bound at once."));
        assert_eq!(
            adapt(
                "<!-- when nodes: unknown -->\nN\n<!-- end -->\n",
                &Facts::default()
            ),
            "N\n"
        );
        let none = Facts {
            binding: Some(None),
            nodes: Some(3),
            sandbox: true,
            shared: false,
        };
        assert_eq!(
            adapt(
                "<!-- when binding: none, nodes: many, cluster: sandbox -->\nX\n<!-- end -->\n",
                &none
            ),
            "X\n"
        );
        assert!(matches!(adapt("plain", &none), Cow::Borrowed(_)));
        assert_eq!(
            adapt("<!-- when nodes: unknown -->\nN\n<!-- end -->\n", &none),
            ""
        );
    }

    #[test]
    fn lint_problems() {
        assert!(problems(TEXT).is_empty());
        let p = problems(
            "<!-- when nodes: two -->\n<!-- when cpu: x -->\n<!-- else -->\n<!-- else -->\n",
        );
        let msgs: Vec<&str> = p.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "`nodes` is one of one, many, unknown, not `two`",
                "`when` blocks cannot be nested: close the previous one with `<!-- end -->`",
                "unknown condition `cpu` (known: binding, nodes, cluster, learners)",
                "a second `<!-- else -->` in one block",
                "this `when` block has no `<!-- end -->`",
            ]
        );
        assert_eq!(
            problems("<!-- end -->\n")[0].1,
            "`<!-- end -->` without a `<!-- when ... -->`"
        );
    }
}

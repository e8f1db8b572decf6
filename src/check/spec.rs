//! The declarative language of a step's ```` ```check ```` block.
//!
//! A check is YAML with exactly one *goal* key (`resource`, `http`, `all`,
//! `any`, `not`, `sequence` or `quiz`) plus optional live `hints`. The checker
//! that evaluates these types comes later; defining the language now keeps
//! today's lessons valid. The reference is `docs/lesson-format.md`.
//!
//! Everything is `deny_unknown_fields` so a typo in a lesson is a lint error
//! rather than a check that silently never passes.

pub use crate::cluster::kinds::Kind;
use crate::text::Pos;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Parse and validate the YAML of a check block. Positions in the error are
/// relative to the block (line 1 is the first line after the fence).
pub fn parse_check(yaml: &str) -> Result<CheckSpec, (Pos, String)> {
    if yaml.trim().is_empty() {
        return Err((
            Pos { line: 1, col: 1 },
            "the check block is empty: write a goal such as `resource:`, `all:`, `sequence:` or `quiz:`"
                .to_string(),
        ));
    }
    let raw: RawCheck = serde_saphyr::from_str(yaml).map_err(|e| yaml_error(&e))?;
    raw.validate()
}

/// Turn a serde-saphyr error into a position and a one-line message.
pub(crate) fn yaml_error(err: &serde_saphyr::Error) -> (Pos, String) {
    let pos = err
        .location()
        .map(|l| Pos {
            line: usize::try_from(l.line()).unwrap_or(1).max(1),
            col: usize::try_from(l.column()).unwrap_or(1).max(1),
        })
        .unwrap_or(Pos { line: 1, col: 1 });
    // The rendered error may carry a source snippet and its own position;
    // keep only the first line, we print the position ourselves.
    let text = err.to_string();
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid YAML");
    (pos, strip_location_suffix(first).to_string())
}

fn strip_location_suffix(msg: &str) -> &str {
    // serde-saphyr says "error: line X column Y: ..." (or appends " at line
    // X column Y"); we report the position separately.
    let mut msg = msg.strip_prefix("error: ").unwrap_or(msg);
    if let Some(rest) = msg.strip_prefix("line ")
        && let Some(i) = rest.find(": ")
        && rest[..i].split(' ').count() == 3
    {
        msg = &rest[i + 2..];
    }
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

// ---------------------------------------------------------------------------
// Public model
// ---------------------------------------------------------------------------

/// A parsed, validated check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    pub goal: Goal,
    /// Live hints, shown while their condition holds.
    pub hints: Vec<LiveHint>,
}

/// What makes a step pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Goal {
    /// Passes as soon as the condition holds.
    Condition(Condition),
    /// Passes once every stage has been observed, in order, after the step
    /// became active.
    Sequence(Vec<Stage>),
    /// Passes when the learner picks the right answer(s).
    Quiz(Quiz),
}

/// `hints: [{when: <condition>, say: "text"}]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveHint {
    pub when: Condition,
    pub say: String,
}

/// A condition on the cluster at one instant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Resource(Box<ResourceCheck>),
    Http(Box<HttpProbe>),
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `resource:` — the objects of `kind` (in `namespace`, default the course
/// namespace) narrowed by `name` and `selector`. An object *matches* when it
/// satisfies every property given (`fields`, `ready`, `phase`...). The
/// condition holds when the number of matching objects satisfies `count`
/// (default: at least one), or when none matches if `absent: true`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceCheck {
    pub kind: At<Kind>,
    #[serde(default)]
    pub name: Option<String>,
    /// Label selector (`matchLabels`).
    #[serde(default)]
    pub selector: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub absent: bool,
    #[serde(default)]
    pub count: Option<Comparison>,
    #[serde(default)]
    pub fields: Vec<FieldMatch>,
    /// Pod: Ready condition; Deployment/ReplicaSet/StatefulSet: all
    /// desired replicas ready.
    #[serde(default)]
    pub ready: Option<bool>,
    /// `status.phase` of a Pod, PersistentVolumeClaim or PersistentVolume.
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub container: Option<ContainerCheck>,
    #[serde(default)]
    pub log: Option<LogCheck>,
    /// PersistentVolumeClaim: bound to a PV with these properties.
    #[serde(default)]
    pub bound: Option<BoundCheck>,
    #[serde(default)]
    pub volume: Option<VolumeCheck>,
    #[serde(default)]
    pub env: Option<EnvCheck>,
    /// The newest event about the object (of `type`, Warning unless given)
    /// has this reason and message.
    #[serde(default)]
    pub event: Option<EventCheck>,
}

/// A matcher on a field of an object (or of a JSON response), found by a
/// dotted path. Every matcher given must hold for at least one value the
/// path selects (`[*]` selects every element of a list).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMatch {
    pub path: At<FieldPath>,
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
    #[serde(default)]
    pub not_equals: Option<serde_json::Value>,
    /// A regular expression the value (as text) must match.
    #[serde(default)]
    pub matches: Option<Pattern>,
    /// Substring of a string, or element of a list.
    #[serde(default)]
    pub contains: Option<serde_json::Value>,
    /// `true`: the path exists; `false`: it does not.
    #[serde(default)]
    pub present: Option<bool>,
    /// Numeric comparisons (numbers or quantities such as `1Gi`).
    #[serde(default)]
    pub gt: Option<Quantity>,
    #[serde(default)]
    pub gte: Option<Quantity>,
    #[serde(default)]
    pub lt: Option<Quantity>,
    #[serde(default)]
    pub lte: Option<Quantity>,
    /// Length of a list, object or string.
    #[serde(default)]
    pub length: Option<Comparison>,
    /// Sequences only, in a probe's `json`: the value at this path still
    /// holds what the probe of the stage bound as `<binding>` saw at the
    /// same path (every element of a list, or an equal value). Proves the
    /// data survived rather than being written again.
    #[serde(default)]
    pub seen_by: Option<At<String>>,
}

impl FieldMatch {
    /// The numeric comparisons of this matcher as one `Comparison`.
    pub fn numeric(&self) -> Comparison {
        Comparison {
            eq: None,
            ne: None,
            gt: self.gt.clone(),
            gte: self.gte.clone(),
            lt: self.lt.clone(),
            lte: self.lte.clone(),
        }
    }

    fn has_matcher(&self) -> bool {
        self.equals.is_some()
            || self.not_equals.is_some()
            || self.matches.is_some()
            || self.contains.is_some()
            || self.present.is_some()
            || self.gt.is_some()
            || self.gte.is_some()
            || self.lt.is_some()
            || self.lte.is_some()
            || self.length.is_some()
            || self.seen_by.is_some()
    }
}

/// Container status of a Pod.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerCheck {
    /// Container name; any container of the pod when absent.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub state: Option<ContainerState>,
    /// Reason of the current state (`CrashLoopBackOff`, `Completed`...).
    #[serde(default)]
    pub reason: Option<String>,
    /// Reason of the last terminated state (`OOMKilled`, `Error`...).
    #[serde(default)]
    pub last_reason: Option<String>,
    #[serde(default)]
    pub restarts: Option<Comparison>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Waiting,
    Running,
    Terminated,
}

/// A line of a Pod's log contains some text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogCheck {
    pub contains: String,
    #[serde(default)]
    pub container: Option<String>,
    /// Look at the previous (crashed) container instance.
    #[serde(default)]
    pub previous: bool,
}

/// A PersistentVolumeClaim is bound to a PersistentVolume with these
/// properties (all optional: `bound: {}` only asks for the binding).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundCheck {
    /// Name of the PV.
    #[serde(default)]
    pub volume: Option<String>,
    #[serde(default)]
    pub storage_class: Option<String>,
    #[serde(default)]
    pub reclaim_policy: Option<ReclaimPolicy>,
    #[serde(default)]
    pub capacity: Option<Comparison>,
    /// The PV offers at least these access modes.
    #[serde(default)]
    pub access_modes: Option<Vec<AccessMode>>,
    #[serde(default)]
    pub source: Option<PvSource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ReclaimPolicy {
    Retain,
    Delete,
    Recycle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AccessMode {
    ReadWriteOnce,
    ReadOnlyMany,
    ReadWriteMany,
    ReadWriteOncePod,
}

/// The volume source type of a PersistentVolume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PvSource {
    HostPath,
    Local,
    Csi,
    Nfs,
}

/// A volume of some type mounted in a container (of a Pod or of the pod
/// template of a Deployment, ReplicaSet or Job).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeCheck {
    #[serde(rename = "type")]
    pub kind: VolumeType,
    #[serde(default)]
    pub mount_path: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    /// claimName, ConfigMap name, Secret name or host path.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VolumeType {
    EmptyDir,
    HostPath,
    PersistentVolumeClaim,
    ConfigMap,
    Secret,
}

/// An environment variable of a container, optionally taken from a
/// ConfigMap or Secret key (`env[].valueFrom` or `envFrom`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvCheck {
    pub name: String,
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub config_map: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
    /// Key in the ConfigMap/Secret; defaults to `name`.
    #[serde(default)]
    pub key: Option<String>,
    /// Literal value.
    #[serde(default)]
    pub value: Option<String>,
}

/// `event:` — the newest event about an object, of type `type` (default
/// `Warning`), has reason `reason` and a message containing
/// `message_contains` (each optional). What `kubectl describe` lists under
/// Events: a pod stuck in `ContainerCreating` because a ConfigMap volume is
/// missing has `FailedMount` with `configmap "x" not found`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventCheck {
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message_contains: Option<String>,
    /// `Warning` (default) or `Normal`.
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
}

impl EventCheck {
    /// The event type looked at: `Warning` unless `type` says otherwise.
    pub fn event_type(&self) -> &str {
        self.type_.as_deref().unwrap_or("Warning")
    }
}

/// `http:` — a request through the API server's proxy, to a Service
/// (`/api/v1/namespaces/<ns>/services/<name>:<port>/proxy<path>`) or a Pod
/// (`.../pods/<name>:<port>/proxy<path>`). Exactly one of `service`/`pod`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub pod: Option<PodRef>,
    /// Port number or name; default: the first port of the service / pod.
    #[serde(default)]
    pub port: Option<PortRef>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub method: Method,
    pub path: At<String>,
    /// JSON body sent with the request (a string is sent as-is).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Expected status; default any 2xx.
    #[serde(default)]
    pub status: Option<u16>,
    /// Matchers on the JSON response (paths relative to its root; `.` is the root).
    #[serde(default)]
    pub json: Vec<FieldMatch>,
    /// The raw response body contains this text.
    #[serde(default)]
    pub body_contains: Option<String>,
}

/// Which pod to probe: exactly one of `name`, `selector` (any ready pod
/// matching) or `ref` (a pod bound by an earlier stage of the sequence).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodRef {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub selector: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "ref")]
    pub reference: Option<At<String>>,
}

/// A port given by number or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// One stage of a sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Where the stage starts in the check block.
    pub pos: Pos,
    /// `as: name`: remember the object this stage observed (the pod that
    /// answered a probe, the replacement pod...) for later stages.
    pub bind: Option<String>,
    pub kind: StageKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StageKind {
    /// `probe_sees:` an HTTP probe whose expectations hold. Probing a pod
    /// binds that pod.
    ProbeSees(Box<HttpProbe>),
    /// `resource_deleted: <binding>`: the bound object is gone (or being
    /// deleted).
    ResourceDeleted(String),
    /// `replacement_ready: {same_owner_as: <binding>}`: a pod with a new uid
    /// and the same controller owner as the bound pod is Ready.
    ReplacementReady { same_owner_as: String },
    /// `holds:` any condition; a single `resource` condition binds the
    /// object it matched.
    Holds(Condition),
}

/// A multiple-choice question. Choices are lettered a, b, c... in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Quiz {
    pub question: String,
    pub choices: Vec<String>,
    /// Indices (0-based) of the right choices; more than one means the
    /// learner must pick them all.
    pub answers: Vec<usize>,
    /// Shown once answered.
    pub explain: Option<String>,
}

// ---------------------------------------------------------------------------
// Small value types
// ---------------------------------------------------------------------------

/// A value with the position (relative to the check block) where it was
/// written, for validation messages.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    pub value: T,
    pub pos: Pos,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<T>::deserialize(d)?;
        let pos = Pos {
            line: usize::try_from(s.referenced.line()).unwrap_or(0),
            col: usize::try_from(s.referenced.column()).unwrap_or(0),
        };
        Ok(At {
            value: s.value,
            pos,
        })
    }
}

/// A number, or a Kubernetes quantity (`1Gi`, `500Mi`, `250m`).
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    /// As written.
    pub text: String,
    /// In base units (bytes, cores...).
    pub value: f64,
}

impl Quantity {
    /// Parse a number or a Kubernetes quantity (kubeprint's parser, the
    /// one the sandbox uses too).
    pub fn parse(text: &str) -> Option<Quantity> {
        let q = kubeprint::Quantity::parse(text.trim()).ok()?;
        Some(Quantity {
            text: q.text().to_string(),
            value: q.value(),
        })
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(QuantityVisitor)
    }
}

struct QuantityVisitor;

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or a quantity such as 1Gi")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        Ok(Quantity {
            text: v.to_string(),
            value: v as f64,
        })
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        Ok(Quantity {
            text: v.to_string(),
            value: v as f64,
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        Ok(Quantity {
            text: v.to_string(),
            value: v,
        })
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        Quantity::parse(v).ok_or_else(|| {
            E::custom(format!(
                "`{v}` is not a quantity: write a number or a Kubernetes quantity such as 1Gi, 500Mi or 250m"
            ))
        })
    }
}

/// A numeric comparison: a bare number/quantity means `eq`; otherwise a
/// mapping with any of `eq`, `ne`, `gt`, `gte`, `lt`, `lte` (all must hold).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComparison {
    #[serde(default)]
    eq: Option<Quantity>,
    #[serde(default)]
    ne: Option<Quantity>,
    #[serde(default)]
    gt: Option<Quantity>,
    #[serde(default)]
    gte: Option<Quantity>,
    #[serde(default)]
    lt: Option<Quantity>,
    #[serde(default)]
    lte: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Comparison {
    pub eq: Option<Quantity>,
    pub ne: Option<Quantity>,
    pub gt: Option<Quantity>,
    pub gte: Option<Quantity>,
    pub lt: Option<Quantity>,
    pub lte: Option<Quantity>,
}

impl Comparison {
    /// At least one (the default for `count`).
    pub fn at_least_one() -> Comparison {
        Comparison {
            gte: Some(Quantity {
                text: "1".into(),
                value: 1.0,
            }),
            ..Comparison::default()
        }
    }

    /// Whether `v` satisfies every bound.
    pub fn accepts(&self, v: f64) -> bool {
        // Quantities come from decimal text; compare with a tolerance so
        // `0.1Gi` written two ways still agree.
        let eps = |q: &Quantity| q.value.abs().max(1.0) * 1e-9;
        self.eq
            .as_ref()
            .is_none_or(|q| (v - q.value).abs() <= eps(q))
            && self
                .ne
                .as_ref()
                .is_none_or(|q| (v - q.value).abs() > eps(q))
            && self.gt.as_ref().is_none_or(|q| v > q.value)
            && self.gte.as_ref().is_none_or(|q| v >= q.value - eps(q))
            && self.lt.as_ref().is_none_or(|q| v < q.value)
            && self.lte.as_ref().is_none_or(|q| v <= q.value + eps(q))
    }

    fn is_empty(&self) -> bool {
        self.eq.is_none()
            && self.ne.is_none()
            && self.gt.is_none()
            && self.gte.is_none()
            && self.lt.is_none()
            && self.lte.is_none()
    }
}

impl<'de> Deserialize<'de> for Comparison {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Comparison;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, or a mapping with eq/ne/gt/gte/lt/lte")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Comparison, E> {
                QuantityVisitor.visit_u64(v).map(exactly)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Comparison, E> {
                QuantityVisitor.visit_i64(v).map(exactly)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Comparison, E> {
                QuantityVisitor.visit_f64(v).map(exactly)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Comparison, E> {
                QuantityVisitor.visit_str(v).map(exactly)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Comparison, A::Error> {
                let r = RawComparison::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let c = Comparison {
                    eq: r.eq,
                    ne: r.ne,
                    gt: r.gt,
                    gte: r.gte,
                    lt: r.lt,
                    lte: r.lte,
                };
                if c.is_empty() {
                    return Err(de::Error::custom(
                        "empty comparison: give at least one of eq, ne, gt, gte, lt, lte",
                    ));
                }
                Ok(c)
            }
        }
        fn exactly(q: Quantity) -> Comparison {
            Comparison {
                eq: Some(q),
                ..Comparison::default()
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for PortRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PortRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port number (1-65535) or a port name")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortRef, E> {
                match u16::try_from(v) {
                    Ok(p) if p > 0 => Ok(PortRef::Number(p)),
                    _ => Err(E::custom(format!("port {v} is out of range 1-65535"))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortRef, E> {
                Err(E::custom(format!("port {v} is out of range 1-65535")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortRef, E> {
                if v.is_empty() {
                    return Err(E::custom("empty port name"));
                }
                Ok(PortRef::Name(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A regular expression, checked when the lesson is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(pub String);

impl Pattern {
    /// Compile the pattern (it was validated at parse time).
    pub fn regex(&self) -> Result<regex::Regex, regex::Error> {
        regex::Regex::new(&self.0)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match regex::Regex::new(&s) {
            Ok(_) => Ok(Pattern(s)),
            Err(e) => Err(de::Error::custom(format!(
                "`{s}` is not a valid regular expression: {}",
                e.to_string()
                    .lines()
                    .last()
                    .unwrap_or("syntax error")
                    .trim()
            ))),
        }
    }
}

/// A dotted path into a JSON object: `spec.replicas`,
/// `spec.containers[0].image`, `spec.containers[*].image`,
/// `metadata.labels["app.kubernetes.io/part-of"]`; `.` alone (or an empty
/// path) is the root, and a leading `.` is allowed (`.messages`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    pub text: String,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
    /// `[*]`: every element of a list (or value of an object).
    Each,
}

impl FieldPath {
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let mut segments = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        if chars.first() == Some(&'.') {
            i = 1;
        }
        let bad = |i: usize, what: &str| {
            format!("bad field path `{text}` at character {}: {what}", i + 1)
        };
        let mut expect_key = true;
        while i < chars.len() {
            let c = chars[i];
            if c == '[' {
                let close = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .map(|p| p + i)
                    .ok_or_else(|| bad(i, "`[` is never closed"))?;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                if inner == "*" {
                    segments.push(Segment::Each);
                } else if let Some(q) = inner
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                {
                    segments.push(Segment::Key(q.to_string()));
                } else if let Ok(n) = inner.parse::<usize>() {
                    segments.push(Segment::Index(n));
                } else {
                    return Err(bad(
                        i,
                        "inside [] write an index, `*` or a quoted key like [\"a.b/c\"]",
                    ));
                }
                i = close + 1;
                expect_key = false;
            } else if c == '.' {
                if expect_key {
                    return Err(bad(i, "empty key (two dots in a row?)"));
                }
                i += 1;
                expect_key = true;
                if i == chars.len() {
                    return Err(bad(i - 1, "the path ends with a dot"));
                }
            } else {
                if !expect_key {
                    return Err(bad(i, "expected `.` or `[` after `]`"));
                }
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                segments.push(Segment::Key(chars[start..i].iter().collect()));
                expect_key = false;
            }
        }
        Ok(FieldPath {
            text: text.to_string(),
            segments,
        })
    }

    /// Every value the path selects in `root` (none when it does not exist).
    pub fn select<'a>(&self, root: &'a serde_json::Value) -> Vec<&'a serde_json::Value> {
        let mut current = vec![root];
        for seg in &self.segments {
            let mut next = Vec::new();
            for v in current {
                match seg {
                    Segment::Key(k) => next.extend(v.get(k.as_str())),
                    Segment::Index(n) => next.extend(v.get(*n)),
                    Segment::Each => match v {
                        serde_json::Value::Array(a) => next.extend(a.iter()),
                        serde_json::Value::Object(o) => next.extend(o.values()),
                        _ => {}
                    },
                }
            }
            current = next;
        }
        current
    }
}

impl<'de> Deserialize<'de> for FieldPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FieldPath::parse(&s).map_err(de::Error::custom)
    }
}

/// `answer: b` or `answer: [a, c]`.
#[derive(Debug, Clone, PartialEq)]
struct Letters(Vec<String>);

impl<'de> Deserialize<'de> for Letters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Letters;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a choice letter (`b`) or a list of letters (`[a, c]`)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Letters, E> {
                Ok(Letters(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Letters, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(Letters(out))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// Raw (as written) forms and validation
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    #[serde(default)]
    resource: Option<Box<ResourceCheck>>,
    #[serde(default)]
    http: Option<Box<HttpProbe>>,
    #[serde(default)]
    all: Option<Vec<Condition>>,
    #[serde(default)]
    any: Option<Vec<Condition>>,
    #[serde(default)]
    not: Option<Box<Condition>>,
    #[serde(default)]
    sequence: Option<At<Vec<At<RawStage>>>>,
    #[serde(default)]
    quiz: Option<RawQuiz>,
    #[serde(default)]
    hints: Vec<LiveHint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    #[serde(default, rename = "as")]
    bind: Option<At<String>>,
    #[serde(default)]
    probe_sees: Option<HttpProbe>,
    #[serde(default)]
    resource_deleted: Option<At<String>>,
    #[serde(default)]
    replacement_ready: Option<RawReplacement>,
    #[serde(default)]
    holds: Option<Condition>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplacement {
    same_owner_as: At<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuiz {
    question: String,
    choices: At<Vec<String>>,
    answer: At<Letters>,
    #[serde(default)]
    explain: Option<String>,
}

const TOP: Pos = Pos { line: 1, col: 1 };

type Invalid = (Pos, String);

impl RawCheck {
    fn validate(self) -> Result<CheckSpec, Invalid> {
        let mut goals: Vec<Goal> = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        if let Some(r) = self.resource {
            names.push("resource");
            goals.push(Goal::Condition(Condition::Resource(r)));
        }
        if let Some(h) = self.http {
            names.push("http");
            goals.push(Goal::Condition(Condition::Http(h)));
        }
        if let Some(a) = self.all {
            names.push("all");
            goals.push(Goal::Condition(Condition::All(a)));
        }
        if let Some(a) = self.any {
            names.push("any");
            goals.push(Goal::Condition(Condition::Any(a)));
        }
        if let Some(n) = self.not {
            names.push("not");
            goals.push(Goal::Condition(Condition::Not(n)));
        }
        if let Some(s) = self.sequence {
            names.push("sequence");
            goals.push(Goal::Sequence(validate_sequence(s)?));
        }
        if let Some(q) = self.quiz {
            names.push("quiz");
            goals.push(Goal::Quiz(validate_quiz(q)?));
        }
        let goal = match goals.len() {
            1 => goals.remove(0),
            0 => {
                return Err((
                    TOP,
                    "the check has no goal: add one of `resource`, `http`, `all`, `any`, `not`, `sequence` or `quiz`".into(),
                ));
            }
            _ => {
                return Err((
                    TOP,
                    format!(
                        "the check has several goals ({}): keep one, and combine conditions with `all:` or `any:`",
                        names.join(", ")
                    ),
                ));
            }
        };
        if let Goal::Condition(c) = &goal {
            validate_condition(c, &BTreeSet::new())?;
        }
        for h in &self.hints {
            validate_condition(&h.when, &BTreeSet::new())?;
            if h.say.trim().is_empty() {
                return Err((TOP, "a live hint has an empty `say:`".into()));
            }
        }
        Ok(CheckSpec {
            goal,
            hints: self.hints,
        })
    }
}

fn validate_quiz(q: RawQuiz) -> Result<Quiz, Invalid> {
    let n = q.choices.value.len();
    if n < 2 {
        return Err((q.choices.pos, "a quiz needs at least two choices".into()));
    }
    if n > 26 {
        return Err((
            q.choices.pos,
            "a quiz has at most 26 choices (a to z)".into(),
        ));
    }
    if q.question.trim().is_empty() {
        return Err((TOP, "the quiz question is empty".into()));
    }
    let last = char::from(b'a' + (n - 1) as u8);
    let mut answers = Vec::new();
    for letter in &q.answer.value.0 {
        let idx = match letter.trim().as_bytes() {
            [c @ b'a'..=b'z'] => usize::from(c - b'a'),
            [c @ b'A'..=b'Z'] => usize::from(c - b'A'),
            _ => n,
        };
        if idx >= n {
            return Err((
                q.answer.pos,
                format!(
                    "quiz answer `{letter}` is not one of the choices: use a letter from a to {last}"
                ),
            ));
        }
        if answers.contains(&idx) {
            return Err((
                q.answer.pos,
                format!("quiz answer `{letter}` is given twice"),
            ));
        }
        answers.push(idx);
    }
    if answers.is_empty() {
        return Err((q.answer.pos, "the quiz has no answer".into()));
    }
    answers.sort_unstable();
    Ok(Quiz {
        question: q.question,
        choices: q.choices.value,
        answers,
        explain: q.explain,
    })
}

fn validate_sequence(s: At<Vec<At<RawStage>>>) -> Result<Vec<Stage>, Invalid> {
    if s.value.len() < 2 {
        return Err((
            s.pos,
            "a sequence needs at least two stages (use a plain condition for one)".into(),
        ));
    }
    let mut bound: BTreeSet<String> = BTreeSet::new();
    let mut stages = Vec::new();
    for (i, raw) in s.value.into_iter().enumerate() {
        let pos = raw.pos;
        let r = raw.value;
        let mut kinds = Vec::new();
        if let Some(p) = r.probe_sees {
            validate_probe(&p, &bound)?;
            kinds.push(StageKind::ProbeSees(Box::new(p)));
        }
        if let Some(name) = r.resource_deleted {
            need_binding(&name, &bound)?;
            kinds.push(StageKind::ResourceDeleted(name.value));
        }
        if let Some(rep) = r.replacement_ready {
            need_binding(&rep.same_owner_as, &bound)?;
            kinds.push(StageKind::ReplacementReady {
                same_owner_as: rep.same_owner_as.value,
            });
        }
        if let Some(c) = r.holds {
            validate_condition(&c, &bound)?;
            kinds.push(StageKind::Holds(c));
        }
        if kinds.len() != 1 {
            return Err((
                pos,
                format!(
                    "stage {} must have exactly one of `probe_sees`, `resource_deleted`, `replacement_ready`, `holds` (found {})",
                    i + 1,
                    kinds.len()
                ),
            ));
        }
        let kind = kinds.remove(0);
        let bind = match r.bind {
            Some(b) => {
                if !is_slug(&b.value, '_') {
                    return Err((
                        b.pos,
                        format!("`as: {}`: a binding name uses a-z, 0-9 and _", b.value),
                    ));
                }
                if matches!(kind, StageKind::ResourceDeleted(_)) {
                    return Err((
                        b.pos,
                        "a `resource_deleted` stage observes nothing to bind with `as:`".into(),
                    ));
                }
                if !bound.insert(b.value.clone()) {
                    return Err((b.pos, format!("`as: {}` is bound twice", b.value)));
                }
                Some(b.value)
            }
            None => None,
        };
        stages.push(Stage { pos, bind, kind });
    }
    Ok(stages)
}

fn need_binding(name: &At<String>, bound: &BTreeSet<String>) -> Result<(), Invalid> {
    if bound.contains(&name.value) {
        Ok(())
    } else if bound.is_empty() {
        Err((
            name.pos,
            format!(
                "`{}` is not bound: an earlier stage must say `as: {}`",
                name.value, name.value
            ),
        ))
    } else {
        Err((
            name.pos,
            format!(
                "`{}` is not bound by an earlier stage (bound so far: {})",
                name.value,
                bound.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        ))
    }
}

fn validate_condition(c: &Condition, bound: &BTreeSet<String>) -> Result<(), Invalid> {
    match c {
        Condition::Resource(r) => validate_resource(r),
        Condition::Http(p) => validate_probe(p, bound),
        Condition::All(cs) | Condition::Any(cs) => {
            if cs.is_empty() {
                return Err((TOP, "`all:`/`any:` needs at least one condition".into()));
            }
            cs.iter().try_for_each(|c| validate_condition(c, bound))
        }
        Condition::Not(c) => validate_condition(c, bound),
    }
}

fn validate_probe(p: &HttpProbe, bound: &BTreeSet<String>) -> Result<(), Invalid> {
    let at = p.path.pos;
    match (&p.service, &p.pod) {
        (Some(_), Some(_)) => {
            return Err((
                at,
                "an http probe goes to a `service` or a `pod`, not both".into(),
            ));
        }
        (None, None) => {
            return Err((
                at,
                "an http probe needs a target: `service: <name>` or `pod: {selector: ...}`".into(),
            ));
        }
        (None, Some(pod)) => {
            let n = usize::from(pod.name.is_some())
                + usize::from(pod.selector.is_some())
                + usize::from(pod.reference.is_some());
            if n != 1 {
                return Err((
                    at,
                    "`pod:` takes exactly one of `name`, `selector`, `ref`".into(),
                ));
            }
            if let Some(r) = &pod.reference {
                need_binding(r, bound)?;
            }
        }
        (Some(_), None) => {}
    }
    if !p.path.value.starts_with('/') {
        return Err((
            at,
            format!("the probe path `{}` must start with `/`", p.path.value),
        ));
    }
    if let Some(s) = p.status
        && !(100..=599).contains(&s)
    {
        return Err((at, format!("status {s} is not an HTTP status (100-599)")));
    }
    for f in &p.json {
        validate_field(f)?;
        if let Some(b) = &f.seen_by {
            need_binding(b, bound)?;
        }
    }
    Ok(())
}

fn validate_field(f: &FieldMatch) -> Result<(), Invalid> {
    if f.has_matcher() {
        Ok(())
    } else {
        Err((
            f.path.pos,
            format!(
                "field `{}` has no matcher: add equals, not_equals, matches, contains, present, gt, gte, lt, lte, length or seen_by",
                f.path.value.text
            ),
        ))
    }
}

fn validate_resource(r: &ResourceCheck) -> Result<(), Invalid> {
    let kind = r.kind.value;
    let at = r.kind.pos;
    let only = |field: &str, set: bool, ok: bool, kinds: &str| -> Result<(), Invalid> {
        if set && !ok {
            Err((
                at,
                format!("`{field}` does not apply to {kind}: it is for {kinds}"),
            ))
        } else {
            Ok(())
        }
    };
    if r.absent && r.count.is_some() {
        return Err((at, "give `absent: true` or `count`, not both".into()));
    }
    if r.namespace.is_some() && !kind.is_namespaced() {
        return Err((at, format!("{kind} is not namespaced: remove `namespace`")));
    }
    only(
        "ready",
        r.ready.is_some(),
        matches!(
            kind,
            Kind::Pod | Kind::Deployment | Kind::ReplicaSet | Kind::StatefulSet
        ),
        "Pod, Deployment, ReplicaSet and StatefulSet",
    )?;
    only(
        "phase",
        r.phase.is_some(),
        matches!(
            kind,
            Kind::Pod | Kind::PersistentVolumeClaim | Kind::PersistentVolume
        ),
        "Pod, PersistentVolumeClaim and PersistentVolume",
    )?;
    only("container", r.container.is_some(), kind == Kind::Pod, "Pod")?;
    only("log", r.log.is_some(), kind == Kind::Pod, "Pod")?;
    only(
        "bound",
        r.bound.is_some(),
        kind == Kind::PersistentVolumeClaim,
        "PersistentVolumeClaim",
    )?;
    only(
        "volume",
        r.volume.is_some(),
        kind.has_pod_spec(),
        "Pod, Deployment, ReplicaSet, StatefulSet and Job",
    )?;
    only(
        "env",
        r.env.is_some(),
        kind.has_pod_spec(),
        "Pod, Deployment, ReplicaSet, StatefulSet and Job",
    )?;
    if let Some(e) = &r.env {
        let n = usize::from(e.config_map.is_some())
            + usize::from(e.secret.is_some())
            + usize::from(e.value.is_some());
        if n > 1 {
            return Err((
                at,
                format!(
                    "env `{}`: give at most one of `config_map`, `secret`, `value`",
                    e.name
                ),
            ));
        }
        if e.key.is_some() && e.config_map.is_none() && e.secret.is_none() {
            return Err((
                at,
                format!("env `{}`: `key` needs `config_map` or `secret`", e.name),
            ));
        }
    }
    if let Some(l) = &r.log
        && l.contains.is_empty()
    {
        return Err((at, "`log.contains` is empty".into()));
    }
    if let Some(e) = &r.event {
        if kind == Kind::Event {
            return Err((
                at,
                "`event` is about the events of an object: use `fields` on an Event".into(),
            ));
        }
        if !matches!(e.event_type(), "Warning" | "Normal") {
            return Err((
                at,
                format!(
                    "event `type` is Warning or Normal, not `{}`",
                    e.event_type()
                ),
            ));
        }
        if e.reason.as_deref().is_some_and(str::is_empty)
            || e.message_contains.as_deref().is_some_and(str::is_empty)
        {
            return Err((
                at,
                "`event.reason` and `event.message_contains` must not be empty".into(),
            ));
        }
    }
    for f in &r.fields {
        validate_field(f)?;
        if let Some(b) = &f.seen_by {
            return Err((
                b.pos,
                "`seen_by` compares probe responses: use it in the `json:` of a `probe_sees` stage"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// Lowercase ascii letters, digits and `sep`, starting with a letter or digit.
pub(crate) fn is_slug(s: &str, sep: char) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml: &str) -> (Pos, String) {
        match parse_check(yaml) {
            Ok(spec) => panic!("expected an error, got {spec:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn resource_condition_with_everything() {
        let spec = parse_check(
            r#"
resource:
  kind: Pod
  selector: {app: msg-api}
  count: 1
  ready: true
  phase: Running
  fields:
    - path: metadata.labels["app.kubernetes.io/part-of"]
      equals: kubetutor
    - path: spec.containers[*].image
      matches: "^python:3"
  container: {name: api, state: running, restarts: {lte: 2}}
  log: {contains: "API_DB_FILEPATH is set"}
  volume: {type: emptyDir, mount_path: /cache}
  env: {name: API_DB_FILEPATH, config_map: msg-api-config}
hints:
  - when: {resource: {kind: Pod, selector: {app: msg-api}, container: {reason: CrashLoopBackOff}}}
    say: Look at the logs.
"#,
        )
        .unwrap();
        let Goal::Condition(Condition::Resource(r)) = &spec.goal else {
            panic!("{spec:?}")
        };
        assert_eq!(r.kind.value, Kind::Pod);
        assert_eq!(r.kind.pos, Pos { line: 3, col: 9 });
        assert!(r.count.as_ref().unwrap().accepts(1.0));
        assert!(!r.count.as_ref().unwrap().accepts(2.0));
        assert_eq!(
            r.fields[0].path.value.segments,
            vec![
                Segment::Key("metadata".into()),
                Segment::Key("labels".into()),
                Segment::Key("app.kubernetes.io/part-of".into())
            ]
        );
        assert_eq!(spec.hints.len(), 1);
    }

    #[test]
    fn pvc_bound_and_combinators() {
        let spec = parse_check(
            r#"
all:
  - resource:
      kind: PersistentVolumeClaim
      name: data
      phase: Bound
      bound:
        storage_class: standard
        reclaim_policy: Retain
        capacity: {gte: 1Gi}
        access_modes: [ReadWriteOnce]
        source: hostPath
  - not:
      resource: {kind: Pod, name: old, absent: true}
  - any:
      - resource: {kind: StorageClass, name: standard}
      - resource: {kind: Event, fields: [{path: reason, equals: FailedMount}]}
"#,
        )
        .unwrap();
        let Goal::Condition(Condition::All(cs)) = &spec.goal else {
            panic!()
        };
        let Condition::Resource(r) = &cs[0] else {
            panic!()
        };
        let cap = r.bound.as_ref().unwrap().capacity.as_ref().unwrap();
        assert!(cap.accepts(1024.0 * 1024.0 * 1024.0));
        assert!(!cap.accepts(1e9));
    }

    #[test]
    fn http_probe() {
        let spec = parse_check(
            r#"
http:
  service: msg-api
  port: 80
  path: /messages
  json:
    - path: .messages
      length: {gte: 1}
"#,
        )
        .unwrap();
        let Goal::Condition(Condition::Http(p)) = &spec.goal else {
            panic!()
        };
        assert_eq!(p.method, Method::Get);
        assert_eq!(p.port, Some(PortRef::Number(80)));
        let v = serde_json::json!({"messages": [1, 2]});
        assert_eq!(p.json[0].path.value.select(&v).len(), 1);
    }

    #[test]
    fn sequence_with_bindings() {
        let spec = parse_check(
            r#"
sequence:
  - probe_sees:
      pod: {selector: {app: msg-api}}
      path: /messages
      json: [{path: messages, length: {gte: 1}}]
    as: first_pod
  - resource_deleted: first_pod
  - replacement_ready: {same_owner_as: first_pod}
    as: second_pod
  - probe_sees:
      pod: {ref: second_pod}
      path: /messages
      json: [{path: messages, length: 0}]
"#,
        )
        .unwrap();
        let Goal::Sequence(stages) = &spec.goal else {
            panic!()
        };
        assert_eq!(stages.len(), 4);
        assert_eq!(stages[0].bind.as_deref(), Some("first_pod"));
        assert_eq!(
            stages[1].kind,
            StageKind::ResourceDeleted("first_pod".into())
        );
    }

    #[test]
    fn sequence_errors() {
        let (pos, msg) = err("sequence:\n  - resource_deleted: x\n");
        assert!(msg.contains("at least two stages"), "{msg}");
        assert_eq!(pos.line, 2);
        let (pos, msg) = err(
            "sequence:\n  - holds: {resource: {kind: Pod, name: a}}\n  - resource_deleted: first_pod\n",
        );
        assert!(msg.contains("`first_pod` is not bound"), "{msg}");
        assert_eq!(pos, Pos { line: 3, col: 23 });
        let (_, msg) = err(
            "sequence:\n  - holds: {resource: {kind: Pod, name: a}}\n    probe_sees: {service: a, path: /}\n  - holds: {resource: {kind: Pod, name: a}}\n",
        );
        assert!(msg.contains("exactly one of"), "{msg}");
    }

    #[test]
    fn seen_by_needs_a_binding_and_a_probe() {
        let ok = "sequence:\n  - probe_sees: {service: a, path: /m, json: [{path: messages, length: {gte: 1}}]}\n    as: first\n  - probe_sees: {service: a, path: /m, json: [{path: messages, seen_by: first}]}\n";
        let Goal::Sequence(st) = parse_check(ok).unwrap().goal else {
            panic!()
        };
        let StageKind::ProbeSees(p) = &st[1].kind else {
            panic!()
        };
        assert_eq!(p.json[0].seen_by.as_ref().unwrap().value, "first");
        let (_, msg) = err(&ok.replace("seen_by: first", "seen_by: nope"));
        assert!(msg.contains("`nope` is not bound"), "{msg}");
        let (_, msg) = err("resource: {kind: Pod, fields: [{path: a, seen_by: x}]}\n");
        assert!(msg.contains("probe_sees"), "{msg}");
    }

    #[test]
    fn quiz() {
        let spec = parse_check(
            "quiz:\n  question: Why?\n  choices: [one, two, three]\n  answer: [c, a]\n",
        )
        .unwrap();
        let Goal::Quiz(q) = &spec.goal else { panic!() };
        assert_eq!(q.answers, vec![0, 2]);
        let (pos, msg) = err("quiz:\n  question: Why?\n  choices: [one, two]\n  answer: d\n");
        assert!(msg.contains("not one of the choices"), "{msg}");
        assert_eq!(pos.line, 4);
        let (_, msg) = err("quiz:\n  question: Why?\n  choices: [one]\n  answer: a\n");
        assert!(msg.contains("two choices"), "{msg}");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_errors() {
        let (pos, msg) = err("resource:\n  kind: Pod\n  nmae: x\n");
        assert!(msg.contains("nmae"), "{msg}");
        assert_eq!(pos.line, 3);
        let (_, msg) = err("resource:\n  kind: Pood\n");
        assert!(msg.contains("Pood"), "{msg}");
        let (_, msg) =
            err("resource:\n  kind: PersistentVolumeClaim\n  bound: {capacity: {gte: 1GB}}\n");
        assert!(msg.contains("not a quantity"), "{msg}");
        let (_, msg) = err("resource:\n  kind: Pod\n  fields: [{path: a, matches: \"(\"}]\n");
        assert!(msg.contains("regular expression"), "{msg}");
        let (_, msg) = err("resource:\n  kind: Pod\n  fields: [{path: a..b, present: true}]\n");
        assert!(msg.contains("bad field path"), "{msg}");
        let (_, msg) = err("resource:\n  kind: Pod\n  fields: [{path: a}]\n");
        assert!(msg.contains("no matcher"), "{msg}");
    }

    #[test]
    fn goal_rules() {
        let (_, msg) = err("hints: []\n");
        assert!(msg.contains("no goal"), "{msg}");
        let (_, msg) = err("resource: {kind: Pod}\nhttp: {service: a, path: /}\n");
        assert!(msg.contains("several goals"), "{msg}");
        let (_, msg) = err("");
        assert!(msg.contains("empty"), "{msg}");
        let (_, msg) = err("resource: {kind: Service, log: {contains: x}}\n");
        assert!(msg.contains("does not apply to Service"), "{msg}");
        let (_, msg) = err("http: {path: /}\n");
        assert!(msg.contains("needs a target"), "{msg}");
        let (_, msg) = err("http: {pod: {ref: x}, path: /}\n");
        assert!(msg.contains("not bound"), "{msg}");
        for bad in [
            "resource: [1, 2\n",
            "resource:\n  kind: Pod\n  nmae: x\n",
            "resource:\n  kind: Pood\n",
            "quiz: {question: q, choices: [a, b], answer: {x: 1}}\n",
            "resource:\n  kind: Pod\n  count: {gte: 1, foo: 2}\n",
            "\tresource: x",
        ] {
            let (pos, msg) = err(bad);
            eprintln!("{pos}: {msg}");
            assert!(!msg.is_empty());
        }
    }

    #[test]
    fn kinds_know_their_api() {
        assert_eq!(Kind::Deployment.api_version(), "apps/v1");
        assert_eq!(
            Kind::PersistentVolumeClaim.plural(),
            "persistentvolumeclaims"
        );
        assert!(!Kind::StorageClass.is_namespaced());
        let (_, msg) = err("resource: {kind: PersistentVolume, namespace: x}\n");
        assert!(msg.contains("not namespaced"), "{msg}");
    }

    #[test]
    fn quantities_and_paths() {
        assert_eq!(Quantity::parse("1Gi").unwrap().value, 1073741824.0);
        assert_eq!(Quantity::parse("250m").unwrap().value, 0.25);
        assert!(Quantity::parse("1GB").is_none());
        assert!(Quantity::parse("").is_none());
        assert!(FieldPath::parse(".").unwrap().segments.is_empty());
        assert!(FieldPath::parse("a[").is_err());
        assert!(FieldPath::parse("a.").is_err());
        assert!(FieldPath::parse("a[0]b").is_err());
        let p = FieldPath::parse("items[*].name").unwrap();
        let v = serde_json::json!({"items": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(p.select(&v).len(), 2);
    }
}

//! Decoding of the Kubernetes protobuf encoding
//! (`Content-Type: application/vnd.kubernetes.protobuf`).
//!
//! kubectl's typed commands (`create secret`, `create configmap`,
//! `create namespace`, `create deployment`, `create service`, `create job`)
//! send their object this way and never retry in JSON, so the sandbox must
//! read it. The body is the magic `k8s\0`, then a `runtime.Unknown` envelope
//! (type meta + raw bytes), and the raw bytes are the object in the field
//! numbering of upstream's `generated.proto` files.
//!
//! The decoder is hand written and schema driven: [`Field`] tables below list,
//! for each message the sandbox understands, the field numbers, their JSON
//! names and types. Unknown fields are skipped, as protobuf requires.
//! Values the Go side always writes (non-pointer fields) are dropped when
//! zero, as `omitempty` would drop them in JSON; pointer fields are kept
//! whenever present, so `emptyDir: {}` and Secret `type: ""` survive.

mod auth_kinds;

use base64::Engine as _;
use serde_json::{Map, Value};

/// The four bytes in front of every protobuf-encoded Kubernetes object.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type kubectl uses for protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    MissingMagic,
    #[error("unexpected EOF: the protobuf message is truncated")]
    Truncated,
    #[error("proto: integer overflow in varint")]
    VarintOverflow,
    #[error("proto: illegal wireType {wire_type} for field {field}")]
    BadWireType { field: String, wire_type: u8 },
    #[error("proto: field {0} is not valid UTF-8")]
    InvalidUtf8(String),
    #[error("proto: illegal tag 0")]
    ZeroTag,
    #[error("object kind is missing in the protobuf envelope")]
    MissingKind,
    #[error("no kind \"{kind}\" is registered for version \"{api_version}\" in the sandbox")]
    UnsupportedKind { api_version: String, kind: String },
}

/// Tells whether a `Content-Type` header value announces a protobuf body.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

/// Decodes a protobuf request body into the JSON the API would store:
/// `apiVersion`, `kind`, then the object's fields.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let envelope = decode_message(rest, UNKNOWN, "Unknown")?;
    let type_meta = envelope.get("typeMeta").and_then(Value::as_object);
    let text = |key: &str| {
        type_meta
            .and_then(|t| t.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    if kind.is_empty() {
        return Err(ProtobufError::MissingKind);
    }
    let Some(schema) = schema_for(&api_version, &kind) else {
        return Err(ProtobufError::UnsupportedKind { api_version, kind });
    };
    let raw = envelope
        .get("raw")
        .and_then(Value::as_str)
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .unwrap_or_default();
    let object = decode_message(&raw, schema, &kind)?;
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version));
    out.insert("kind".into(), Value::String(kind));
    out.extend(object);
    Ok(Value::Object(out))
}

fn schema_for(api_version: &str, kind: &str) -> Option<&'static [Field]> {
    Some(match (api_version, kind) {
        ("v1", "Secret") => SECRET,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "Service") => SERVICE,
        ("v1", "Pod") => POD,
        ("apps/v1", "Deployment") => DEPLOYMENT,
        ("batch/v1", "Job") => JOB,
        ("batch/v1", "CronJob") => CRON_JOB,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            auth_kinds::SELF_SUBJECT_ACCESS_REVIEW
        }
        ("authorization.k8s.io/v1", "SubjectAccessReview" | "LocalSubjectAccessReview") => {
            auth_kinds::SUBJECT_ACCESS_REVIEW
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => {
            auth_kinds::SELF_SUBJECT_RULES_REVIEW
        }
        ("authentication.k8s.io/v1", "SelfSubjectReview") => auth_kinds::SELF_SUBJECT_REVIEW,
        ("authentication.k8s.io/v1", "TokenRequest") => auth_kinds::TOKEN_REQUEST,
        ("authentication.k8s.io/v1", "TokenReview") => auth_kinds::TOKEN_REVIEW,
        ("rbac.authorization.k8s.io/v1", "Role") => auth_kinds::ROLE,
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => auth_kinds::CLUSTER_ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => {
            auth_kinds::BINDING
        }
        // Every group version registers the option types; clients send
        // their delete's options as the group's own DeleteOptions.
        (_, "DeleteOptions") => DELETE_OPTIONS,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Schema tables
// ---------------------------------------------------------------------------

/// How a field's value is read and rendered in JSON.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    /// bytes, rendered base64 like the JSON encoding of `[]byte`.
    Bytes,
    I64,
    I32,
    Bool,
    Msg(&'static [Field]),
    /// An embedded Go struct (e.g. `LocalObjectReference`) whose fields the
    /// JSON encoding flattens into the parent.
    Inline(&'static [Field]),
    MapStr,
    MapBytes,
    MapQuantity,
    /// `metav1.Time` rendered RFC 3339.
    Time,
    /// `resource.Quantity` rendered as its string.
    Quantity,
    IntOrString,
}

#[derive(Clone, Copy)]
struct Field {
    num: u64,
    name: &'static str,
    kind: Kind,
    repeated: bool,
    /// A Go pointer (or a field kept even when zero): present means set.
    keep: bool,
}

const fn f(num: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        kind,
        repeated: false,
        keep: false,
    }
}
/// A pointer field: kept even when its value is zero.
const fn p(num: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        kind,
        repeated: false,
        keep: true,
    }
}
const fn r(num: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        kind,
        repeated: true,
        keep: false,
    }
}

use Kind::{
    Bool, Bytes, I32, I64, Inline, IntOrString, MapBytes, MapQuantity, MapStr, Msg, Quantity, Str,
    Time,
};

const QUANTITY: &[Field] = &[f(1, "string", Str)];
const TIME: &[Field] = &[f(1, "seconds", I64), f(2, "nanos", I32)];
const INT_OR_STRING: &[Field] = &[f(1, "type", I64), f(2, "intVal", I32), f(3, "strVal", Str)];

const UNKNOWN: &[Field] = &[
    f(1, "typeMeta", Msg(TYPE_META)),
    f(2, "raw", Bytes),
    f(3, "contentEncoding", Str),
    f(4, "contentType", Str),
];
const TYPE_META: &[Field] = &[f(1, "apiVersion", Str), f(2, "kind", Str)];

const OBJECT_META: &[Field] = &[
    f(1, "name", Str),
    f(2, "generateName", Str),
    f(3, "namespace", Str),
    f(5, "uid", Str),
    f(6, "resourceVersion", Str),
    f(7, "generation", I64),
    f(8, "creationTimestamp", Time),
    p(9, "deletionTimestamp", Time),
    p(10, "deletionGracePeriodSeconds", I64),
    f(11, "labels", MapStr),
    f(12, "annotations", MapStr),
    r(13, "ownerReferences", Msg(OWNER_REFERENCE)),
    r(14, "finalizers", Str),
];
const OWNER_REFERENCE: &[Field] = &[
    f(5, "apiVersion", Str),
    f(1, "kind", Str),
    f(3, "name", Str),
    f(4, "uid", Str),
    p(6, "controller", Bool),
    p(7, "blockOwnerDeletion", Bool),
];
const LABEL_SELECTOR: &[Field] = &[
    f(1, "matchLabels", MapStr),
    r(2, "matchExpressions", Msg(LABEL_SELECTOR_REQUIREMENT)),
];
const LABEL_SELECTOR_REQUIREMENT: &[Field] =
    &[f(1, "key", Str), f(2, "operator", Str), r(3, "values", Str)];

/// `metav1.DeleteOptions`: what a typed client's DELETE carries (helm's
/// uninstall sends `propagationPolicy: Background` this way).
const DELETE_OPTIONS: &[Field] = &[
    p(1, "gracePeriodSeconds", I64),
    p(2, "preconditions", Msg(PRECONDITIONS)),
    p(3, "orphanDependents", Bool),
    p(4, "propagationPolicy", Str),
    r(5, "dryRun", Str),
    p(6, "ignoreStoreReadErrorWithClusterBreakingPotential", Bool),
];
const PRECONDITIONS: &[Field] = &[p(1, "uid", Str), p(2, "resourceVersion", Str)];

const SECRET: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    p(5, "immutable", Bool),
    f(2, "data", MapBytes),
    f(4, "stringData", MapStr),
    // Kept even when empty so the server can default it to Opaque.
    p(3, "type", Str),
];
const CONFIG_MAP: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    p(4, "immutable", Bool),
    f(2, "data", MapStr),
    f(3, "binaryData", MapBytes),
];
const NAMESPACE: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(2, "spec", Msg(&[r(1, "finalizers", Str)])),
    f(3, "status", Msg(&[f(1, "phase", Str)])),
];

const POD: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(2, "spec", Msg(POD_SPEC)),
];
const POD_TEMPLATE_SPEC: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(2, "spec", Msg(POD_SPEC)),
];
const POD_SPEC: &[Field] = &[
    r(1, "volumes", Msg(VOLUME)),
    r(20, "initContainers", Msg(CONTAINER)),
    r(2, "containers", Msg(CONTAINER)),
    f(3, "restartPolicy", Str),
    p(4, "terminationGracePeriodSeconds", I64),
    p(5, "activeDeadlineSeconds", I64),
    f(6, "dnsPolicy", Str),
    f(7, "nodeSelector", MapStr),
    f(8, "serviceAccountName", Str),
    f(9, "serviceAccount", Str),
    p(21, "automountServiceAccountToken", Bool),
    f(10, "nodeName", Str),
    f(11, "hostNetwork", Bool),
    r(15, "imagePullSecrets", Msg(LOCAL_OBJECT_REFERENCE)),
    f(16, "hostname", Str),
    f(17, "subdomain", Str),
    f(19, "schedulerName", Str),
    f(24, "priorityClassName", Str),
    p(25, "priority", I32),
    p(30, "enableServiceLinks", Bool),
];
const LOCAL_OBJECT_REFERENCE: &[Field] = &[f(1, "name", Str)];
const CONTAINER: &[Field] = &[
    f(1, "name", Str),
    f(2, "image", Str),
    r(3, "command", Str),
    r(4, "args", Str),
    f(5, "workingDir", Str),
    r(6, "ports", Msg(CONTAINER_PORT)),
    r(19, "envFrom", Msg(ENV_FROM_SOURCE)),
    r(7, "env", Msg(ENV_VAR)),
    f(8, "resources", Msg(RESOURCE_REQUIREMENTS)),
    p(24, "restartPolicy", Str),
    r(9, "volumeMounts", Msg(VOLUME_MOUNT)),
    f(13, "terminationMessagePath", Str),
    f(20, "terminationMessagePolicy", Str),
    f(14, "imagePullPolicy", Str),
    f(16, "stdin", Bool),
    f(17, "stdinOnce", Bool),
    f(18, "tty", Bool),
];
const CONTAINER_PORT: &[Field] = &[
    f(1, "name", Str),
    f(2, "hostPort", I32),
    f(3, "containerPort", I32),
    f(4, "protocol", Str),
    f(5, "hostIP", Str),
];
const ENV_VAR: &[Field] = &[
    f(1, "name", Str),
    f(2, "value", Str),
    p(3, "valueFrom", Msg(ENV_VAR_SOURCE)),
];
const ENV_VAR_SOURCE: &[Field] = &[
    p(
        1,
        "fieldRef",
        Msg(&[f(1, "apiVersion", Str), f(2, "fieldPath", Str)]),
    ),
    p(3, "configMapKeyRef", Msg(KEY_SELECTOR)),
    p(4, "secretKeyRef", Msg(KEY_SELECTOR)),
];
const KEY_SELECTOR: &[Field] = &[
    f(1, "localObjectReference", Inline(LOCAL_OBJECT_REFERENCE)),
    f(2, "key", Str),
    p(3, "optional", Bool),
];
const ENV_FROM_SOURCE: &[Field] = &[
    f(1, "prefix", Str),
    p(2, "configMapRef", Msg(ENV_SOURCE)),
    p(3, "secretRef", Msg(ENV_SOURCE)),
];
const ENV_SOURCE: &[Field] = &[
    f(1, "localObjectReference", Inline(LOCAL_OBJECT_REFERENCE)),
    p(2, "optional", Bool),
];
const RESOURCE_REQUIREMENTS: &[Field] =
    &[f(1, "limits", MapQuantity), f(2, "requests", MapQuantity)];
const VOLUME_MOUNT: &[Field] = &[
    f(1, "name", Str),
    f(2, "readOnly", Bool),
    f(3, "mountPath", Str),
    f(4, "subPath", Str),
    p(5, "mountPropagation", Str),
    f(6, "subPathExpr", Str),
];
const VOLUME: &[Field] = &[
    f(1, "name", Str),
    f(2, "volumeSource", Inline(VOLUME_SOURCE)),
];
const VOLUME_SOURCE: &[Field] = &[
    p(1, "hostPath", Msg(&[f(1, "path", Str), p(2, "type", Str)])),
    p(
        2,
        "emptyDir",
        Msg(&[f(1, "medium", Str), p(2, "sizeLimit", Quantity)]),
    ),
    p(6, "secret", Msg(SECRET_VOLUME_SOURCE)),
    p(
        10,
        "persistentVolumeClaim",
        Msg(&[f(1, "claimName", Str), f(2, "readOnly", Bool)]),
    ),
    p(19, "configMap", Msg(CONFIG_MAP_VOLUME_SOURCE)),
];
const KEY_TO_PATH: &[Field] = &[f(1, "key", Str), f(2, "path", Str), p(3, "mode", I32)];
const SECRET_VOLUME_SOURCE: &[Field] = &[
    f(1, "secretName", Str),
    r(2, "items", Msg(KEY_TO_PATH)),
    p(3, "defaultMode", I32),
    p(4, "optional", Bool),
];
const CONFIG_MAP_VOLUME_SOURCE: &[Field] = &[
    f(1, "localObjectReference", Inline(LOCAL_OBJECT_REFERENCE)),
    r(2, "items", Msg(KEY_TO_PATH)),
    p(3, "defaultMode", I32),
    p(4, "optional", Bool),
];

const DEPLOYMENT: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(2, "spec", Msg(DEPLOYMENT_SPEC)),
];
const DEPLOYMENT_SPEC: &[Field] = &[
    p(1, "replicas", I32),
    p(2, "selector", Msg(LABEL_SELECTOR)),
    f(3, "template", Msg(POD_TEMPLATE_SPEC)),
    f(4, "strategy", Msg(DEPLOYMENT_STRATEGY)),
    f(5, "minReadySeconds", I32),
    p(6, "revisionHistoryLimit", I32),
    f(7, "paused", Bool),
    p(9, "progressDeadlineSeconds", I32),
];
const DEPLOYMENT_STRATEGY: &[Field] = &[
    f(1, "type", Str),
    p(
        2,
        "rollingUpdate",
        Msg(&[
            p(1, "maxUnavailable", IntOrString),
            p(2, "maxSurge", IntOrString),
        ]),
    ),
];

const SERVICE: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(2, "spec", Msg(SERVICE_SPEC)),
];
const SERVICE_SPEC: &[Field] = &[
    r(1, "ports", Msg(SERVICE_PORT)),
    f(2, "selector", MapStr),
    f(3, "clusterIP", Str),
    r(18, "clusterIPs", Str),
    f(4, "type", Str),
    r(5, "externalIPs", Str),
    f(7, "sessionAffinity", Str),
    f(10, "externalName", Str),
    f(11, "externalTrafficPolicy", Str),
    p(17, "ipFamilyPolicy", Str),
    r(19, "ipFamilies", Str),
    p(22, "internalTrafficPolicy", Str),
];
const SERVICE_PORT: &[Field] = &[
    f(1, "name", Str),
    f(2, "protocol", Str),
    p(6, "appProtocol", Str),
    f(3, "port", I32),
    f(4, "targetPort", IntOrString),
    f(5, "nodePort", I32),
];

const JOB: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(2, "spec", Msg(JOB_SPEC)),
];
const JOB_SPEC: &[Field] = &[
    p(1, "parallelism", I32),
    p(2, "completions", I32),
    p(3, "activeDeadlineSeconds", I64),
    p(7, "backoffLimit", I32),
    p(4, "selector", Msg(LABEL_SELECTOR)),
    p(5, "manualSelector", Bool),
    f(6, "template", Msg(POD_TEMPLATE_SPEC)),
    p(8, "ttlSecondsAfterFinished", I32),
    p(9, "completionMode", Str),
    p(10, "suspend", Bool),
];
const CRON_JOB: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Msg(&[
            f(1, "schedule", Str),
            p(8, "timeZone", Str),
            p(2, "startingDeadlineSeconds", I64),
            f(3, "concurrencyPolicy", Str),
            p(4, "suspend", Bool),
            f(
                5,
                "jobTemplate",
                Msg(&[
                    f(1, "metadata", Msg(OBJECT_META)),
                    f(2, "spec", Msg(JOB_SPEC)),
                ]),
            ),
            p(6, "successfulJobsHistoryLimit", I32),
            p(7, "failedJobsHistoryLimit", I32),
        ]),
    ),
];

// ---------------------------------------------------------------------------
// Wire format
// ---------------------------------------------------------------------------

/// One raw field value as it appears on the wire.
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self.buf.split_first().ok_or(ProtobufError::Truncated)?;
            self.buf = rest;
            if i == 9 && byte > 1 {
                return Err(ProtobufError::VarintOverflow);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::VarintOverflow)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], ProtobufError> {
        let n = usize::try_from(n).map_err(|_| ProtobufError::Truncated)?;
        if n > self.buf.len() {
            return Err(ProtobufError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// The next field number and value, or `None` at the end of the message.
    fn field(&mut self) -> Result<Option<(u64, Wire<'a>)>, ProtobufError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let num = tag >> 3;
        if num == 0 {
            return Err(ProtobufError::ZeroTag);
        }
        let wire = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed64
            }
            2 => {
                let len = self.varint()?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            // Groups (3, 4) are not used by Kubernetes; 6 and 7 do not exist.
            other => {
                return Err(ProtobufError::BadWireType {
                    field: num.to_string(),
                    wire_type: other as u8,
                });
            }
        };
        Ok(Some((num, wire)))
    }
}

fn decode_message(
    buf: &[u8],
    schema: &'static [Field],
    context: &str,
) -> Result<Map<String, Value>, ProtobufError> {
    let mut out = Map::new();
    let mut reader = Reader { buf };
    while let Some((num, wire)) = reader.field()? {
        let Some(field) = schema.iter().find(|f| f.num == num) else {
            continue; // unknown fields are skipped
        };
        let path = format!("{context}.{}", field.name);
        let bad_wire = |w: &Wire| ProtobufError::BadWireType {
            field: path.clone(),
            wire_type: match w {
                Wire::Varint(_) => 0,
                Wire::Fixed64 => 1,
                Wire::Bytes(_) => 2,
                Wire::Fixed32 => 5,
            },
        };
        let value = match (field.kind, &wire) {
            (Kind::Str, Wire::Bytes(b)) => Value::String(utf8(b, &path)?),
            (Kind::Bytes, Wire::Bytes(b)) => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            (Kind::I64, Wire::Varint(v)) => Value::from(*v as i64),
            (Kind::I32, Wire::Varint(v)) => Value::from(*v as i64 as i32),
            (Kind::Bool, Wire::Varint(v)) => Value::Bool(*v != 0),
            (Kind::Msg(sub), Wire::Bytes(b)) => Value::Object(decode_message(b, sub, &path)?),
            (Kind::Inline(sub), Wire::Bytes(b)) => {
                out.extend(decode_message(b, sub, &path)?);
                continue;
            }
            (Kind::MapStr | Kind::MapBytes | Kind::MapQuantity, Wire::Bytes(b)) => {
                let (key, value) = decode_map_entry(b, field.kind, &path)?;
                let entry = out
                    .entry(field.name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = entry {
                    m.insert(key, value);
                }
                continue;
            }
            (Kind::Time, Wire::Bytes(b)) => time(b, &path)?,
            (Kind::Quantity, Wire::Bytes(b)) => {
                let m = decode_message(b, QUANTITY, &path)?;
                m.get("string").cloned().unwrap_or_else(|| Value::from("0"))
            }
            (Kind::IntOrString, Wire::Bytes(b)) => int_or_string(b, &path)?,
            (_, w) => return Err(bad_wire(w)),
        };
        if field.repeated {
            let entry = out
                .entry(field.name)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.push(value);
            }
        } else if field.keep || !is_zero(&value) {
            out.insert(field.name.to_string(), value);
        } else {
            out.remove(field.name);
        }
    }
    Ok(out)
}

fn utf8(bytes: &[u8], path: &str) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::InvalidUtf8(path.to_string()))
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

fn decode_map_entry(buf: &[u8], kind: Kind, path: &str) -> Result<(String, Value), ProtobufError> {
    let mut key = String::new();
    let mut value = match kind {
        Kind::MapQuantity => Value::from("0"),
        _ => Value::from(""),
    };
    let mut reader = Reader { buf };
    while let Some((num, wire)) = reader.field()? {
        match (num, wire, kind) {
            (1, Wire::Bytes(b), _) => key = utf8(b, path)?,
            (2, Wire::Bytes(b), Kind::MapStr) => value = Value::String(utf8(b, path)?),
            (2, Wire::Bytes(b), Kind::MapBytes) => {
                value = Value::String(base64::engine::general_purpose::STANDARD.encode(b));
            }
            (2, Wire::Bytes(b), _) => {
                let m = decode_message(b, QUANTITY, path)?;
                value = m.get("string").cloned().unwrap_or_else(|| Value::from("0"));
            }
            (1 | 2, w, _) => {
                return Err(ProtobufError::BadWireType {
                    field: path.to_string(),
                    wire_type: match w {
                        Wire::Varint(_) => 0,
                        Wire::Fixed64 => 1,
                        Wire::Bytes(_) => 2,
                        Wire::Fixed32 => 5,
                    },
                });
            }
            _ => {}
        }
    }
    Ok((key, value))
}

/// `metav1.Time` (seconds, nanos) as the RFC 3339 string JSON uses; the zero
/// time is `null`, as in JSON.
fn time(buf: &[u8], path: &str) -> Result<Value, ProtobufError> {
    let m = decode_message(buf, TIME, path)?;
    let seconds = m.get("seconds").and_then(Value::as_i64).unwrap_or(0);
    if seconds == 0 {
        return Ok(Value::Null);
    }
    Ok(jiff::Timestamp::from_second(seconds)
        .map(|t| Value::String(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .unwrap_or(Value::Null))
}

fn int_or_string(buf: &[u8], path: &str) -> Result<Value, ProtobufError> {
    let m = decode_message(buf, INT_OR_STRING, path)?;
    Ok(if m.get("type").and_then(Value::as_i64) == Some(1) {
        m.get("strVal").cloned().unwrap_or_else(|| Value::from(""))
    } else {
        m.get("intVal").cloned().unwrap_or_else(|| Value::from(0))
    })
}

/// A protobuf writer for tests: builds bodies field by field.
#[cfg(test)]
pub(crate) mod encode {
    pub fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// A message under construction.
    #[derive(Default, Clone)]
    pub struct Msg(pub Vec<u8>);

    impl Msg {
        pub fn new() -> Self {
            Self::default()
        }
        pub fn bytes(mut self, num: u64, b: &[u8]) -> Self {
            varint(num << 3 | 2, &mut self.0);
            varint(b.len() as u64, &mut self.0);
            self.0.extend_from_slice(b);
            self
        }
        pub fn str(self, num: u64, s: &str) -> Self {
            self.bytes(num, s.as_bytes())
        }
        pub fn msg(self, num: u64, m: Msg) -> Self {
            self.bytes(num, &m.0)
        }
        pub fn int(mut self, num: u64, v: i64) -> Self {
            varint(num << 3, &mut self.0);
            varint(v as u64, &mut self.0);
            self
        }
        pub fn map(self, num: u64, k: &str, v: &[u8]) -> Self {
            self.msg(num, Msg::new().str(1, k).bytes(2, v))
        }
    }

    /// The full body: magic + `runtime.Unknown` envelope.
    pub fn body(api_version: &str, kind: &str, object: Msg) -> Vec<u8> {
        let envelope = Msg::new()
            .msg(1, Msg::new().str(1, api_version).str(2, kind))
            .msg(2, object);
        let mut out = super::MAGIC.to_vec();
        out.extend(envelope.0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::encode::{Msg, body};
    use super::*;
    use serde_json::json;

    fn meta(name: &str, ns: &str) -> Msg {
        // Go writes every non-pointer field, zero or not.
        Msg::new()
            .str(1, name)
            .str(2, "")
            .str(3, ns)
            .str(4, "")
            .str(5, "")
            .str(6, "")
            .int(7, 0)
            .msg(8, Msg::new())
    }

    #[test]
    fn secret_generic_as_kubectl_sends_it() {
        let secret = Msg::new()
            .msg(1, meta("db-pass", "default"))
            .map(2, "password", b"s3cr\xffet")
            .str(3, "");
        let out = decode(&body("v1", "Secret", secret)).unwrap();
        assert_eq!(
            out,
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "db-pass", "namespace": "default"},
                "data": {"password": "czNjcv9ldA=="},
                "type": ""
            })
        );
    }

    #[test]
    fn secret_tls_and_configmap() {
        let secret = Msg::new()
            .msg(1, meta("tls", ""))
            .map(2, "tls.crt", b"CERT")
            .map(2, "tls.key", b"KEY")
            .str(3, "kubernetes.io/tls");
        let out = decode(&body("v1", "Secret", secret)).unwrap();
        assert_eq!(out["type"], "kubernetes.io/tls");
        assert_eq!(
            out["data"],
            json!({"tls.crt": "Q0VSVA==", "tls.key": "S0VZ"})
        );
        assert_eq!(out["metadata"], json!({"name": "tls"}));

        let cm = Msg::new()
            .msg(
                1,
                meta("conf", "lab").msg(11, Msg::new().str(1, "app").str(2, "web")),
            )
            .map(2, "API_DB_FILEPATH", b"/data/messages.json")
            .map(3, "blob", &[0, 1, 2]);
        let out = decode(&body("v1", "ConfigMap", cm)).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(
            out["data"],
            json!({"API_DB_FILEPATH": "/data/messages.json"})
        );
        assert_eq!(out["binaryData"], json!({"blob": "AAEC"}));
    }

    #[test]
    fn namespace() {
        let ns = Msg::new()
            .msg(1, meta("lab", ""))
            .msg(2, Msg::new())
            .msg(3, Msg::new().str(1, ""));
        let out = decode(&body("v1", "Namespace", ns)).unwrap();
        assert_eq!(
            out,
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"lab"}})
        );
    }

    fn container() -> Msg {
        Msg::new()
            .str(1, "msg-api")
            .str(2, "kubetutor/msg-api:1")
            .str(3, "python")
            .str(3, "app.py")
            .msg(6, Msg::new().int(3, 8080).str(4, ""))
            .msg(
                7,
                Msg::new().str(1, "API_DB_FILEPATH").str(2, "/data/db.json"),
            )
            .msg(
                7,
                Msg::new().str(1, "PASS").msg(
                    3,
                    Msg::new().msg(4, Msg::new().msg(1, Msg::new().str(1, "db")).str(2, "pw")),
                ),
            )
            .msg(
                8,
                Msg::new().msg(
                    1,
                    Msg::new()
                        .str(1, "memory")
                        .msg(2, Msg::new().str(1, "128Mi")),
                ),
            )
            .msg(9, Msg::new().str(1, "data").str(3, "/data").int(2, 0))
    }

    #[test]
    fn deployment_with_pod_template() {
        let template = Msg::new()
            .msg(
                1,
                meta("", "").msg(11, Msg::new().str(1, "app").str(2, "api")),
            )
            .msg(
                2,
                Msg::new()
                    .msg(
                        1,
                        Msg::new()
                            .str(1, "data")
                            .msg(2, Msg::new().msg(2, Msg::new().str(1, ""))),
                    )
                    .msg(
                        1,
                        Msg::new()
                            .str(1, "pv")
                            .msg(2, Msg::new().msg(10, Msg::new().str(1, "pvc"))),
                    )
                    .msg(2, container()),
            );
        let spec = Msg::new()
            .int(1, 1)
            .msg(2, Msg::new().msg(1, Msg::new().str(1, "app").str(2, "api")))
            .msg(3, template)
            .msg(
                4,
                Msg::new()
                    .str(1, "")
                    .msg(2, Msg::new().msg(1, Msg::new().int(1, 1).str(3, "25%"))),
            );
        let d = Msg::new()
            .msg(1, meta("api", "default"))
            .msg(2, spec)
            .msg(3, Msg::new());
        let out = decode(&body("apps/v1", "Deployment", d)).unwrap();
        assert_eq!(out["spec"]["replicas"], 1);
        assert_eq!(
            out["spec"]["selector"],
            json!({"matchLabels": {"app": "api"}})
        );
        let pod = &out["spec"]["template"]["spec"];
        assert_eq!(
            pod["volumes"],
            json!([{"name": "data", "emptyDir": {}}, {"name": "pv", "persistentVolumeClaim": {"claimName": "pvc"}}])
        );
        assert_eq!(
            pod["containers"][0],
            json!({
                "name": "msg-api",
                "image": "kubetutor/msg-api:1",
                "command": ["python", "app.py"],
                "ports": [{"containerPort": 8080}],
                "env": [
                    {"name": "API_DB_FILEPATH", "value": "/data/db.json"},
                    {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}
                ],
                "resources": {"limits": {"memory": "128Mi"}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]
            })
        );
        assert_eq!(
            out["spec"]["strategy"],
            json!({"rollingUpdate": {"maxUnavailable": "25%"}})
        );
        assert!(out.get("status").is_none());
    }

    #[test]
    fn service_and_job() {
        let svc = Msg::new().msg(1, meta("web", "")).msg(
            2,
            Msg::new()
                .msg(
                    1,
                    Msg::new()
                        .str(1, "80-8080")
                        .str(2, "TCP")
                        .int(3, 80)
                        .msg(4, Msg::new().int(1, 0).int(2, 8080)),
                )
                .msg(2, Msg::new().str(1, "app").str(2, "web"))
                .str(4, "ClusterIP"),
        );
        let out = decode(&body("v1", "Service", svc)).unwrap();
        assert_eq!(
            out["spec"],
            json!({"ports":[{"name":"80-8080","protocol":"TCP","port":80,"targetPort":8080}],
                   "selector":{"app":"web"},"type":"ClusterIP"})
        );

        let job = Msg::new().msg(1, meta("once", "")).msg(
            2,
            Msg::new().msg(
                6,
                Msg::new()
                    .msg(1, meta("", ""))
                    .msg(2, Msg::new().msg(2, container()).str(3, "Never")),
            ),
        );
        let out = decode(&body("batch/v1", "Job", job)).unwrap();
        assert_eq!(out["spec"]["template"]["spec"]["restartPolicy"], "Never");
    }

    #[test]
    fn unknown_fields_are_skipped_and_negative_ints_read() {
        let secret = Msg::new()
            .msg(1, meta("x", "").int(10, -5).int(99, 7))
            .bytes(77, b"whatever")
            .int(5, 1);
        let mut b = body("v1", "Secret", secret);
        // A fixed32 and a fixed64 unknown field at the end of the envelope.
        b.extend([0x2d, 1, 2, 3, 4, 0x31, 1, 2, 3, 4, 5, 6, 7, 8]);
        let out = decode(&b).unwrap();
        assert_eq!(out["metadata"]["deletionGracePeriodSeconds"], -5);
        assert_eq!(out["immutable"], true);
    }

    #[test]
    fn errors_not_panics_on_bad_input() {
        assert_eq!(
            decode(b"{\"kind\":\"Secret\"}"),
            Err(ProtobufError::MissingMagic)
        );
        let full = body("v1", "Secret", Msg::new().msg(1, meta("x", "default")));
        // Every prefix decodes or errors (a cut between two fields is a
        // valid shorter message); a cut inside the object is truncation.
        for cut in 0..full.len() {
            let _ = decode(&full[..cut]);
        }
        assert_eq!(
            decode(&full[..full.len() - 1]),
            Err(ProtobufError::Truncated)
        );
        assert!(matches!(
            decode(&body("v1", "Widget", Msg::new())),
            Err(ProtobufError::UnsupportedKind { .. })
        ));
        let bad_utf8 = body(
            "v1",
            "Secret",
            Msg::new().msg(1, Msg::new().bytes(1, &[0xff])),
        );
        assert!(matches!(
            decode(&bad_utf8),
            Err(ProtobufError::InvalidUtf8(_))
        ));
        let wrong_wire = body("v1", "Secret", Msg::new().int(1, 3));
        assert!(matches!(
            decode(&wrong_wire),
            Err(ProtobufError::BadWireType { .. })
        ));
        let mut overflow = MAGIC.to_vec();
        overflow.extend([
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ]);
        assert_eq!(decode(&overflow), Err(ProtobufError::VarintOverflow));
        assert_eq!(decode(b"k8s\0"), Err(ProtobufError::MissingKind));
    }

    #[test]
    fn delete_options_as_helm_and_kubectl_send_them() {
        // helm 4's uninstall: DeleteOptions{PropagationPolicy: Background}.
        let helm = body("v1", "DeleteOptions", Msg::new().str(4, "Background"));
        let out = decode(&helm).unwrap();
        assert_eq!(out["propagationPolicy"], "Background");
        assert_eq!(out["kind"], "DeleteOptions");
        let all = body(
            "meta.k8s.io/v1",
            "DeleteOptions",
            Msg::new()
                .int(1, 0)
                .msg(2, Msg::new().str(1, "u-1").str(2, "7"))
                .str(5, "All"),
        );
        let out = decode(&all).unwrap();
        assert_eq!(out["gracePeriodSeconds"], 0);
        assert_eq!(out["preconditions"]["uid"], "u-1");
        assert_eq!(out["preconditions"]["resourceVersion"], "7");
        assert_eq!(out["dryRun"], serde_json::json!(["All"]));
    }

    #[test]
    fn content_type_detection() {
        assert!(is_protobuf("application/vnd.kubernetes.protobuf"));
        assert!(is_protobuf(
            "application/vnd.kubernetes.protobuf; charset=x"
        ));
        assert!(!is_protobuf("application/json"));
    }
}

#[cfg(test)]
mod kubectl_bodies;

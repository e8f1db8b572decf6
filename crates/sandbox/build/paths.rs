//! The operations of every served resource, laid out as upstream's API
//! server lays out its OpenAPI paths (collection, item, all-namespaces
//! list, subresources), once in a neutral form that [`crate::docs`] renders
//! as OpenAPI v3 and as swagger 2.0.
//!
//! Every operation carries `x-kubernetes-group-version-kind` (what
//! `kubectl explain` looks up) and every write the `fieldValidation`
//! parameter (what tells kubectl to leave validation to the server).

use crate::resources::{ResourceDef, Subresource};
use crate::schemas::Schemas;

/// One HTTP operation.
pub struct Op {
    /// `get`, `post`, `put`, `patch` or `delete`.
    pub method: &'static str,
    /// `x-kubernetes-action`: list, post, get, put, patch, delete, deletecollection.
    pub action: &'static str,
    pub operation_id: String,
    pub description: String,
    pub tag: String,
    pub gvk: (String, String, String),
    pub query: &'static [(&'static str, &'static str)],
    pub body: Body,
    /// Status codes and the definition each returns (None: a plain string).
    pub responses: Vec<(u16, Option<String>)>,
}

/// What an operation takes as its request body.
pub enum Body {
    None,
    /// A whole object of this definition (create, replace, delete options).
    Object(String),
    /// A patch document (`io.k8s.apimachinery.pkg.apis.meta.v1.Patch`).
    Patch,
}

/// One path and its operations.
pub struct PathItem {
    pub path: String,
    pub name: bool,
    pub namespace: bool,
    pub ops: Vec<Op>,
}

const LIST_PARAMS: &[(&str, &str)] = &[
    ("allowWatchBookmarks", "boolean"),
    ("continue", "string"),
    ("fieldSelector", "string"),
    ("labelSelector", "string"),
    ("limit", "integer"),
    ("resourceVersion", "string"),
    ("resourceVersionMatch", "string"),
    ("sendInitialEvents", "boolean"),
    ("timeoutSeconds", "integer"),
    ("watch", "boolean"),
];
const WRITE_PARAMS: &[(&str, &str)] = &[
    ("dryRun", "string"),
    ("fieldManager", "string"),
    ("fieldValidation", "string"),
];
const PATCH_PARAMS: &[(&str, &str)] = &[
    ("dryRun", "string"),
    ("fieldManager", "string"),
    ("fieldValidation", "string"),
    ("force", "boolean"),
];
const DELETE_PARAMS: &[(&str, &str)] = &[
    ("dryRun", "string"),
    ("gracePeriodSeconds", "integer"),
    (
        "ignoreStoreReadErrorWithClusterBreakingPotential",
        "boolean",
    ),
    ("orphanDependents", "boolean"),
    ("propagationPolicy", "string"),
];
const DELETE_COLLECTION_PARAMS: &[(&str, &str)] = &[
    ("continue", "string"),
    ("dryRun", "string"),
    ("fieldSelector", "string"),
    ("gracePeriodSeconds", "integer"),
    (
        "ignoreStoreReadErrorWithClusterBreakingPotential",
        "boolean",
    ),
    ("labelSelector", "string"),
    ("limit", "integer"),
    ("orphanDependents", "boolean"),
    ("propagationPolicy", "string"),
    ("resourceVersion", "string"),
    ("resourceVersionMatch", "string"),
    ("sendInitialEvents", "boolean"),
    ("timeoutSeconds", "integer"),
];
const LOG_PARAMS: &[(&str, &str)] = &[
    ("container", "string"),
    ("follow", "boolean"),
    ("insecureSkipTLSVerifyBackend", "boolean"),
    ("limitBytes", "integer"),
    ("previous", "boolean"),
    ("sinceSeconds", "integer"),
    ("stream", "string"),
    ("tailLines", "integer"),
    ("timestamps", "boolean"),
];

const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";

/// `api/v1` or `apis/apps/v1`.
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `Core`, `Apps`, `Storage`, `RbacAuthorization`: how upstream's
/// operation ids and tags name a group.
fn group_camel(group: &str) -> String {
    let group = if group.is_empty() { "core" } else { group };
    group
        .trim_end_matches(".k8s.io")
        .split('.')
        .map(capitalize)
        .collect()
}

/// `CoreV1`, `AppsV1`, `StorageV1`.
fn gv_id(group: &str, version: &str) -> String {
    format!("{}{}", group_camel(group), capitalize(version))
}

/// `core_v1`, `apps_v1`, `rbacAuthorization_v1`: upstream's operation tags.
fn gv_tag(group: &str, version: &str) -> String {
    let camel = group_camel(group);
    let mut chars = camel.chars();
    let first: String = chars
        .next()
        .map(|c| c.to_lowercase().collect())
        .unwrap_or_default();
    format!("{first}{}_{version}", chars.as_str())
}

/// What every operation of one resource shares.
struct Res<'a> {
    r: &'a ResourceDef,
    definition: String,
    list_definition: Option<String>,
    id: String,
    tag: String,
    /// `Namespaced` in operation ids of namespaced resources.
    scope: &'static str,
}

impl Res<'_> {
    fn can(&self, verb: &str) -> bool {
        self.r.verbs.contains(&verb)
    }

    /// An operation on this resource's kind; the caller fills in the rest.
    fn op(
        &self,
        method: &'static str,
        action: &'static str,
        verb: &str,
        what: &str,
        description: String,
    ) -> Op {
        Op {
            method,
            action,
            operation_id: format!("{verb}{}{what}", self.id),
            description,
            tag: self.tag.clone(),
            gvk: (
                self.r.group.to_string(),
                self.r.version.to_string(),
                self.r.kind.to_string(),
            ),
            query: &[],
            body: Body::None,
            responses: Vec::new(),
        }
    }

    fn object(&self, codes: &[u16]) -> Vec<(u16, Option<String>)> {
        codes
            .iter()
            .map(|c| (*c, Some(self.definition.clone())))
            .collect()
    }

    /// list, create and deletecollection on the collection.
    fn collection_ops(&self) -> Vec<Op> {
        let (k, scope) = (self.r.kind, self.scope);
        let mut ops = Vec::new();
        if self.can("list") {
            ops.push(Op {
                query: LIST_PARAMS,
                responses: vec![(200, self.list_definition.clone())],
                ..self.op(
                    "get",
                    "list",
                    "list",
                    &format!("{scope}{k}"),
                    format!("list or watch objects of kind {k}"),
                )
            });
        }
        if self.can("create") {
            ops.push(Op {
                query: WRITE_PARAMS,
                body: Body::Object(self.definition.clone()),
                responses: self.object(&[200, 201, 202]),
                ..self.op(
                    "post",
                    "post",
                    "create",
                    &format!("{scope}{k}"),
                    format!("create a {k}"),
                )
            });
        }
        if self.can("deletecollection") {
            ops.push(Op {
                query: DELETE_COLLECTION_PARAMS,
                body: Body::Object(DELETE_OPTIONS.into()),
                responses: vec![(200, Some(STATUS.into()))],
                ..self.op(
                    "delete",
                    "deletecollection",
                    "delete",
                    &format!("Collection{scope}{k}"),
                    format!("delete collection of {k}"),
                )
            });
        }
        ops
    }

    /// read, replace and patch of one object, or of its `what` subresource.
    fn item_ops(&self, what: &str) -> Vec<Op> {
        let (k, scope) = (self.r.kind, self.scope);
        let of = if what.is_empty() {
            String::new()
        } else {
            format!("{what} of ")
        };
        let id = format!("{scope}{k}{}", capitalize(what));
        let mut ops = Vec::new();
        if self.can("get") {
            ops.push(Op {
                responses: self.object(&[200]),
                ..self.op(
                    "get",
                    "get",
                    "read",
                    &id,
                    format!("read {of}the specified {k}"),
                )
            });
        }
        if self.can("update") {
            ops.push(Op {
                query: WRITE_PARAMS,
                body: Body::Object(self.definition.clone()),
                responses: self.object(&[200, 201]),
                ..self.op(
                    "put",
                    "put",
                    "replace",
                    &id,
                    format!("replace {of}the specified {k}"),
                )
            });
        }
        if self.can("patch") {
            ops.push(Op {
                query: PATCH_PARAMS,
                body: Body::Patch,
                responses: self.object(&[200, 201]),
                ..self.op(
                    "patch",
                    "patch",
                    "patch",
                    &id,
                    format!("partially update {of}the specified {k}"),
                )
            });
        }
        ops
    }

    /// The operations of subresource `s`; None for connect subresources
    /// (exec, attach, portforward, proxy: streams, not objects).
    fn subresource_ops(
        &self,
        s: &Subresource,
        schemas: &Schemas,
    ) -> Result<Option<Vec<Op>>, String> {
        let (k, scope) = (self.r.kind, self.scope);
        Ok(Some(match s.name {
            "status" => self.item_ops("status"),
            "scale" => {
                let scale = schemas.kind(s.group, s.version, s.kind).ok_or_else(|| {
                    format!("k8s-openapi has no {}/{} {}", s.group, s.version, s.kind)
                })?;
                let mut ops = self.item_ops("scale");
                for o in &mut ops {
                    o.gvk = (s.group.into(), s.version.into(), s.kind.into());
                    for r in &mut o.responses {
                        r.1 = Some(scale.definition.clone());
                    }
                    if let Body::Object(_) = o.body {
                        o.body = Body::Object(scale.definition.clone());
                    }
                }
                ops
            }
            "log" => vec![Op {
                query: LOG_PARAMS,
                responses: vec![(200, None)],
                ..self.op(
                    "get",
                    "get",
                    "read",
                    &format!("{scope}{k}Log"),
                    format!("read log of the specified {k}"),
                )
            }],
            "finalize" => vec![Op {
                query: WRITE_PARAMS,
                body: Body::Object(self.definition.clone()),
                responses: self.object(&[200, 201]),
                ..self.op(
                    "put",
                    "put",
                    "replace",
                    &format!("{k}Finalize"),
                    format!("replace finalize of the specified {k}"),
                )
            }],
            _ => return Ok(None),
        }))
    }
}

/// Every path of one resource. Errors name a kind k8s-openapi lacks.
pub fn resource_paths(r: &ResourceDef, schemas: &Schemas) -> Result<Vec<PathItem>, String> {
    let kind = schemas.kind(r.group, r.version, r.kind).ok_or_else(|| {
        format!(
            "the sandbox serves {}/{} {} but k8s-openapi has no such kind (build/kinds.rs)",
            r.group, r.version, r.kind
        )
    })?;
    let prefix_of = |d: &str| {
        d.rsplit_once('.')
            .map(|(p, _)| p.to_string())
            .unwrap_or_default()
    };
    let res = Res {
        r,
        definition: kind.definition.clone(),
        list_definition: kind
            .list_kind
            .map(|lk| format!("{}.{lk}", prefix_of(&kind.definition))),
        id: gv_id(r.group, r.version),
        tag: gv_tag(r.group, r.version),
        scope: if r.namespaced { "Namespaced" } else { "" },
    };
    let prefix = format!("/{}", gv_path(r.group, r.version));
    let collection = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/{}", r.plural)
    };
    let path = |path: String, name: bool, namespace: bool, ops: Vec<Op>| PathItem {
        path,
        name,
        namespace,
        ops,
    };
    let mut out = vec![path(
        collection.clone(),
        false,
        r.namespaced,
        res.collection_ops(),
    )];
    if r.stored() {
        let mut ops = res.item_ops("");
        if res.can("delete") {
            ops.push(Op {
                query: DELETE_PARAMS,
                body: Body::Object(DELETE_OPTIONS.into()),
                responses: vec![(200, Some(STATUS.into())), (202, Some(STATUS.into()))],
                ..res.op(
                    "delete",
                    "delete",
                    "delete",
                    &format!("{}{}", res.scope, r.kind),
                    format!("delete a {}", r.kind),
                )
            });
        }
        out.push(path(
            format!("{collection}/{{name}}"),
            true,
            r.namespaced,
            ops,
        ));
        if r.namespaced && res.can("list") {
            let all = Op {
                query: LIST_PARAMS,
                responses: vec![(200, res.list_definition.clone())],
                ..res.op(
                    "get",
                    "list",
                    "list",
                    &format!("{}ForAllNamespaces", r.kind),
                    format!("list or watch objects of kind {}", r.kind),
                )
            };
            out.push(path(
                format!("{prefix}/{}", r.plural),
                false,
                false,
                vec![all],
            ));
        }
        for s in r.subresources {
            if let Some(ops) = res.subresource_ops(s, schemas)? {
                out.push(path(
                    format!("{collection}/{{name}}/{}", s.name),
                    true,
                    r.namespaced,
                    ops,
                ));
            }
        }
    }
    out.retain(|p| !p.ops.is_empty());
    Ok(out)
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

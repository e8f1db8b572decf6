//! The operations of every served resource, laid out as upstream's API
//! server lays out its OpenAPI paths (collection, item, all-namespaces
//! list, subresources), once in a neutral form that [`crate::docs`] renders
//! as OpenAPI v3 and as swagger 2.0.
//!
//! Every operation carries `x-kubernetes-group-version-kind` (what
//! `kubectl explain` looks up) and every write the `fieldValidation`
//! parameter (what tells kubectl to leave validation to the server).

use crate::resources::ResourceDef;
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

/// Every path of one resource. Errors name a kind k8s-openapi lacks.
pub fn resource_paths(r: &ResourceDef, schemas: &Schemas) -> Result<Vec<PathItem>, String> {
    let kind = schemas.kind(r.group, r.version, r.kind).ok_or_else(|| {
        format!(
            "the sandbox serves {}/{} {} but k8s-openapi has no such kind (build/kinds.rs)",
            r.group, r.version, r.kind
        )
    })?;
    let definition = kind.definition.clone();
    let list_definition = kind.list_kind.map(|lk| {
        let prefix = definition.rsplit_once('.').map(|(p, _)| p).unwrap_or("");
        format!("{prefix}.{lk}")
    });
    let prefix = format!("/{}", gv_path(r.group, r.version));
    let id = gv_id(r.group, r.version);
    let tag = gv_tag(r.group, r.version);
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let gvk = (
        r.group.to_string(),
        r.version.to_string(),
        r.kind.to_string(),
    );
    let can = |verb: &str| r.verbs.contains(&verb);
    let op = |method, action, verb: &str, what: String, description: String| Op {
        method,
        action,
        operation_id: format!("{verb}{id}{what}"),
        description,
        tag: tag.clone(),
        gvk: gvk.clone(),
        query: &[],
        body: Body::None,
        responses: Vec::new(),
    };
    let k = r.kind;
    let collection = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/{}", r.plural)
    };
    let mut out = Vec::new();

    let mut ops = Vec::new();
    if can("list") {
        ops.push(Op {
            query: LIST_PARAMS,
            responses: vec![(200, list_definition.clone())],
            ..op(
                "get",
                "list",
                "list",
                format!("{scope}{k}"),
                format!("list or watch objects of kind {k}"),
            )
        });
    }
    if can("create") {
        ops.push(Op {
            query: WRITE_PARAMS,
            body: Body::Object(definition.clone()),
            responses: vec![
                (200, Some(definition.clone())),
                (201, Some(definition.clone())),
                (202, Some(definition.clone())),
            ],
            ..op(
                "post",
                "post",
                "create",
                format!("{scope}{k}"),
                format!("create a {k}"),
            )
        });
    }
    if can("deletecollection") {
        ops.push(Op {
            query: DELETE_COLLECTION_PARAMS,
            body: Body::Object(DELETE_OPTIONS.into()),
            responses: vec![(200, Some(STATUS.into()))],
            ..op(
                "delete",
                "deletecollection",
                "delete",
                format!("Collection{scope}{k}"),
                format!("delete collection of {k}"),
            )
        });
    }
    out.push(PathItem {
        path: collection.clone(),
        name: false,
        namespace: r.namespaced,
        ops,
    });

    if r.stored() {
        let item = |what: &str| -> Vec<Op> {
            let mut ops = Vec::new();
            let sub = if what.is_empty() {
                String::new()
            } else {
                format!("{what} of ")
            };
            let cap = capitalize(what);
            if can("get") {
                ops.push(Op {
                    responses: vec![(200, Some(definition.clone()))],
                    ..op(
                        "get",
                        "get",
                        "read",
                        format!("{scope}{k}{cap}"),
                        format!("read {sub}the specified {k}"),
                    )
                });
            }
            if can("update") {
                ops.push(Op {
                    query: WRITE_PARAMS,
                    body: Body::Object(definition.clone()),
                    responses: vec![
                        (200, Some(definition.clone())),
                        (201, Some(definition.clone())),
                    ],
                    ..op(
                        "put",
                        "put",
                        "replace",
                        format!("{scope}{k}{cap}"),
                        format!("replace {sub}the specified {k}"),
                    )
                });
            }
            if can("patch") {
                ops.push(Op {
                    query: PATCH_PARAMS,
                    body: Body::Patch,
                    responses: vec![
                        (200, Some(definition.clone())),
                        (201, Some(definition.clone())),
                    ],
                    ..op(
                        "patch",
                        "patch",
                        "patch",
                        format!("{scope}{k}{cap}"),
                        format!("partially update {sub}the specified {k}"),
                    )
                });
            }
            ops
        };
        let mut ops = item("");
        if can("delete") {
            ops.push(Op {
                query: DELETE_PARAMS,
                body: Body::Object(DELETE_OPTIONS.into()),
                responses: vec![(200, Some(STATUS.into())), (202, Some(STATUS.into()))],
                ..op(
                    "delete",
                    "delete",
                    "delete",
                    format!("{scope}{k}"),
                    format!("delete a {k}"),
                )
            });
        }
        out.push(PathItem {
            path: format!("{collection}/{{name}}"),
            name: true,
            namespace: r.namespaced,
            ops,
        });
        if r.namespaced && can("list") {
            out.push(PathItem {
                path: format!("{prefix}/{}", r.plural),
                name: false,
                namespace: false,
                ops: vec![Op {
                    query: LIST_PARAMS,
                    responses: vec![(200, list_definition.clone())],
                    ..op(
                        "get",
                        "list",
                        "list",
                        format!("{k}ForAllNamespaces"),
                        format!("list or watch objects of kind {k}"),
                    )
                }],
            });
        }
        for s in r.subresources {
            let path = format!("{collection}/{{name}}/{}", s.name);
            let ops = match s.name {
                "status" => item("status"),
                "scale" => {
                    let scale = schemas.kind(s.group, s.version, s.kind).ok_or_else(|| {
                        format!("k8s-openapi has no {}/{} {}", s.group, s.version, s.kind)
                    })?;
                    item("scale")
                        .into_iter()
                        .map(|mut o| {
                            o.gvk = (s.group.into(), s.version.into(), s.kind.into());
                            o.responses = o
                                .responses
                                .into_iter()
                                .map(|(c, _)| (c, Some(scale.definition.clone())))
                                .collect();
                            if let Body::Object(_) = o.body {
                                o.body = Body::Object(scale.definition.clone());
                            }
                            o
                        })
                        .collect()
                }
                "log" => vec![Op {
                    query: LOG_PARAMS,
                    responses: vec![(200, None)],
                    ..op(
                        "get",
                        "get",
                        "read",
                        format!("{scope}{k}Log"),
                        format!("read log of the specified {k}"),
                    )
                }],
                "finalize" => vec![Op {
                    query: WRITE_PARAMS,
                    body: Body::Object(definition.clone()),
                    responses: vec![
                        (200, Some(definition.clone())),
                        (201, Some(definition.clone())),
                    ],
                    ..op(
                        "put",
                        "put",
                        "replace",
                        format!("{k}Finalize"),
                        format!("replace finalize of the specified {k}"),
                    )
                }],
                // exec, attach, portforward and proxy are connect operations
                // (streams, not objects); they carry no schema.
                _ => continue,
            };
            out.push(PathItem {
                path,
                name: true,
                namespace: r.namespaced,
                ops,
            });
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

//! `/openapi/v3` and `/openapi/v2`: the documents build/main.rs generates
//! from the resource table and k8s-openapi's schemas (upstream's
//! descriptions, types and required fields), embedded gzip'd.
//!
//! `kubectl explain` reads the v3 documents; kubectl's client-side
//! validation of `kind: List` files reads v2 (as gnostic protobuf). Every
//! PATCH operation advertises `fieldValidation`, so for single objects
//! kubectl leaves validation to the server. Served as upstream's
//! kube-openapi handlers serve them: SHA-512 ETags, `If-None-Match`, the v3
//! `hash` query (a stale hash is redirected; the current one is cacheable
//! for a year), gzip when the client takes it.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::machinery::http::{Body, full};

/// One embedded document.
pub(crate) struct Doc {
    /// `api/v1` or `apis/apps/v1` (v3 group-version documents).
    pub path: &'static str,
    /// SHA-512 of the JSON, upper-case hex (upstream's ETag and `hash`).
    pub etag: &'static str,
    /// Size of the uncompressed document.
    pub len: usize,
    pub gzip: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/openapi_docs.rs"));

const JSON: &str = "application/json";
/// What client-go's `OpenAPISchema()` asks for, and the type upstream answers with.
const PROTO_V2: &str = "com.github.proto-openapi.spec.v2@v1.0+protobuf";
const PROTO_V2_ALT: &str = "com.github.proto-openapi.spec.v2.v1.0+protobuf";
const PROTO_V2_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// One `Accept` clause: type, subtype, quality.
struct Clause<'a> {
    ty: &'a str,
    sub: &'a str,
    q: f32,
}

/// The clauses of an `Accept` header, best first (as goautoneg orders them).
fn accept_clauses(accept: &str) -> Vec<Clause<'_>> {
    let accept = if accept.trim().is_empty() {
        "*/*"
    } else {
        accept
    };
    let mut out: Vec<Clause> = accept
        .split(',')
        .filter_map(|part| {
            let mut params = part.split(';');
            let (ty, sub) = params.next()?.trim().split_once('/')?;
            let q = params
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some(Clause {
                ty: ty.trim(),
                sub: sub.trim(),
                q,
            })
        })
        .filter(|c| c.q > 0.0)
        .collect();
    out.sort_by(|a, b| b.q.total_cmp(&a.q));
    out
}

/// The first of `offered` (`application/<subtype>`) the client accepts.
fn negotiate<'a>(accept: &str, offered: &[&'a str]) -> Option<&'a str> {
    accept_clauses(accept).iter().find_map(|c| {
        offered
            .iter()
            .copied()
            .find(|sub| (c.ty == "application" || c.ty == "*") && (c.sub == *sub || c.sub == "*"))
    })
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Whether the client takes a gzip'd body.
fn takes_gzip(headers: &HeaderMap) -> bool {
    header_str(headers, header::ACCEPT_ENCODING)
        .split(',')
        .any(|part| {
            let mut p = part.split(';');
            let coding = p.next().unwrap_or("").trim();
            let q0 = p.any(|x| matches!(x.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q0
        })
}

/// `If-None-Match` naming this ETag (or `*`), compared weakly as Go's
/// `http.ServeContent` does.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

fn set(r: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// The document as a response: ETag, conditional GET, gzip if taken.
fn respond(doc: &Doc, content_type: &str, headers: &HeaderMap) -> Response<Body> {
    let quoted = format!("\"{}\"", doc.etag);
    let mut r = if not_modified(headers, doc.etag) {
        let mut r = Response::new(full(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if takes_gzip(headers) {
        let mut r = Response::new(full(Bytes::from_static(doc.gzip)));
        set(&mut r, header::CONTENT_ENCODING, "gzip");
        set(&mut r, header::CONTENT_TYPE, content_type);
        r
    } else {
        match gunzip(doc) {
            Ok(plain) => {
                let mut r = Response::new(full(plain));
                set(&mut r, header::CONTENT_TYPE, content_type);
                r
            }
            Err(e) => {
                let mut r = Response::new(full(format!("the OpenAPI document is corrupt: {e}")));
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                return r;
            }
        }
    };
    set(&mut r, header::ETAG, &quoted);
    set(&mut r, header::VARY, "Accept, Accept-Encoding");
    r
}

/// The uncompressed document, for a client that takes no gzip.
fn gunzip(doc: &Doc) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::with_capacity(doc.len);
    flate2::read::GzDecoder::new(doc.gzip)
        .take(doc.len as u64 + 1)
        .read_to_end(&mut out)?;
    Ok(out)
}

fn not_acceptable() -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::NOT_ACCEPTABLE;
    r
}

/// `GET /openapi/v3`: where each group-version's document is.
pub fn v3_root(headers: &HeaderMap) -> Response<Body> {
    respond(&V3_ROOT, JSON, headers)
}

/// `GET /openapi/v3/<gv>`; None when no such group-version is served.
pub fn v3_doc(gv: &str, query: Option<&str>, headers: &HeaderMap) -> Option<Response<Body>> {
    let doc = V3.iter().find(|d| d.path == gv)?;
    if negotiate(header_str(headers, header::ACCEPT), &["json"]).is_none() {
        return Some(not_acceptable());
    }
    let hash = crate::machinery::http::parse_query(query)
        .remove("hash")
        .unwrap_or_default();
    if !hash.is_empty() && hash != doc.etag {
        let mut r = Response::new(full(Bytes::new()));
        *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
        set(&mut r, header::LOCATION, &url(doc));
        return Some(r);
    }
    let mut r = respond(doc, JSON, headers);
    if !hash.is_empty() {
        set(&mut r, header::CACHE_CONTROL, "public, immutable");
        set(&mut r, header::EXPIRES, &a_year_from_now());
    }
    Some(r)
}

/// `GET /openapi/v2`, as JSON or gnostic protobuf.
pub fn v2(headers: &HeaderMap) -> Response<Body> {
    match negotiate(
        header_str(headers, header::ACCEPT),
        &["json", PROTO_V2, PROTO_V2_ALT],
    ) {
        Some("json") => respond(&V2_JSON, JSON, headers),
        Some(_) => respond(&V2_PROTO, PROTO_V2_TYPE, headers),
        None => not_acceptable(),
    }
}

/// `/openapi/v3/apis/apps/v1?hash=<etag>`.
fn url(doc: &Doc) -> String {
    format!("/openapi/v3/{}?hash={}", doc.path, doc.etag)
}

/// `Expires` for a hashed document: a year on, in HTTP's date format.
fn a_year_from_now() -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let later = now.checked_add(jiff::Span::new().years(1)).unwrap_or(now);
    later.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::machinery::resources::{GROUPS, RESOURCES};
    use http_body_util::BodyExt as _;
    use serde_json::Value;

    fn json(doc: &Doc) -> Value {
        serde_json::from_slice(&gunzip(doc).unwrap()).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    async fn body(r: Response<Body>) -> Bytes {
        r.into_body().collect().await.unwrap().to_bytes()
    }

    #[test]
    fn every_served_kind_has_its_schema_and_gvk() {
        let gvs: Vec<String> = std::iter::once("api/v1".to_string())
            .chain(GROUPS.iter().map(|g| format!("apis/{g}/v1")))
            .collect();
        assert_eq!(V3.iter().map(|d| d.path).collect::<Vec<_>>(), gvs);
        for r in RESOURCES {
            let path = if r.group.is_empty() {
                "api/v1".to_string()
            } else {
                format!("apis/{}/v1", r.group)
            };
            let doc = json(V3.iter().find(|d| d.path == path).unwrap());
            let schemas = doc["components"]["schemas"].as_object().unwrap();
            let want = serde_json::json!({"group": r.group, "kind": r.kind, "version": r.version});
            let found = schemas.values().any(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|l| l.contains(&want))
            });
            assert!(found, "no schema for {}", r.kind);
            // explain and kubectl's validation verifier find the kind by a
            // PATCH (or, create-only kinds, a POST) operation.
            let ops: Vec<&Value> = doc["paths"]
                .as_object()
                .unwrap()
                .values()
                .flat_map(|p| ["patch", "post"].map(|m| &p[m]))
                .filter(|op| op["x-kubernetes-group-version-kind"] == want)
                .collect();
            assert!(!ops.is_empty(), "no operation for {}", r.kind);
        }
    }

    #[test]
    fn schemas_carry_upstream_text_and_shape() {
        let doc = json(&V3[0]);
        let s = &doc["components"]["schemas"];
        let pvc = &s["io.k8s.api.core.v1.PersistentVolumeClaim"];
        // k8s-openapi's required metadata is gone; descriptions are upstream's.
        assert!(pvc.get("required").is_none());
        assert_eq!(
            pvc["properties"]["spec"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.PersistentVolumeClaimSpec"
        );
        assert!(
            pvc["properties"]["spec"]["description"]
                .as_str()
                .unwrap()
                .starts_with("spec defines the desired characteristics of a volume")
        );
        let spec = &s["io.k8s.api.core.v1.PodSpec"];
        assert_eq!(spec["required"], serde_json::json!(["containers"]));
        assert_eq!(
            spec["properties"]["containers"]["x-kubernetes-patch-merge-key"],
            "name"
        );
        assert_eq!(
            s["io.k8s.apimachinery.pkg.api.resource.Quantity"]["oneOf"],
            serde_json::json!([{"type": "string"}, {"type": "number"}])
        );
        assert_eq!(
            s["io.k8s.api.core.v1.PodList"]["x-kubernetes-group-version-kind"][0]["kind"],
            "PodList"
        );
        // Every $ref resolves inside the document (each is self-contained).
        let text = serde_json::to_string(&doc).unwrap();
        for part in text.split("\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(s.get(name).is_some(), "dangling ref {name}");
        }
        // No strategic merge advertised (see build/docs.rs PATCH_TYPES).
        assert!(!text.contains("strategic-merge-patch"));
    }

    #[test]
    fn root_lists_every_document_by_hash() {
        let root = json(&V3_ROOT);
        for d in V3 {
            assert_eq!(
                root["paths"][d.path]["serverRelativeURL"],
                format!("/openapi/v3/{}?hash={}", d.path, d.etag)
            );
            assert_eq!(d.etag.len(), 128);
        }
    }

    #[tokio::test]
    async fn v3_hash_etag_and_encoding() {
        let d = &V3[1];
        let plain = v3_doc(d.path, None, &headers(&[("accept", "application/json")])).unwrap();
        assert_eq!(plain.status(), 200);
        assert_eq!(plain.headers()[header::ETAG], format!("\"{}\"", d.etag));
        assert!(plain.headers().get(header::CACHE_CONTROL).is_none());
        let text = body(plain).await;
        assert_eq!(text.len(), d.len);
        serde_json::from_slice::<Value>(&text).unwrap();

        let q = format!("hash={}", d.etag);
        let gz = v3_doc(d.path, Some(&q), &headers(&[("accept-encoding", "gzip")])).unwrap();
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(gz.headers()[header::CACHE_CONTROL], "public, immutable");
        assert!(
            gz.headers()[header::EXPIRES]
                .to_str()
                .unwrap()
                .ends_with(" GMT")
        );
        assert_eq!(body(gz).await.len(), d.gzip.len());

        let stale = v3_doc(d.path, Some("hash=0123"), &HeaderMap::new()).unwrap();
        assert_eq!(stale.status(), 301);
        assert_eq!(stale.headers()[header::LOCATION], url(d));

        let again = v3_doc(
            d.path,
            None,
            &headers(&[("if-none-match", &format!("\"{}\"", d.etag))]),
        )
        .unwrap();
        assert_eq!(again.status(), 304);
        assert!(body(again).await.is_empty());

        let proto = v3_doc(
            d.path,
            None,
            &headers(&[(
                "accept",
                "application/com.github.proto-openapi.spec.v3@v1.0+protobuf",
            )]),
        )
        .unwrap();
        assert_eq!(proto.status(), 406);
        assert!(v3_doc("apis/nope/v1", None, &HeaderMap::new()).is_none());
    }

    #[tokio::test]
    async fn v2_negotiates_protobuf_and_json() {
        let pb = v2(&headers(&[(
            "accept",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )]));
        assert_eq!(pb.headers()[header::CONTENT_TYPE], PROTO_V2_TYPE);
        let bytes = body(pb).await;
        assert_eq!(bytes.len(), V2_PROTO.len);
        // Document.swagger (field 1) = "2.0" comes first.
        assert_eq!(&bytes[..5], b"\x0a\x032.0");
        let js = v2(&headers(&[("accept", "application/json")]));
        let doc: Value = serde_json::from_slice(&body(js).await).unwrap();
        assert_eq!(doc["swagger"], "2.0");
        let pod = &doc["definitions"]["io.k8s.api.core.v1.Pod"];
        assert_eq!(
            pod["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.PodSpec"
        );
        assert_eq!(
            doc["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"],
            "int-or-string"
        );
        assert_eq!(v2(&headers(&[("accept", "text/html")])).status(), 406);
    }

    #[test]
    fn accept_headers() {
        assert_eq!(negotiate("", &["json"]), Some("json"));
        assert_eq!(negotiate("application/*", &["json"]), Some("json"));
        assert_eq!(
            negotiate("application/json;q=0.5, application/x+y", &["x+y", "json"]),
            Some("x+y")
        );
        assert_eq!(negotiate("application/json;q=0", &["json"]), None);
        assert!(takes_gzip(&headers(&[(
            "accept-encoding",
            "deflate, gzip"
        )])));
        assert!(!takes_gzip(&headers(&[("accept-encoding", "gzip;q=0")])));
        assert!(!takes_gzip(&HeaderMap::new()));
        assert!(not_modified(
            &headers(&[("if-none-match", "W/\"AB\", \"CD\"")]),
            "AB"
        ));
        assert!(!not_modified(
            &headers(&[("if-none-match", "\"AB\"")]),
            "CD"
        ));
    }
}

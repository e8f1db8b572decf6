//! Build script: the sandbox's OpenAPI documents, generated from the
//! resource table (src/machinery/resources.rs, included as is) and
//! k8s-openapi's schemas, written gzip'd to OUT_DIR with their ETags for
//! src/apiserver/openapi.rs to embed. Nothing is computed when the sandbox
//! starts, and a kind added to the resource table gets its schema here.

#![forbid(unsafe_code)]

mod docs;
mod kinds;
mod patch_tags;
mod paths;
mod protobuf;
mod schemas;

// The resource table itself; the build uses only its data.
#[allow(dead_code)]
#[path = "../src/machinery/resources.rs"]
mod resources;

use std::error::Error;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha512};

/// Group-versions in the order the documents list them: core, then groups.
fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut gvs = vec![("", "v1")];
    gvs.extend(resources::GROUPS.iter().map(|g| (*g, "v1")));
    gvs
}

/// Upstream's ETag: the SHA-512 of the JSON bytes, upper-case hex.
fn etag(bytes: &[u8]) -> String {
    let digest = Sha512::digest(bytes);
    let mut out = String::with_capacity(128);
    for b in digest {
        let _ = write!(out, "{b:02X}");
    }
    out
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes)?;
    Ok(e.finish()?)
}

/// Writes `bytes` gzip'd as `file` and returns the generated `Doc` literal.
fn embed(
    out: &Path,
    file: &str,
    path: &str,
    tag: &str,
    bytes: &[u8],
) -> Result<String, Box<dyn Error>> {
    let target = out.join(file);
    std::fs::write(&target, gzip(bytes)?)?;
    Ok(format!(
        "Doc {{ path: {path:?}, etag: {tag:?}, len: {}, gzip: include_bytes!({:?}) }}",
        bytes.len(),
        target.to_string_lossy()
    ))
}

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build");
    println!("cargo::rerun-if-changed=src/machinery/resources.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR not set")?);

    let gvs = group_versions();
    let schemas = schemas::Schemas::generate(&gvs)?;

    let mut all_items = Vec::new();
    let mut v3_docs = Vec::new();
    let mut v3_tags: Vec<(String, String)> = Vec::new();
    for (i, (group, version)) in gvs.iter().enumerate() {
        let mut items = Vec::new();
        for r in resources::RESOURCES
            .iter()
            .filter(|r| r.group == *group && r.version == *version)
        {
            items.extend(paths::resource_paths(r, &schemas)?);
        }
        let json = serde_json::to_vec(&docs::v3(&schemas, &items))?;
        let p = paths::gv_path(group, version);
        let tag = etag(&json);
        v3_docs.push(embed(
            &out,
            &format!("openapi-v3-{i}.json.gz"),
            &p,
            &tag,
            &json,
        )?);
        v3_tags.push((p, tag));
        all_items.extend(items);
    }
    let v2 = docs::v2(&schemas, &all_items);
    let v2_json = serde_json::to_vec(&v2)?;
    let v2_tag = etag(&v2_json);
    let v2_proto = protobuf::document(&v2)?;
    let v2_json_doc = embed(&out, "openapi-v2.json.gz", "", &v2_tag, &v2_json)?;
    let v2_proto_doc = embed(&out, "openapi-v2.pb.gz", "", &v2_tag, &v2_proto)?;

    // `/openapi/v3`: where each group-version's document is, by its hash.
    let mut root = serde_json::Map::new();
    for (p, tag) in &v3_tags {
        root.insert(
            p.clone(),
            serde_json::json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={tag}")}),
        );
    }
    let root_json = serde_json::to_vec(&serde_json::json!({"paths": root}))?;
    let root_doc = embed(
        &out,
        "openapi-v3.json.gz",
        "",
        &etag(&root_json),
        &root_json,
    )?;

    let mut rs = String::new();
    writeln!(rs, "/// `/openapi/v3`.")?;
    writeln!(rs, "pub(crate) static V3_ROOT: Doc = {root_doc};")?;
    writeln!(rs, "/// Every OpenAPI v3 group-version document.")?;
    writeln!(rs, "pub(crate) static V3: &[Doc] = &[")?;
    for d in &v3_docs {
        writeln!(rs, "    {d},")?;
    }
    writeln!(rs, "];")?;
    writeln!(rs, "/// `/openapi/v2` as JSON.")?;
    writeln!(rs, "pub(crate) static V2_JSON: Doc = {v2_json_doc};")?;
    writeln!(rs, "/// `/openapi/v2` as gnostic protobuf.")?;
    writeln!(rs, "pub(crate) static V2_PROTO: Doc = {v2_proto_doc};")?;
    std::fs::write(out.join("openapi_docs.rs"), rs)?;
    Ok(())
}

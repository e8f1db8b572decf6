//! The fuzz targets of the sandbox (`fuzz/fuzz_targets/`, built with
//! `--cfg fuzzing`; the tests run them over fixed pseudo-random inputs):
//! request decoding, the three patch kinds, server-side apply's walks and
//! the shell's parser must return errors on arbitrary input, never panic;
//! and no patch may grow a document by more than its own size plus the
//! 3 MiB of copies upstream allows (a small request cannot amplify).

use serde_json::{Map, Value};

use crate::apiserver::patch::formats::{
    MAX_COPY_BYTES, json_merge, json_patch, json_size, strategic_merge,
};
use crate::machinery::resources;
use crate::registry::managedfields::{self, walk};
use crate::registry::pipeline::Scope;

/// Keys the fuzz input generator draws from, so random documents exercise
/// the merge keys and directives rather than only unknown fields.
const FUZZ_KEYS: &[&str] = &[
    "metadata",
    "spec",
    "template",
    "containers",
    "initContainers",
    "name",
    "env",
    "value",
    "ports",
    "containerPort",
    "port",
    "volumes",
    "volumeMounts",
    "mountPath",
    "finalizers",
    "ownerReferences",
    "uid",
    "conditions",
    "type",
    "strategy",
    "labels",
    "status",
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$setElementOrder/env",
    "$deleteFromPrimitiveList/finalizers",
    "$setElementOrder/finalizers",
    "op",
    "path",
    "from",
];
const FUZZ_STRINGS: &[&str] = &[
    "delete",
    "replace",
    "merge",
    "a",
    "b",
    "",
    "add",
    "remove",
    "move",
    "copy",
    "test",
    "/a",
    "/spec/containers/0",
    "/metadata/labels/x",
    "/-",
    "/a/-",
    "~1",
    "name",
];

/// Builds a JSON value from fuzz bytes (a tiny grammar over [`FUZZ_KEYS`]).
fn fuzz_value(bytes: &mut std::slice::Iter<'_, u8>, depth: usize) -> Value {
    let Some(&b) = bytes.next() else {
        return Value::Null;
    };
    let pick = |n: usize, list: &[&str]| list[n % list.len()].to_string();
    match (b % 8, depth) {
        (0, _) => Value::Null,
        (1, _) => Value::Bool(b & 0x80 != 0),
        (2, _) => Value::from(i64::from(b >> 3)),
        (3 | 4, _) => Value::String(pick(usize::from(b >> 3), FUZZ_STRINGS)),
        (5, d) if d < 6 => {
            let n = usize::from(b >> 5);
            Value::Array((0..n).map(|_| fuzz_value(bytes, d + 1)).collect())
        }
        (_, d) if d < 6 => {
            let n = usize::from(b >> 5) + 1;
            let mut m = Map::new();
            for _ in 0..n {
                let k = bytes.next().copied().unwrap_or(0);
                m.insert(pick(usize::from(k), FUZZ_KEYS), fuzz_value(bytes, d + 1));
            }
            Value::Object(m)
        }
        _ => Value::from(i64::from(b)),
    }
}

/// The fuzz target (`fuzz/fuzz_targets/decode_and_patch.rs` and a stable
/// test call it): protobuf decoding, all three patch kinds and the exec
/// shell's parser on arbitrary input must return, never panic.
pub fn decode_and_patch(data: &[u8]) {
    let _ = crate::apiserver::protobuf::decode(data);
    let mut with_magic = crate::apiserver::protobuf::MAGIC.to_vec();
    with_magic.extend_from_slice(data);
    let _ = crate::apiserver::protobuf::decode(&with_magic);

    let mut bytes = data.iter();
    let original = fuzz_value(&mut bytes, 0);
    let patch = fuzz_value(&mut bytes, 0);
    for kind in ["Pod", "Deployment", "Service", "CronJob", "Widget"] {
        if let Ok(merged) = strategic_merge(&original, &patch, kind) {
            let _ = strategic_merge(&merged, &patch, kind);
        }
    }
    let _ = json_merge(&original, &patch);
    bounded_json_patch(&original, &patch);
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        let _ = strategic_merge(&original, &v, "Deployment");
        bounded_json_patch(&original, &v);
    }
    // Server-side apply's walks and the field manager on the same inputs.
    for kind in ["Deployment", "Pod", "Service"] {
        let _ = walk::field_set(kind, &patch);
        let merged = walk::merge(kind, &original, &patch);
        let _ = walk::compare(kind, &original, &merged);
    }
    if patch.is_object() {
        let res = &resources::DEPLOYMENTS;
        let _ = managedfields::apply(res, Scope::Main, "fuzz", false, Some(&original), &patch);
        let mut updated = patch.clone();
        managedfields::track_update(res, Scope::All, "fuzz", Some(&original), &mut updated);
    }
    // The exec shell's parser and arithmetic are pure too.
    let text = String::from_utf8_lossy(data);
    let _ = crate::shell::check_syntax(&text);
    let _ = crate::shell::check_arithmetic(&text);
}

/// A JSON patch never yields more than its inputs plus the copies
/// upstream allows.
fn bounded_json_patch(original: &Value, ops: &Value) {
    if let Ok(out) = json_patch(original, ops) {
        let limit = json_size(original) + json_size(ops) + MAX_COPY_BYTES;
        assert!(json_size(&out) <= limit, "a JSON patch amplified its input");
    }
}

/// The fuzz target for the shell (`fuzz/fuzz_targets/shell.rs` and a
/// stable test): a script from fuzz bytes, parsed in both dialects and
/// run in a throw-away container whose memory is small, with the
/// amplifications (`x=$x$x` loops, `yes`, deep `$(...)`) it may contain:
/// it must end (no hang, no panic) with its memory bounded.
pub fn shell_script(data: &[u8]) {
    let text = fuzz_script(data);
    let _ = crate::shell::check_syntax(&text);
    let _ = crate::shell::run_fuzz_script(&text);
}

/// Words the script generator draws from: shell syntax and applets, so
/// random bytes become scripts that reach the expander and interpreter.
const FUZZ_WORDS: &[&str] = &[
    "x=$x$x",
    "x=a",
    "echo",
    "$x",
    "${x:-d}",
    "${#x}",
    "${x%%a*}",
    "${x//a/bb}",
    "$((1+x))",
    "$(echo",
    ")",
    "`echo",
    "`",
    "|",
    "&&",
    "||",
    ";",
    "\n",
    "&",
    "for i in 1 2 3; do",
    "while false; do",
    "done",
    "if true; then",
    "fi",
    "case $x in a) echo;; esac",
    "f() {",
    "}",
    "f",
    "{",
    "(",
    "cat",
    "seq 3",
    "yes",
    "head -n 2",
    "wc -c",
    "printf %s",
    "'q'",
    "\"d\"",
    ">/dev/null",
    "2>&1",
    "<<E\nbody\nE",
    "sleep 0",
    "read v",
    "set -e",
    "trap 'echo t' EXIT",
    "tr a b",
    "sed s/a/b/",
    "awk '{print $1}'",
    "sort",
    "grep a",
    "local y",
    "return",
    "exit 3",
    "kill $$",
    "wait",
];

fn fuzz_script(data: &[u8]) -> String {
    let mut s = String::new();
    for &b in data.iter().take(64) {
        if b < 200 {
            s.push_str(FUZZ_WORDS[usize::from(b) % FUZZ_WORDS.len()]);
            s.push(' ');
        } else {
            s.push(char::from(b % 95 + 32));
        }
    }
    s.replace("\\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::decode_and_patch;

    /// Stable stand-in for cargo-fuzz: the fuzz target over a few thousand
    /// pseudo-random inputs from a fixed seed (xorshift, so it never changes).
    #[test]
    fn fuzz_target_survives_pseudo_random_inputs() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..4000 {
            let len = (next() % 200) as usize;
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            decode_and_patch(&data);
        }
    }

    /// A copy bomb (a list appended to itself 40 times) stays bounded.
    #[test]
    fn a_copy_bomb_is_bounded() {
        let mut ops = vec![serde_json::json!({"op": "add", "path": "/l", "value": ["x"]})];
        ops.extend(std::iter::repeat_n(
            serde_json::json!({"op": "copy", "from": "/l", "path": "/l/-"}),
            40,
        ));
        decode_and_patch(&serde_json::to_vec(&ops).unwrap());
    }

    /// The shell target over pseudo-random scripts.
    #[test]
    fn shell_fuzz_target_ends_and_stays_bounded() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..300 {
            let len = (next() % 40) as usize;
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            super::shell_script(&data);
        }
        super::shell_script(&[0, 2, 14, 0, 0, 0, 0, 0]);
    }
}

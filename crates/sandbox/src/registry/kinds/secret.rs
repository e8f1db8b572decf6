//! Secret: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct Secrets;

impl Strategy for Secrets {
    /// `stringData` is write-only: each key overwrites the same key of
    /// `data` (base64-encoded), then it is dropped (upstream's
    /// `Convert_v1_Secret_To_core_Secret`).
    fn convert(&self, obj: &mut Value) {
        use base64::Engine as _;
        let Some(string_data) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
            return;
        };
        let Some(entries) = string_data.as_object() else {
            return;
        };
        if !obj["data"].is_object() {
            obj["data"] = json!({});
        }
        for (k, v) in entries {
            let text = v.as_str().unwrap_or("");
            obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
        }
    }

    fn default(&self, obj: &mut Value) {
        if obj["type"].as_str().is_none_or(str::is_empty) {
            obj["type"] = json!("Opaque");
        }
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        let mut total = 0;
        for (k, v) in obj["data"].as_object().into_iter().flatten() {
            config_key(k, "data", out);
            total += decoded_len(v.as_str().unwrap_or(""));
        }
        if total > MAX_DATA_BYTES {
            out.push(Cause::too_long("data", MAX_DATA_BYTES));
        }
        let has = |k: &str| obj["data"].get(k).is_some();
        match obj["type"].as_str().unwrap_or("") {
            "kubernetes.io/tls" => {
                for k in ["tls.crt", "tls.key"] {
                    if !has(k) {
                        out.push(Cause::required(format!("data[{k}]")));
                    }
                }
            }
            "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
                out.push(Cause::required("data[username]"));
                out.push(Cause::required("data[password]"));
            }
            "kubernetes.io/ssh-auth" if !has("ssh-privatekey") => {
                out.push(Cause::required("data[ssh-privatekey]"));
            }
            "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
                out.push(Cause::required("data[.dockerconfigjson]"));
            }
            "kubernetes.io/service-account-token"
                if obj["metadata"]["annotations"]["kubernetes.io/service-account.name"]
                    .is_null() =>
            {
                out.push(Cause::required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                ));
            }
            _ => {}
        }
        if let Some(old) = old {
            immutable(&obj["type"], &old["type"], "type", out);
            immutable_data(obj, old, &["data"], out);
        }
    }

    fn columns(&self) -> &'static [Col] {
        &[NAME, ("Type", "string", 0), ("Data", "string", 0), AGE]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let n = o["data"].as_object().map_or(0, |m| m.len());
        json!([name, s(&o["type"]), n, age])
    }
}

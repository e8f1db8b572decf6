//! Job: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct Jobs;

impl Strategy for Jobs {
    fn has_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        default_job(obj);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        let t = &obj["spec"]["template"]["spec"];
        validate_pod_spec(t, "spec.template.spec", out);
        let rp = t["restartPolicy"].as_str().unwrap_or("");
        if rp != "Never" && rp != "OnFailure" {
            out.push(Cause::unsupported(
                "spec.template.spec.restartPolicy",
                rp,
                &["OnFailure", "Never"],
            ));
        }
        if let Some(old) = old
            && old["spec"]["template"] != obj["spec"]["template"]
            && !old["spec"]["suspend"].as_bool().unwrap_or(false)
        {
            out.push(Cause::invalid(
                "spec.template",
                &go_map(&obj["spec"]["template"]),
                "field is immutable",
            ));
        }
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let terminating = !o["metadata"]["deletionTimestamp"].is_null();
        let spec = &o["spec"];
        let st = &o["status"];
        let has = |t: &str| {
            arr(&st["conditions"])
                .iter()
                .any(|c| c["type"] == t && c["status"] == "True")
        };
        let status = if has("Complete") {
            "Complete"
        } else if has("Failed") {
            "Failed"
        } else if terminating {
            "Terminating"
        } else if has("Suspended") {
            "Suspended"
        } else if has("FailureTarget") {
            "FailureTarget"
        } else if has("SuccessCriteriaMet") {
            "SuccessCriteriaMet"
        } else {
            "Running"
        };
        let succeeded = int(&st["succeeded"]);
        let completions = if !spec["completions"].is_null() {
            format!("{succeeded}/{}", int(&spec["completions"]))
        } else if spec["parallelism"].is_null() {
            format!("{succeeded}/1 of 1")
        } else if int(&spec["parallelism"]) > 1 {
            format!("{succeeded}/1 of {}", int(&spec["parallelism"]))
        } else {
            format!("{succeeded}/1")
        };
        let duration = match (
            parse_time(&st["startTime"]),
            parse_time(&st["completionTime"]),
        ) {
            (None, _) => String::new(),
            (Some(start), None) => human_duration(now.as_second() - start.as_second()),
            (Some(start), Some(end)) => human_duration(end.as_second() - start.as_second()),
        };
        let (c, i, sel) = template_columns(spec);
        json!([name, status, completions, duration, age, c, i, sel])
    }
}

fn default_job(obj: &mut Value) {
    let uid = obj["metadata"]["uid"].clone();
    let name = obj["metadata"]["name"].clone();
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        return;
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "completions", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    let manual = spec["manualSelector"].as_bool().unwrap_or(false);
    if !manual && uid.is_string() && spec["selector"].is_null() {
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
        let t = &mut spec["template"];
        if t.is_object() {
            if !t["metadata"]["labels"].is_object() {
                t["metadata"]["labels"] = json!({});
            }
            let l = &mut t["metadata"]["labels"];
            l["batch.kubernetes.io/controller-uid"] = uid.clone();
            l["batch.kubernetes.io/job-name"] = name.clone();
            l["controller-uid"] = uid;
            l["job-name"] = name;
        }
    }
    default_template(&mut spec["template"]);
}

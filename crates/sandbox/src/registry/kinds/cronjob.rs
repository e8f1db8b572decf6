//! CronJob: what the registry does for this kind (defaults, validation of
//! the schedule and time zone with robfig/cron's and Go's words) and how
//! kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;
use crate::machinery::cron::{Schedule, load_zone};

pub(crate) struct CronJobs;

/// Upstream's `validTimeZoneCharacters`, one part of a zone name.
fn valid_zone_part(part: &str) -> bool {
    (1..=14).contains(&part.len())
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
}

fn validate_time_zone(tz: &Value, out: &mut Vec<Cause>) {
    let Some(name) = tz.as_str() else {
        return;
    };
    let field = "spec.timeZone";
    if name.is_empty() {
        out.push(Cause::invalid(
            field,
            tz,
            "timeZone must be nil or non-empty string",
        ));
        return;
    }
    let unknown = format!("unknown time zone {name}");
    if name
        .split('/')
        .any(|p| p == "." || p == ".." || p.starts_with('-') || !valid_zone_part(p))
    {
        out.push(Cause::invalid(field, tz, &unknown));
        return;
    }
    if name.eq_ignore_ascii_case("Local") {
        out.push(Cause::invalid(
            field,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
    if let Err(e) = load_zone(name) {
        out.push(Cause::invalid(field, tz, &e));
    }
}

fn validate_schedule(spec: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
    let schedule = spec["schedule"].as_str().unwrap_or("");
    let field = "spec.schedule";
    if schedule.is_empty() {
        out.push(Cause::required(field));
        return;
    }
    let v = json!(schedule);
    if let Err(e) = Schedule::parse(schedule, &jiff::tz::TimeZone::UTC) {
        out.push(Cause::invalid(field, &v, &e));
    }
    let allow_tz = old.is_some_and(|o| {
        o["spec"]["schedule"]
            .as_str()
            .is_some_and(|s| s.contains("TZ"))
    });
    if schedule.contains("TZ") {
        if !allow_tz {
            out.push(Cause::invalid(
                field,
                &v,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        } else if spec["timeZone"].is_string() {
            out.push(Cause::invalid(
                field,
                &v,
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        }
    }
}

impl Strategy for CronJobs {
    fn has_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let spec = &mut obj["spec"];
        if !spec.is_object() {
            return;
        }
        set_default(spec, "concurrencyPolicy", json!("Allow"));
        set_default(spec, "suspend", json!(false));
        set_default(spec, "successfulJobsHistoryLimit", json!(3));
        set_default(spec, "failedJobsHistoryLimit", json!(1));
        if spec["jobTemplate"].is_object() {
            if spec["jobTemplate"]["metadata"].is_null() {
                spec["jobTemplate"]["metadata"] = json!({});
            }
            default_template(&mut spec["jobTemplate"]["spec"]["template"]);
        }
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        if old.is_none() && name.len() > 52 {
            out.push(Cause::invalid(
                "metadata.name",
                &json!(name),
                "must be no more than 52 characters",
            ));
        }
        let spec = &obj["spec"];
        validate_schedule(spec, old, out);
        nonnegative(
            &spec["startingDeadlineSeconds"],
            "spec.startingDeadlineSeconds",
            out,
        );
        if old.is_none_or(|o| o["spec"]["timeZone"] != spec["timeZone"]) {
            validate_time_zone(&spec["timeZone"], out);
        }
        match spec["concurrencyPolicy"].as_str().unwrap_or("") {
            "Allow" | "Forbid" | "Replace" => {}
            "" => out.push(Cause::required("spec.concurrencyPolicy")),
            p => out.push(Cause::unsupported(
                "spec.concurrencyPolicy",
                p,
                &["Allow", "Forbid", "Replace"],
            )),
        }
        let job = &spec["jobTemplate"]["spec"];
        let pod = &job["template"]["spec"];
        validate_pod_spec(pod, "spec.jobTemplate.spec.template.spec", out);
        let rp = pod["restartPolicy"].as_str().unwrap_or("");
        if rp != "Never" && rp != "OnFailure" {
            out.push(Cause::unsupported(
                "spec.jobTemplate.spec.template.spec.restartPolicy",
                rp,
                &["OnFailure", "Never"],
            ));
        }
        if !job["selector"].is_null() {
            out.push(Cause::invalid(
                "spec.jobTemplate.spec.selector",
                &go_selector(&job["selector"]),
                "`selector` will be auto-generated",
            ));
        }
        if job["manualSelector"] == true {
            out.push(Cause::unsupported(
                "spec.jobTemplate.spec.manualSelector",
                "true",
                &["nil", "false"],
            ));
        }
        nonnegative(
            &spec["successfulJobsHistoryLimit"],
            "spec.successfulJobsHistoryLimit",
            out,
        );
        nonnegative(
            &spec["failedJobsHistoryLimit"],
            "spec.failedJobsHistoryLimit",
            out,
        );
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Schedule", "string", 0),
            ("Timezone", "string", 0),
            ("Suspend", "boolean", 0),
            ("Active", "integer", 0),
            ("Last Schedule", "string", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let spec = &o["spec"];
        let st = &o["status"];
        let job = &spec["jobTemplate"]["spec"];
        let (c, i, sel) = template_columns(job);
        let suspend = match spec["suspend"].as_bool() {
            Some(true) => "True",
            Some(false) => "False",
            None => "<unset>",
        };
        let last = if st["lastScheduleTime"].is_string() {
            since(&st["lastScheduleTime"], now)
        } else {
            "<none>".into()
        };
        json!([
            s(&o["metadata"]["name"]),
            s(&spec["schedule"]),
            or_none(s(&spec["timeZone"])),
            suspend,
            arr(&st["active"]).len(),
            last,
            since(&o["metadata"]["creationTimestamp"], now),
            c,
            i,
            sel,
        ])
    }
}

#[cfg(test)]
mod tests {
    use crate::machinery::resources;
    use crate::registry::{apply_defaults, validate};
    use serde_json::json;

    fn cj(schedule: &str) -> serde_json::Value {
        json!({"metadata": {"name": "backup"}, "spec": {"schedule": schedule,
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                "containers": [{"name": "c", "image": "busybox"}]}}}}}})
    }

    fn messages(o: &serde_json::Value) -> Vec<String> {
        validate(&resources::CRON_JOBS, o, None)
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn schedule_and_time_zone_errors() {
        let mut ok = cj("*/5 * * * *");
        ok["spec"]["timeZone"] = json!("Europe/Paris");
        apply_defaults(&resources::CRON_JOBS, &mut ok);
        assert_eq!(ok["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(ok["spec"]["successfulJobsHistoryLimit"], 3);
        assert!(messages(&ok).is_empty(), "{:?}", messages(&ok));
        let mut bad = cj("61 * * * *");
        bad["spec"]["timeZone"] = json!("Europe/Pariss");
        apply_defaults(&resources::CRON_JOBS, &mut bad);
        assert_eq!(
            messages(&bad),
            [
                "spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61",
                "spec.timeZone: Invalid value: \"Europe/Pariss\": unknown time zone Europe/Pariss",
            ]
        );
        let mut tz = cj("CRON_TZ=UTC * * * * *");
        apply_defaults(&resources::CRON_JOBS, &mut tz);
        assert_eq!(
            messages(&tz),
            [
                "spec.schedule: Invalid value: \"CRON_TZ=UTC * * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            ]
        );
        let mut long = cj("@daily");
        long["metadata"]["name"] = json!("x".repeat(53));
        apply_defaults(&resources::CRON_JOBS, &mut long);
        assert!(messages(&long)[0].ends_with("must be no more than 52 characters"));
    }
}

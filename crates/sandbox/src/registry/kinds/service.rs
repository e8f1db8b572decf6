//! Service: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use super::prelude::*;

pub(crate) struct Services;

impl Strategy for Services {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1035
    }

    fn default(&self, obj: &mut Value) {
        default_service(obj);
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>, out: &mut Vec<Cause>) {
        let spec = &obj["spec"];
        let headless = spec["clusterIP"] == "None";
        let kind = spec["type"].as_str().unwrap_or("ClusterIP");
        if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&kind) {
            out.push(Cause::unsupported(
                "spec.type",
                kind,
                &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
            ));
        }
        if spec["ports"].as_array().is_none_or(|p| p.is_empty())
            && !headless
            && kind != "ExternalName"
        {
            out.push(Cause::required("spec.ports"));
        }
        if let Some(ports) = spec["ports"].as_array() {
            for (i, p) in ports.iter().enumerate() {
                if p["port"].as_i64().is_none_or(|n| !(1..=65535).contains(&n)) {
                    out.push(Cause::invalid(
                        format!("spec.ports[{i}].port"),
                        &p["port"],
                        "must be between 1 and 65535, inclusive",
                    ));
                }
                if ports.len() > 1 && p["name"].as_str().is_none_or(str::is_empty) {
                    out.push(Cause::required(format!("spec.ports[{i}].name")));
                }
            }
        }
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            AGE,
            ("Selector", "string", 1),
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        let name = s(&o["metadata"]["name"]);
        let age = since(&o["metadata"]["creationTimestamp"], now);
        let spec = &o["spec"];
        let st = &o["status"];
        let ty = s(&spec["type"]);
        let external: Vec<String> = arr(&spec["externalIPs"]).iter().map(s).collect();
        let ext = match ty.as_str() {
            "LoadBalancer" => {
                let mut ips: Vec<String> = arr(&st["loadBalancer"]["ingress"])
                    .iter()
                    .map(|i| {
                        if i["ip"].is_string() {
                            s(&i["ip"])
                        } else {
                            s(&i["hostname"])
                        }
                    })
                    .collect();
                ips.extend(external);
                if ips.is_empty() {
                    "<pending>".to_string()
                } else {
                    ips.join(",")
                }
            }
            "ExternalName" => s(&spec["externalName"]),
            _ => or_none(external.join(",")),
        };
        let ports: Vec<String> = arr(&spec["ports"])
            .iter()
            .map(|p| {
                let np = int(&p["nodePort"]);
                if np != 0 {
                    format!("{}:{np}/{}", int(&p["port"]), s(&p["protocol"]))
                } else {
                    format!("{}/{}", int(&p["port"]), s(&p["protocol"]))
                }
            })
            .collect();
        json!([
            name,
            ty,
            or_none(s(&spec["clusterIP"])),
            ext,
            or_none(ports.join(",")),
            age,
            or_none(format_labels(&spec["selector"])),
        ])
    }
}

fn default_service(obj: &mut Value) {
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        return;
    }
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let kind = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    if kind != "ExternalName" {
        if spec["clusterIP"].as_str().is_none_or(str::is_empty) {
            spec["clusterIP"] = json!(random_cluster_ip());
        }
        if spec["clusterIPs"].is_null() {
            spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
        }
        set_default(spec, "ipFamilies", json!(["IPv4"]));
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if let Some(ports) = spec["ports"].as_array_mut() {
        for p in ports.iter_mut().filter(|p| p.is_object()) {
            set_default(p, "protocol", json!("TCP"));
            if p["targetPort"].is_null() {
                p["targetPort"] = p["port"].clone();
            }
            if (kind == "NodePort" || kind == "LoadBalancer") && p["nodePort"].is_null() {
                use rand::Rng as _;
                p["nodePort"] = json!(rand::rng().random_range(30000..32768));
            }
        }
    }
    if obj["status"].is_null() {
        obj["status"] = json!({"loadBalancer": {}});
    }
}

fn random_cluster_ip() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    format!(
        "10.96.{}.{}",
        rng.random_range(1..255),
        rng.random_range(1..255)
    )
}

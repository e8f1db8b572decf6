//! What a container reaches over the network: its own pod on `localhost`,
//! Services by DNS name (`customer-db`, `customer-db.kubetutor`,
//! `customer-db.kubetutor.svc.cluster.local`) or cluster IP, pods by IP,
//! and, as kube-dns publishes them, the pods of a headless Service by
//! their hostname (`db-0.db`, `db-0.db.kubetutor.svc.cluster.local`: a pod
//! whose `hostname` and `subdomain` name it, such as a StatefulSet's).
//! Each resolves to the loopback listener of an emulated app
//! ([`NetNamespaces`]), through a ready endpoint, as kube-proxy would route
//! (a headless Service's name leads straight to one of its ready pods).

pub(crate) use pgemu::Dial;

use crate::machinery::resources;
use serde_json::Value;

use crate::machinery::meta::pod_ready;
use crate::network::netns::NetNamespaces;
use crate::network::services::{selected_pods, target_port};
use crate::storage::store::Store;

/// The network as one pod sees it. Cheap to clone.
#[derive(Clone)]
pub struct PodNetwork {
    netns: NetNamespaces,
    store: Option<Store>,
    namespace: String,
    pod_uid: String,
}

impl PodNetwork {
    pub fn new(netns: NetNamespaces, store: Store, namespace: &str, pod_uid: &str) -> Self {
        Self {
            netns,
            store: Some(store),
            namespace: namespace.to_string(),
            pod_uid: pod_uid.to_string(),
        }
    }

    /// A network with only the pod itself (tests, and when no store is at hand).
    #[cfg(test)]
    pub fn isolated(netns: NetNamespaces, pod_uid: &str) -> Self {
        Self {
            netns,
            store: None,
            namespace: String::new(),
            pod_uid: pod_uid.to_string(),
        }
    }

    /// This pod's own port (what `localhost:port` or a Unix socket reaches).
    pub fn local(&self, port: u16) -> Dial {
        match self.netns.lookup(&self.pod_uid, port) {
            Some(addr) => Dial::Open {
                addr,
                ip: "127.0.0.1".to_string(),
            },
            None => Dial::Refused {
                ip: "127.0.0.1".to_string(),
            },
        }
    }

    /// A socket only this pod reaches, by name, if one is bound.
    pub fn socket(&self, name: &str) -> Option<std::path::PathBuf> {
        self.netns.socket_path(&self.pod_uid, name)
    }

    /// Resolves `host:port` as a container of this pod would.
    pub fn dial(&self, host: &str, port: u16) -> Dial {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        if matches!(host.as_str(), "" | "localhost" | "127.0.0.1" | "::1") {
            return self.local(port);
        }
        let Some(store) = &self.store else {
            return Dial::NoSuchHost;
        };
        if host.parse::<std::net::IpAddr>().is_ok() {
            let (services, _) = store.list(&resources::SERVICES, None);
            if let Some(svc) = services
                .iter()
                .find(|s| s["spec"]["clusterIP"].as_str() == Some(host.as_str()))
            {
                return self.via_service(store, svc, port);
            }
            // Only pods on the node have addresses.
            let (pods, _) = store.list_stored(&resources::PODS, None);
            return match pods
                .iter()
                .filter(|p| !p.facts.node.is_empty())
                .map(|p| p.value())
                .find(|p| p["status"]["podIP"].as_str() == Some(host.as_str()))
            {
                Some(pod) => {
                    let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
                    match self.netns.lookup(uid, port) {
                        Some(addr) => Dial::Open { addr, ip: host },
                        None => Dial::Refused { ip: host },
                    }
                }
                None => Dial::Refused { ip: host },
            };
        }
        match self.resolve(store, &host) {
            Some(Named::Service(svc)) => self.via_service(store, &svc, port),
            Some(Named::Pod(pod)) => self.to_pod(&pod, port),
            None => Dial::NoSuchHost,
        }
    }

    /// A DNS name as the pod's resolver finds it, with the search path of
    /// its namespace: `svc`, `svc.ns`, `host.svc`, `host.svc.ns`, each also
    /// with `.svc` or `.svc.cluster.local`.
    fn resolve(&self, store: &Store, host: &str) -> Option<Named> {
        let (name, absolute) = match host
            .strip_suffix(".svc.cluster.local")
            .or_else(|| host.strip_suffix(".svc"))
        {
            Some(n) => (n, true),
            None => (host, false),
        };
        let labels: Vec<&str> = name.split('.').collect();
        let own = self.namespace.as_str();
        let service = |name: &str, ns: &str| {
            store
                .get(&resources::SERVICES, ns, name)
                .map(|s| Named::Service((*s).clone()))
        };
        match (labels.as_slice(), absolute) {
            ([svc], false) => service(svc, own),
            ([svc, ns], true) => service(svc, ns),
            // Relative: the search path tries this namespace first.
            ([h, svc], false) => hostname_pod(store, h, svc, own).or_else(|| service(h, svc)),
            ([h, svc, ns], _) => hostname_pod(store, h, svc, ns),
            _ => None,
        }
    }

    fn to_pod(&self, pod: &Value, port: u16) -> Dial {
        let ip = pod["status"]["podIP"].as_str().unwrap_or("").to_string();
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
        match self.netns.lookup(uid, port) {
            Some(addr) => Dial::Open { addr, ip },
            None => Dial::Refused { ip },
        }
    }

    fn via_service(&self, store: &Store, svc: &Value, port: u16) -> Dial {
        if svc["spec"]["clusterIP"] == "None" {
            // Headless: the name's addresses are the ready pods' own.
            let pods = published_pods(store, svc);
            if pods.is_empty() {
                return Dial::NoSuchHost;
            }
            return self.to_pod(&pods[rand::random_range(0..pods.len())], port);
        }
        let ip = svc["spec"]["clusterIP"].as_str().unwrap_or("").to_string();
        let Some(sp) = svc["spec"]["ports"].as_array().and_then(|ports| {
            ports
                .iter()
                .find(|p| p["port"].as_u64() == Some(u64::from(port)))
                .cloned()
        }) else {
            return Dial::Refused { ip };
        };
        let ready: Vec<_> = selected_pods(store, svc)
            .into_iter()
            .filter(|p| pod_ready(p))
            .collect();
        if ready.is_empty() {
            return Dial::Refused { ip };
        }
        // kube-proxy picks one ready endpoint per connection.
        let pod = &ready[rand::random_range(0..ready.len())];
        let Some(target) = target_port(&sp, pod) else {
            return Dial::Refused { ip };
        };
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
        match self.netns.lookup(uid, target) {
            Some(addr) => Dial::Open { addr, ip },
            None => Dial::Refused { ip },
        }
    }
}

/// What a DNS name leads to.
enum Named {
    Service(Value),
    Pod(Value),
}

/// The pods a headless Service's DNS records list: the ready ones it
/// selects, or all of them with `publishNotReadyAddresses`.
fn published_pods(store: &Store, svc: &Value) -> Vec<Value> {
    let all = svc["spec"]["publishNotReadyAddresses"] == true;
    selected_pods(store, svc)
        .into_iter()
        .filter(|p| all || pod_ready(p))
        .map(|p| (*p).clone())
        .collect()
}

/// `<hostname>.<service>` in `ns`: a pod with that `hostname` and the
/// service as its `subdomain`, behind that headless Service (kube-dns
/// publishes no such name for a Service with a cluster IP).
fn hostname_pod(store: &Store, hostname: &str, svc: &str, ns: &str) -> Option<Named> {
    let service = store.get(&resources::SERVICES, ns, svc)?;
    if service["spec"]["clusterIP"] != "None" {
        return None;
    }
    published_pods(store, &service)
        .into_iter()
        .find(|p| p["spec"]["hostname"] == hostname && p["spec"]["subdomain"] == svc)
        .map(Named::Pod)
}

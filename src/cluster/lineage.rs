//! Storage lineage of a pod: for each container, where a write lands.
//!
//! container → mount path → volume → PVC → PV → StorageClass → where the
//! bytes live (the container's writable layer, the pod's emptyDir, a host
//! directory, a provisioned directory...), each link labelled with how long
//! it lives. This is the picture the course teaches; the pane draws it.

use crate::cluster::printers;
use crate::cluster::state::ClusterState;
use k8s_openapi::api::core::v1::{PersistentVolume, Pod, Volume};
use std::fmt;

/// How long the data at a link survives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifetime {
    /// The container's writable layer: gone when the container is replaced.
    Container,
    /// Deleted with the pod (emptyDir).
    Pod,
    /// Kept while the PersistentVolumeClaim exists.
    Claim,
    /// What happens to the volume when its claim goes: `Retain`, `Delete`
    /// or `Recycle`.
    Reclaim(String),
    /// A directory of the node: outlives pods, stays on that node.
    Node,
    /// A copy of an API object (ConfigMap, Secret...), read-only.
    Object,
}

impl Lifetime {
    /// A short label for the pane.
    pub fn label(&self) -> String {
        match self {
            Lifetime::Container => "lost when the container is replaced".into(),
            Lifetime::Pod => "deleted with the pod".into(),
            Lifetime::Claim => "kept while the claim exists".into(),
            Lifetime::Reclaim(p) if p == "Retain" => {
                "kept after the claim is deleted (Retain)".into()
            }
            Lifetime::Reclaim(p) if p == "Delete" => "deleted with the claim (Delete)".into(),
            Lifetime::Reclaim(p) => format!("reclaim policy {p}"),
            Lifetime::Node => "stays on the node, outlives pods".into(),
            Lifetime::Object => "a copy of the API object".into(),
        }
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// What a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Volume,
    Claim,
    PersistentVolume,
    StorageClass,
    /// Where the bytes are.
    Storage,
}

/// One link of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub kind: LinkKind,
    pub name: String,
    /// One line: `emptyDir`, `Bound, 1Gi, RWO`, `rancher.io/local-path, WaitForFirstConsumer`...
    pub detail: String,
    pub lifetime: Option<Lifetime>,
    /// The object is named but not (yet) in the cluster, or not bound.
    pub missing: bool,
}

/// A mount of a container and the chain behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountLineage {
    pub mount_path: String,
    pub read_only: bool,
    pub volume: String,
    pub chain: Vec<Link>,
}

/// One container: its own layer, then each mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLineage {
    pub name: String,
    /// Writes outside every mount path land here.
    pub layer: Link,
    pub mounts: Vec<MountLineage>,
}

/// The lineage of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLineage {
    pub pod: String,
    pub node: Option<String>,
    pub containers: Vec<ContainerLineage>,
}

/// Build the lineage of a pod from the snapshot (PVCs, PVs and classes are
/// looked up in it).
pub fn pod_lineage(pod: &Pod, state: &ClusterState) -> PodLineage {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let node = spec.and_then(|s| s.node_name.clone());
    let volumes = spec.and_then(|s| s.volumes.as_deref()).unwrap_or_default();
    let containers = spec
        .map(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(s.containers.iter())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let node_text = node.as_deref().unwrap_or("its node");
    let containers = containers
        .into_iter()
        .map(|c| {
            let mounts = c
                .volume_mounts
                .as_deref()
                .unwrap_or_default()
                .iter()
                // The service-account token is not storage the course is about.
                .filter(|m| !m.name.starts_with("kube-api-access-"))
                .map(|m| {
                    let chain = match volumes.iter().find(|v| v.name == m.name) {
                        Some(v) => volume_chain(v, &ns, &uid, node_text, state),
                        None => vec![Link {
                            kind: LinkKind::Volume,
                            name: m.name.clone(),
                            detail: "not declared in the pod's volumes".into(),
                            lifetime: None,
                            missing: true,
                        }],
                    };
                    MountLineage {
                        mount_path: m.mount_path.clone(),
                        read_only: m.read_only.unwrap_or(false),
                        volume: m.name.clone(),
                        chain,
                    }
                })
                .collect();
            ContainerLineage {
                name: c.name.clone(),
                layer: Link {
                    kind: LinkKind::Storage,
                    name: "container layer".into(),
                    detail: format!("writable layer of {} on {node_text}", c.name),
                    lifetime: Some(Lifetime::Container),
                    missing: false,
                },
                mounts,
            }
        })
        .collect();
    PodLineage {
        pod: name,
        node,
        containers,
    }
}

fn storage(name: &str, detail: String, lifetime: Lifetime) -> Link {
    Link {
        kind: LinkKind::Storage,
        name: name.into(),
        detail,
        lifetime: Some(lifetime),
        missing: false,
    }
}

fn volume_chain(
    v: &Volume,
    ns: &str,
    pod_uid: &str,
    node: &str,
    state: &ClusterState,
) -> Vec<Link> {
    let vol = |detail: &str, lifetime: Option<Lifetime>| Link {
        kind: LinkKind::Volume,
        name: v.name.clone(),
        detail: detail.into(),
        lifetime,
        missing: false,
    };
    if let Some(e) = &v.empty_dir {
        let memory = e.medium.as_deref() == Some("Memory");
        let bytes = if memory {
            storage("memory", format!("RAM of {node} (tmpfs)"), Lifetime::Pod)
        } else {
            storage(
                "emptyDir",
                format!(
                    "{node}:/var/lib/kubelet/pods/{pod_uid}/volumes/kubernetes.io~empty-dir/{}",
                    v.name
                ),
                Lifetime::Pod,
            )
        };
        return vec![vol("emptyDir", Some(Lifetime::Pod)), bytes];
    }
    if let Some(h) = &v.host_path {
        return vec![
            vol("hostPath", Some(Lifetime::Node)),
            storage(
                "host directory",
                format!("{node}:{}", h.path),
                Lifetime::Node,
            ),
        ];
    }
    if let Some(c) = &v.config_map {
        return vec![
            vol("configMap", Some(Lifetime::Object)),
            storage(
                "ConfigMap",
                format!("configmap {} (API server)", c.name),
                Lifetime::Object,
            ),
        ];
    }
    if let Some(s) = &v.secret {
        return vec![
            vol("secret", Some(Lifetime::Object)),
            storage(
                "Secret",
                format!(
                    "secret {} (API server, tmpfs on the node)",
                    s.secret_name.as_deref().unwrap_or("?")
                ),
                Lifetime::Object,
            ),
        ];
    }
    if let Some(p) = &v.persistent_volume_claim {
        let mut chain = vec![vol("persistentVolumeClaim", Some(Lifetime::Claim))];
        chain.extend(claim_chain(&p.claim_name, ns, state));
        return chain;
    }
    let kind = if v.projected.is_some() {
        "projected"
    } else if v.downward_api.is_some() {
        "downwardAPI"
    } else if v.ephemeral.is_some() {
        "ephemeral"
    } else if v.csi.is_some() {
        "csi"
    } else if v.nfs.is_some() {
        "nfs"
    } else {
        "other"
    };
    vec![vol(kind, None)]
}

/// PVC → PV → StorageClass → bytes.
pub fn claim_chain(claim: &str, ns: &str, state: &ClusterState) -> Vec<Link> {
    let Some(pvc) = state.pvc(ns, claim) else {
        return vec![Link {
            kind: LinkKind::Claim,
            name: claim.into(),
            detail: "no such PersistentVolumeClaim".into(),
            lifetime: None,
            missing: true,
        }];
    };
    let row = printers::pvc_row(pvc, jiff::Timestamp::UNIX_EPOCH);
    let mut chain = Vec::new();
    let bound = !row.volume.is_empty() && row.status == "Bound";
    let mut detail = row.status.clone();
    if bound {
        for extra in [&row.capacity, &row.access_modes] {
            if !extra.is_empty() {
                detail.push_str(", ");
                detail.push_str(extra);
            }
        }
    }
    chain.push(Link {
        kind: LinkKind::Claim,
        name: claim.into(),
        detail,
        lifetime: Some(Lifetime::Claim),
        missing: !bound,
    });
    let class_name = row.storage_class.clone();
    if !bound {
        // Not bound: say what it waits for, then the class it asked for.
        if let Some(ev) = state
            .events_for(
                crate::cluster::kinds::Kind::PersistentVolumeClaim,
                &pvc.metadata,
            )
            .last()
            && let Some(last) = chain.last_mut()
        {
            last.detail = format!(
                "{}: {}",
                row.status,
                ev.message.as_deref().unwrap_or("").trim()
            );
        }
        if !class_name.is_empty() {
            chain.push(class_link(&class_name, state));
        }
        return chain;
    }
    let Some(pv) = state.pv(&row.volume) else {
        chain.push(Link {
            kind: LinkKind::PersistentVolume,
            name: row.volume.clone(),
            detail: "not visible".into(),
            lifetime: None,
            missing: true,
        });
        return chain;
    };
    let pv_row = printers::pv_row(pv, jiff::Timestamp::UNIX_EPOCH);
    chain.push(Link {
        kind: LinkKind::PersistentVolume,
        name: pv_row.name.clone(),
        detail: format!(
            "{}, {}, {}",
            pv_row.status, pv_row.capacity, pv_row.reclaim_policy
        ),
        lifetime: Some(Lifetime::Reclaim(pv_row.reclaim_policy.clone())),
        missing: false,
    });
    if !pv_row.storage_class.is_empty() {
        chain.push(class_link(&pv_row.storage_class, state));
    }
    chain.push(pv_storage(pv, &pv_row.reclaim_policy));
    chain
}

fn class_link(name: &str, state: &ClusterState) -> Link {
    match state.storage_class(name) {
        Some(sc) => Link {
            kind: LinkKind::StorageClass,
            name: name.into(),
            detail: format!(
                "{}, {}",
                sc.provisioner,
                sc.volume_binding_mode.as_deref().unwrap_or("Immediate")
            ),
            lifetime: None,
            missing: false,
        },
        None => Link {
            kind: LinkKind::StorageClass,
            name: name.into(),
            detail: "no such StorageClass".into(),
            lifetime: None,
            missing: true,
        },
    }
}

/// Where a PV keeps its bytes.
fn pv_storage(pv: &PersistentVolume, policy: &str) -> Link {
    let lifetime = Lifetime::Reclaim(policy.to_string());
    let spec = pv.spec.as_ref();
    let node = spec
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .and_then(|r| r.node_selector_terms.first())
        .and_then(|t| t.match_expressions.as_ref())
        .and_then(|es| es.iter().find(|e| e.key == "kubernetes.io/hostname"))
        .and_then(|e| e.values.as_ref())
        .and_then(|v| v.first().cloned());
    let provisioned = pv
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("pv.kubernetes.io/provisioned-by"))
        .cloned();
    let on = node.map(|n| format!("{n}:")).unwrap_or_default();
    let (name, detail) = if let Some(h) = spec.and_then(|s| s.host_path.as_ref()) {
        match &provisioned {
            Some(p) => (
                "provisioned directory",
                format!("{on}{} (made by {p})", h.path),
            ),
            None => ("host directory", format!("{on}{}", h.path)),
        }
    } else if let Some(l) = spec.and_then(|s| s.local.as_ref()) {
        ("local disk", format!("{on}{}", l.path))
    } else if let Some(c) = spec.and_then(|s| s.csi.as_ref()) {
        (
            "CSI volume",
            format!("{} volume {}", c.driver, c.volume_handle),
        )
    } else if let Some(n) = spec.and_then(|s| s.nfs.as_ref()) {
        ("NFS share", format!("{}:{}", n.server, n.path))
    } else {
        ("volume", "backend not shown".to_string())
    };
    Link {
        kind: LinkKind::Storage,
        name: name.into(),
        detail,
        lifetime: Some(lifetime),
        missing: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::state::tests::apply;

    const POD: &str = "
apiVersion: v1
kind: Pod
metadata: {name: msg-api-1, namespace: kubetutor, uid: u-1}
spec:
  nodeName: node-1
  containers:
    - name: api
      image: python
      volumeMounts:
        - {name: cache, mountPath: /cache}
        - {name: data, mountPath: /data}
        - {name: code, mountPath: /opt/msg-api, readOnly: true}
        - {name: host, mountPath: /host}
        - {name: kube-api-access-x, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}
    - name: sidecar
      image: busybox
      volumeMounts: [{name: cache, mountPath: /shared}]
  volumes:
    - {name: cache, emptyDir: {}}
    - {name: data, persistentVolumeClaim: {claimName: msg-data}}
    - {name: code, configMap: {name: msg-api-script}}
    - {name: host, hostPath: {path: /srv/data}}
    - {name: kube-api-access-x, projected: {sources: []}}
";

    const PVC: &str = "
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: msg-data, namespace: kubetutor, uid: c-1}
spec: {accessModes: [ReadWriteOnce], storageClassName: standard, volumeName: pvc-c-1}
status: {phase: Bound, capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce]}
";

    const PV: &str = "
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pvc-c-1
  annotations: {pv.kubernetes.io/provisioned-by: rancher.io/local-path}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Delete
  storageClassName: standard
  hostPath: {path: /var/local-path-provisioner/pvc-c-1_kubetutor_msg-data}
  claimRef: {namespace: kubetutor, name: msg-data}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [node-1]}]
status: {phase: Bound}
";

    const SC: &str = "
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: standard}
provisioner: rancher.io/local-path
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
";

    fn lineage(state: &ClusterState) -> PodLineage {
        pod_lineage(state.pod("kubetutor", "msg-api-1").unwrap(), state)
    }

    #[test]
    fn full_chain_from_container_to_bytes() {
        let mut s = ClusterState::new("kubetutor");
        for y in [POD, PVC, PV, SC] {
            apply(&mut s, y);
        }
        let l = lineage(&s);
        assert_eq!(l.node.as_deref(), Some("node-1"));
        let api = &l.containers[0];
        assert_eq!(api.layer.lifetime, Some(Lifetime::Container));
        assert_eq!(api.mounts.len(), 4, "the token volume is left out");
        let cache = &api.mounts[0];
        assert_eq!(cache.mount_path, "/cache");
        assert_eq!(cache.chain[0].lifetime, Some(Lifetime::Pod));
        assert_eq!(
            cache.chain[1].detail,
            "node-1:/var/lib/kubelet/pods/u-1/volumes/kubernetes.io~empty-dir/cache"
        );
        // The sidecar shares the same emptyDir.
        assert_eq!(l.containers[1].mounts[0].chain, cache.chain);
        let data = &api.mounts[1];
        let kinds: Vec<LinkKind> = data.chain.iter().map(|l| l.kind).collect();
        assert_eq!(
            kinds,
            vec![
                LinkKind::Volume,
                LinkKind::Claim,
                LinkKind::PersistentVolume,
                LinkKind::StorageClass,
                LinkKind::Storage
            ]
        );
        assert_eq!(data.chain[1].detail, "Bound, 1Gi, RWO");
        assert_eq!(
            data.chain[2].lifetime.as_ref().unwrap().label(),
            "deleted with the claim (Delete)"
        );
        assert_eq!(
            data.chain[3].detail,
            "rancher.io/local-path, WaitForFirstConsumer"
        );
        assert_eq!(data.chain[4].name, "provisioned directory");
        assert!(
            data.chain[4]
                .detail
                .starts_with("node-1:/var/local-path-provisioner/pvc-c-1")
        );
        assert!(api.mounts[2].read_only);
        assert_eq!(api.mounts[2].chain[1].lifetime, Some(Lifetime::Object));
        assert_eq!(api.mounts[3].chain[1].detail, "node-1:/srv/data");
        assert!(data.chain.iter().all(|l| !l.missing));
    }

    #[test]
    fn pending_and_missing_claims() {
        let mut s = ClusterState::new("kubetutor");
        apply(&mut s, POD);
        let data = &lineage(&s).containers[0].mounts[1];
        assert!(data.chain[1].missing);
        assert_eq!(data.chain[1].detail, "no such PersistentVolumeClaim");
        apply(
            &mut s,
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: msg-data, namespace: kubetutor, uid: c-1}\nspec: {storageClassName: standard}\nstatus: {phase: Pending}\n",
        );
        apply(
            &mut s,
            "apiVersion: v1\nkind: Event\nmetadata: {name: e1, namespace: kubetutor}\ninvolvedObject: {kind: PersistentVolumeClaim, name: msg-data, namespace: kubetutor, uid: c-1}\nreason: WaitForFirstConsumer\nmessage: waiting for first consumer to be created before binding\ntype: Normal\n",
        );
        let data = &lineage(&s).containers[0].mounts[1];
        assert!(data.chain[1].missing);
        assert_eq!(
            data.chain[1].detail,
            "Pending: waiting for first consumer to be created before binding"
        );
        assert_eq!(data.chain[2].kind, LinkKind::StorageClass);
        assert!(data.chain[2].missing, "the class is not there");
        // Retained volumes say so.
        apply(&mut s, PVC);
        apply(&mut s, &PV.replace("Delete", "Retain"));
        let data = &lineage(&s).containers[0].mounts[1];
        assert_eq!(
            data.chain[2].lifetime.as_ref().unwrap().label(),
            "kept after the claim is deleted (Retain)"
        );
    }
}

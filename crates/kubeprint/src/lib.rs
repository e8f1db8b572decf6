//! kubectl's printing rules, written once for the two places that show
//! Kubernetes objects: the tutor's cluster pane and the sandbox's
//! server-side tables. Each follows kubernetes
//! `pkg/printers/internalversion/printers.go` and apimachinery's
//! `resource.Quantity`, so what either shows matches `kubectl get`.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod duration;
mod pod;
mod quantity;

pub use duration::{age, human_duration};
pub use pod::{PodStatus, is_unhealthy_status, pod_is_ready, pod_status};
pub use quantity::{Quantity, QuantityError};

/// `RWO,ROX,RWX,RWOP`: access modes abbreviated in upstream's order.
pub fn access_modes<S: AsRef<str>>(modes: &[S]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for (long, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if modes.iter().any(|m| m.as_ref() == long) {
            out.push(short);
        }
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn access_modes_in_upstream_order() {
        assert_eq!(
            super::access_modes(&["ReadWriteMany", "ReadWriteOnce"]),
            "RWO,RWX"
        );
        assert_eq!(super::access_modes::<&str>(&[]), "");
    }
}

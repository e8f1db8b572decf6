//! The serviceaccounts controller, as upstream's: every namespace that is
//! not being deleted has a `default` ServiceAccount (made again if it is
//! deleted).

use std::sync::Arc;

use serde_json::json;

use crate::machinery::meta::{is_terminating, name_of};
use crate::machinery::resources;
use crate::runtime::Runtime;

/// The account every namespace gets.
pub(crate) const DEFAULT_ACCOUNT: &str = "default";

pub fn reconcile(rt: &Arc<Runtime>) {
    let (namespaces, _) = rt.store.list(&resources::NAMESPACES, None);
    for ns in namespaces.iter().filter(|n| !is_terminating(n)) {
        let ns = name_of(ns);
        if rt
            .store
            .contains(&resources::SERVICE_ACCOUNTS, ns, DEFAULT_ACCOUNT)
        {
            continue;
        }
        rt.create(
            &resources::SERVICE_ACCOUNTS,
            json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": DEFAULT_ACCOUNT, "namespace": ns},
            }),
        );
    }
}

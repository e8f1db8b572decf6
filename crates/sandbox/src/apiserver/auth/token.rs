//! ServiceAccount tokens: made by a TokenRequest
//! (`POST .../serviceaccounts/NAME/token`, what `kubectl create token`
//! sends) and checked on every request that carries one.
//!
//! A token is a JWT with upstream's claims (`iss`, `sub`
//! `system:serviceaccount:NS:NAME`, `aud`, `exp`, `iat`, `nbf`, `jti`,
//! `kubernetes.io.serviceaccount`). Upstream signs with an RSA key; the
//! sandbox signs with HMAC-SHA256 (`HS256`) under a key derived from its
//! own admin token, so no key file is needed and a token is only good for
//! the sandbox that made it. As upstream, a token stops working when it
//! expires or when its ServiceAccount is deleted (its uid is checked).

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{AUTHENTICATED, User};
use crate::apiserver::handlers::Target;
use crate::machinery::resources;
use crate::machinery::status::{ApiError, Cause};
use crate::storage::store::Store;

/// The issuer (and default audience) of the sandbox's tokens, as kind's.
pub(crate) const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Upstream's default and minimum token lifetimes.
const DEFAULT_SECONDS: i64 = 3600;
const MIN_SECONDS: i64 = 600;
/// Upstream's largest lifetime (2^32 seconds).
const MAX_SECONDS: i64 = 1 << 32;
/// Tokens longer than this are not even parsed.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The signing key: never the admin token itself.
fn key(admin_token: &str) -> Vec<u8> {
    Sha256::new()
        .chain_update(b"kubetutor service account tokens\0")
        .chain_update(admin_token.as_bytes())
        .finalize()
        .to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs the claims into a JWT.
pub(crate) fn sign(admin_token: &str, claims: &Value) -> String {
    let header = json!({"alg": "HS256", "kid": "kubetutor-sandbox", "typ": "JWT"});
    let body = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = hmac(&key(admin_token), body.as_bytes());
    format!("{body}.{}", b64(&sig))
}

/// Why a token is refused (the API answers 401 whatever the reason).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Invalid {
    Malformed,
    Signature,
    Expired,
    /// The ServiceAccount is gone, or was recreated (another uid).
    AccountGone,
}

/// The claims of a token this sandbox signed, if its signature holds.
fn claims(admin_token: &str, token: &str) -> Result<Value, Invalid> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Invalid::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Invalid::Malformed);
    };
    let dec = |p: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p);
    let sig = dec(s).map_err(|_| Invalid::Malformed)?;
    let want = hmac(&key(admin_token), format!("{h}.{c}").as_bytes());
    let same =
        sig.len() == want.len() && sig.iter().zip(want).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0;
    if !same {
        return Err(Invalid::Signature);
    }
    let header: Value = serde_json::from_slice(&dec(h).map_err(|_| Invalid::Malformed)?)
        .map_err(|_| Invalid::Malformed)?;
    if header["alg"] != "HS256" {
        return Err(Invalid::Malformed);
    }
    serde_json::from_slice(&dec(c).map_err(|_| Invalid::Malformed)?).map_err(|_| Invalid::Malformed)
}

/// The user a ServiceAccount token stands for, as upstream's
/// `serviceaccount.UserInfo`: the name, the ServiceAccount's uid, the
/// groups `system:serviceaccounts`, `system:serviceaccounts:NS` and
/// `system:authenticated`, and the token's id as its credential id.
pub(crate) fn verify(store: &Store, admin_token: &str, token: &str) -> Result<User, Invalid> {
    let c = claims(admin_token, token)?;
    let now = jiff::Timestamp::now().as_second();
    let exp = c["exp"].as_i64().ok_or(Invalid::Malformed)?;
    if now >= exp || c["nbf"].as_i64().is_some_and(|nbf| now < nbf) {
        return Err(Invalid::Expired);
    }
    if c["iss"] != ISSUER {
        return Err(Invalid::Malformed);
    }
    let k8s = &c["kubernetes.io"];
    let ns = k8s["namespace"].as_str().ok_or(Invalid::Malformed)?;
    let name = k8s["serviceaccount"]["name"]
        .as_str()
        .ok_or(Invalid::Malformed)?;
    let uid = k8s["serviceaccount"]["uid"].as_str().unwrap_or("");
    let sa = store
        .get(&resources::SERVICE_ACCOUNTS, ns, name)
        .ok_or(Invalid::AccountGone)?;
    if sa["metadata"]["uid"].as_str().unwrap_or("") != uid {
        return Err(Invalid::AccountGone);
    }
    let mut extra = HashMap::new();
    if let Some(jti) = c["jti"].as_str() {
        extra.insert(
            "authentication.kubernetes.io/credential-id".to_string(),
            vec![format!("JTI={jti}")],
        );
    }
    Ok(User {
        name: service_account_user(ns, name),
        uid: uid.to_string(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            AUTHENTICATED.into(),
        ],
        extra,
    })
}

/// `system:serviceaccount:NS:NAME`.
pub(crate) fn service_account_user(ns: &str, name: &str) -> String {
    format!("system:serviceaccount:{ns}:{name}")
}

/// The audiences a token is for, as `TokenReview` reports them.
pub(crate) fn audiences(admin_token: &str, token: &str) -> Vec<String> {
    claims(admin_token, token)
        .ok()
        .and_then(|c| serde_json::from_value(c["aud"].clone()).ok())
        .unwrap_or_default()
}

/// Answers `POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`.
pub(crate) fn request(
    store: &Store,
    admin_token: &str,
    t: &Target,
    doc: &Value,
) -> Result<Value, ApiError> {
    let ns = t.ns.as_deref().unwrap_or("");
    let name = t.name.as_deref().unwrap_or("");
    let sa = store
        .get(&resources::SERVICE_ACCOUNTS, ns, name)
        .ok_or_else(|| ApiError::not_found(&resources::SERVICE_ACCOUNTS, name))?;
    let spec = &doc["spec"];
    let seconds = spec["expirationSeconds"]
        .as_i64()
        .unwrap_or(DEFAULT_SECONDS);
    if seconds < MIN_SECONDS {
        return Err(invalid(
            name,
            Cause::invalid(
                "spec.expirationSeconds",
                &json!(seconds),
                "may not specify a duration less than 10 minutes",
            ),
        ));
    }
    if seconds > MAX_SECONDS {
        return Err(invalid(
            name,
            Cause::invalid(
                "spec.expirationSeconds",
                &json!(seconds),
                "may not specify a duration larger than 2^32 seconds",
            ),
        ));
    }
    let audiences: Vec<String> = match spec["audiences"].as_array() {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![ISSUER.to_string()],
    };
    let now = jiff::Timestamp::now();
    let exp = now.as_second().saturating_add(seconds);
    let uid = sa["metadata"]["uid"].as_str().unwrap_or("");
    let claims = json!({
        "aud": audiences,
        "exp": exp,
        "iat": now.as_second(),
        "iss": ISSUER,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": name, "uid": uid}},
        "nbf": now.as_second(),
        "sub": service_account_user(ns, name),
    });
    let expires = jiff::Timestamp::from_second(exp)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns,
                     "creationTimestamp": crate::machinery::meta::now_rfc3339()},
        "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": null},
        "status": {"token": sign(admin_token, &claims), "expirationTimestamp": expires},
    }))
}

fn invalid(name: &str, cause: Cause) -> ApiError {
    static TOKEN_REQUESTS: resources::ResourceDef = resources::ResourceDef {
        group: "authentication.k8s.io",
        version: "v1",
        plural: "tokenrequests",
        singular: "tokenrequest",
        kind: "TokenRequest",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: &["create"],
        subresources: &[],
    };
    ApiError::invalid(&TOKEN_REQUESTS, name, vec![cause])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn tokens_are_checked() {
        let c = json!({"iss": ISSUER, "exp": 1});
        let t = sign("admin", &c);
        assert_eq!(claims("admin", &t).ok(), Some(c));
        assert_eq!(claims("other", &t), Err(Invalid::Signature));
        assert_eq!(claims("admin", "a.b"), Err(Invalid::Malformed));
        let tampered = format!("{}x", t);
        assert!(claims("admin", &tampered).is_err());
    }
}

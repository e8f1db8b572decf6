//! Names the cluster makes up: `generateName` suffixes and pod-template
//! hashes, in upstream's alphabet (`rand.SafeEncodeString`: no vowels, no
//! digits that look like letters, so no words and no ambiguity).

use rand::Rng as _;

/// The characters upstream uses in generated names.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A random suffix of `n` characters, as `generateName` appends.
pub(crate) fn random_suffix(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A name from `generateName`: the prefix cut to 58 characters, then five
/// random characters (upstream's `SimpleNameGenerator`).
pub(crate) fn generate(prefix: &str) -> String {
    let base: String = prefix.chars().take(58).collect();
    format!("{base}{}", random_suffix(5))
}

/// Upstream's hash encoding (`rand.SafeEncodeString` of the decimal FNV-32a
/// of the template), so names look like `msg-api-7d9f8b6c5d`.
pub(crate) fn template_hash(template: &serde_json::Value) -> String {
    let text = serde_json::to_string(template).unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_is_stable_and_safe() {
        let t = json!({"spec": {"containers": [{"name": "a"}]}});
        let h = template_hash(&t);
        assert_eq!(h, template_hash(&t));
        assert!(h.len() >= 8 && h.len() <= 10, "{h}");
        assert!(h.bytes().all(|b| ALPHABET.contains(&b)));
    }

    #[test]
    fn generated_names() {
        let n = generate(&"x".repeat(70));
        assert_eq!(n.len(), 63);
        assert!(n.starts_with(&"x".repeat(58)));
    }
}

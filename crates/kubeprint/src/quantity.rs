//! Kubernetes quantities (`1Gi`, `500Mi`, `250m`, `1.5G`, `2e3`), parsed as
//! apimachinery's `resource.ParseQuantity` does.

use std::fmt;

/// A parsed quantity: its text as written and its value in base units
/// (bytes, cores...). Values up to 2^53 are exact, which covers every size
/// a volume or a memory limit can have here.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    text: String,
    value: f64,
}

/// Why a quantity did not parse, in upstream's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityError {
    /// The text is not a number followed by a suffix.
    Format,
    /// The suffix is not one Kubernetes knows.
    Suffix,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantityError::Format => f.write_str(
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ),
            QuantityError::Suffix => f.write_str("unable to parse quantity's suffix"),
        }
    }
}

impl std::error::Error for QuantityError {}

impl Quantity {
    /// Parses `text` (surrounding spaces are not allowed, as upstream).
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let bytes = text.as_bytes();
        let mut i = 0;
        if matches!(bytes.first(), Some(b'+' | b'-')) {
            i = 1;
        }
        let digits_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number = &text[..i];
        if i == digits_start || number[digits_start..].chars().filter(|c| *c == '.').count() > 1 {
            return Err(QuantityError::Format);
        }
        let suffix = &text[i..];
        let mult = match suffix {
            "" => 1.0,
            "Ki" => 1024.0,
            "Mi" => 1024f64.powi(2),
            "Gi" => 1024f64.powi(3),
            "Ti" => 1024f64.powi(4),
            "Pi" => 1024f64.powi(5),
            "Ei" => 1024f64.powi(6),
            "n" => 1e-9,
            "u" => 1e-6,
            "m" => 1e-3,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            s if s.starts_with(['e', 'E']) => {
                let exp: i32 = s[1..].parse().map_err(|_| QuantityError::Suffix)?;
                10f64.powi(exp)
            }
            s if s.bytes().all(|b| b"eEinumkKMGTP+-0123456789".contains(&b)) => {
                return Err(QuantityError::Suffix);
            }
            _ => return Err(QuantityError::Format),
        };
        let n: f64 = number.parse().map_err(|_| QuantityError::Format)?;
        let value = n * mult;
        if !value.is_finite() {
            return Err(QuantityError::Format);
        }
        Ok(Quantity {
            text: text.to_string(),
            value,
        })
    }

    /// The text as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The value in base units.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The value rounded up to a whole number of units (bytes), as
    /// `Quantity.Value()` does; `None` when negative or too large.
    pub fn ceil_u64(&self) -> Option<u64> {
        let v = self.value.ceil();
        (0.0..1.8e19).contains(&v).then_some(v as u64)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::{Quantity, QuantityError};

    fn v(s: &str) -> f64 {
        Quantity::parse(s).unwrap().value()
    }

    #[test]
    fn suffixes() {
        assert_eq!(v("1Gi"), 1073741824.0);
        assert_eq!(v("500Mi"), 524288000.0);
        assert_eq!(v("2G"), 2e9);
        assert_eq!(v("10"), 10.0);
        assert_eq!(v("250m"), 0.25);
        assert_eq!(v("1.5Gi"), 1.5 * 1073741824.0);
        assert_eq!(v("2e3"), 2000.0);
        assert_eq!(v("+1k"), 1000.0);
        assert_eq!(v("-1k"), -1000.0);
        assert_eq!(Quantity::parse("1Gi").unwrap().ceil_u64(), Some(1 << 30));
        assert_eq!(Quantity::parse("1m").unwrap().ceil_u64(), Some(1));
        assert_eq!(Quantity::parse("-1").unwrap().ceil_u64(), None);
    }

    #[test]
    fn errors_in_upstream_words() {
        assert_eq!(Quantity::parse("x"), Err(QuantityError::Format));
        assert_eq!(Quantity::parse(""), Err(QuantityError::Format));
        assert_eq!(Quantity::parse("1 Gi"), Err(QuantityError::Format));
        assert_eq!(Quantity::parse("1.2.3"), Err(QuantityError::Format));
        assert_eq!(Quantity::parse("1Gb"), Err(QuantityError::Format));
        assert_eq!(Quantity::parse("1kk"), Err(QuantityError::Suffix));
        assert!(
            QuantityError::Format
                .to_string()
                .starts_with("quantities must match")
        );
    }
}

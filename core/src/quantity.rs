//! Resource quantities (`500m`, `1.5`, `128Mi`, `1G`, `1e3`), as the scheduler
//! and the kubelet need them: CPU in millicores, everything else in units.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
pub struct QuantityError;

/// The quantity's value in thousandths (millicores for CPU), rounded up as
/// Kubernetes' `MilliValue` does.
pub fn parse_milli(text: &str) -> Result<i64, QuantityError> {
    parse(text).map(|v| (v * 1000.0).ceil() as i64)
}

/// The quantity's value in whole units (bytes for memory), rounded up.
pub fn parse_units(text: &str) -> Result<i64, QuantityError> {
    parse(text).map(|v| v.ceil() as i64)
}

/// A quantity of `resource` in the unit Kubernetes counts it in:
/// millicores for `cpu`, whole units (bytes, pods, devices) otherwise.
pub fn parse_resource(resource: &str, text: &str) -> Result<i64, QuantityError> {
    if resource == "cpu" { parse_milli(text) } else { parse_units(text) }
}

fn parse(text: &str) -> Result<f64, QuantityError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() || number.matches('.').count() > 1 || number[1..].contains(['+', '-']) {
        return Err(QuantityError);
    }
    let number: f64 = number.parse().map_err(|_| QuantityError)?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => {
            let exponent: i32 = exp[1..].parse().map_err(|_| QuantityError)?;
            10f64.powi(exponent)
        }
        _ => return Err(QuantityError),
    };
    let value = number * multiplier;
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(QuantityError)
    }
}

/// Formats bytes the way a Node's capacity usually reads (`16331648Ki`).
pub fn format_kibibytes(bytes: u64) -> String {
    format!("{}Ki", bytes / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_in_millicores() {
        for (text, want) in [("1", 1000), ("500m", 500), ("0.5", 500), ("1.25", 1250), ("100u", 1), ("2k", 2_000_000), ("1e-3", 1)] {
            assert_eq!(parse_milli(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn memory_in_bytes() {
        for (text, want) in [("128Mi", 134_217_728), ("1Gi", 1_073_741_824), ("1G", 1_000_000_000), ("64", 64), ("1.5Ki", 1536), ("1e3", 1000)] {
            assert_eq!(parse_units(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn malformed_quantities_are_errors() {
        for text in ["", "Mi", "1..2", "1Qi", "-1", "1-2", "abc", "1 Gi", "1e"] {
            assert_eq!(parse_units(text), Err(QuantityError), "{text:?}");
        }
    }
}

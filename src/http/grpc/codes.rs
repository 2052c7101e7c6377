//! gRPC status codes: names, label values, the default server-error
//! rule, and reading `grpc-status`, HTTP statuses and `grpc-timeout`.

/// The names of the gRPC status codes, by code.
pub const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The code label values, by code.
pub(crate) const CODE_LABELS: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// UNKNOWN: what a missing or unreadable status is.
pub(crate) const UNKNOWN: u8 = 2;
/// CANCELLED.
pub(crate) const CANCELLED: u8 = 1;
/// UNIMPLEMENTED: the method does not exist.
pub(crate) const UNIMPLEMENTED: u8 = 12;

/// DEADLINE_EXCEEDED.
pub(crate) const DEADLINE_EXCEEDED: u8 = 4;

/// The code of a `grpc-status` value; UNKNOWN if it is not one.
pub(crate) fn parse_code(value: &http::HeaderValue) -> u8 {
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u8>().ok())
        .filter(|&c| usize::from(c) < CODE_NAMES.len())
        .unwrap_or(UNKNOWN)
}

/// The gRPC code of an HTTP status other than 200, as the gRPC
/// specification maps them ("HTTP to gRPC Status Code Mapping").
pub(crate) fn code_of_http(status: http::StatusCode) -> u8 {
    match status.as_u16() {
        400 => 13,                   // INTERNAL
        401 => 16,                   // UNAUTHENTICATED
        403 => 7,                    // PERMISSION_DENIED
        404 => 12,                   // UNIMPLEMENTED
        429 | 502 | 503 | 504 => 14, // UNAVAILABLE
        _ => UNKNOWN,
    }
}

/// The default rule for which codes are server errors: UNKNOWN (2),
/// DEADLINE_EXCEEDED (4), UNIMPLEMENTED (12), INTERNAL (13), UNAVAILABLE
/// (14) and DATA_LOSS (15). The others are successes or the caller's
/// mistakes (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, …).
pub fn default_server_error(code: u8) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// A `grpc-timeout` value: up to 8 digits and a unit (`H`, `M`, `S`, `m`,
/// `u`, `n`).
pub(crate) fn parse_timeout(value: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

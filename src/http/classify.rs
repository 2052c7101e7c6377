//! Which responses are server errors, and of what type.

use std::borrow::Cow;

/// The `error_type` label of a failed request.
pub type ErrorType = Cow<'static, str>;

/// Decides the `error_type` of a request (`None`: not an error). Replace
/// the [`DefaultClassifier`] with
/// [`HttpMetricsLayer::classifier`](crate::HttpMetricsLayer::classifier).
///
/// ```
/// use tailwatch::{http::Classify, http::ErrorType};
/// /// Also count 429 as an error (an overloaded upstream, say).
/// struct With429;
/// impl Classify for With429 {
///     fn status(&self, status: http::StatusCode) -> Option<ErrorType> {
///         if status.as_u16() == 429 { Some("429".into()) }
///         else { tailwatch::http::DefaultClassifier.status(status) }
///     }
/// }
/// ```
pub trait Classify: Send + Sync + 'static {
    /// The error type of a response with this status. Called once per
    /// response, on the hot path: return a `&'static str` (`Cow::Borrowed`)
    /// to stay allocation-free.
    fn status(&self, status: http::StatusCode) -> Option<ErrorType>;

    /// The error type when the inner service returned an error instead of
    /// a response; `error` is the service's error value.
    fn service_error(&self, error: &(dyn std::any::Any + 'static)) -> ErrorType {
        let elapsed = error
            .downcast_ref::<tower::BoxError>()
            .is_some_and(|e| e.is::<tower::timeout::error::Elapsed>())
            || error.is::<tower::timeout::error::Elapsed>();
        Cow::Borrowed(if elapsed { "timeout" } else { "_OTHER" })
    }
}

/// 5xx → the status code, 408 → `"timeout"`, everything else is not an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassifier;

impl Classify for DefaultClassifier {
    fn status(&self, status: http::StatusCode) -> Option<ErrorType> {
        match status.as_u16() {
            408 => Some(Cow::Borrowed("timeout")),
            code @ 500..=599 => Some(Cow::Borrowed(status_str(code))),
            _ => None,
        }
    }
}

/// The status code as a static string (no formatting per request).
pub(crate) fn status_str(code: u16) -> &'static str {
    match code {
        100..=599 => {
            let i = usize::from(code - 100) * 3;
            STATUS_TEXT.get(i..i + 3).unwrap_or("_OTHER")
        }
        _ => "_OTHER",
    }
}

/// "100101102…599": every code 100–599 as three digits.
static STATUS_TEXT: &str = include_str!("status_codes.txt");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_strings() {
        assert_eq!(status_str(100), "100");
        assert_eq!(status_str(200), "200");
        assert_eq!(status_str(503), "503");
        assert_eq!(status_str(599), "599");
        assert_eq!(status_str(99), "_OTHER");
        assert_eq!(status_str(600), "_OTHER");
    }
}

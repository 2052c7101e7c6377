//! `ReqwestMetrics` in a reqwest-middleware client against a local axum
//! server: 200, 404, 503, connection refused, reqwest's timeout and a
//! dropped call get the labels the tower client layer gives them.

use crate::common;

use std::time::Duration;

use tailwatch::{HttpClientMetricsLayer, Monitor, http::client::ReqwestMetrics};

fn count(m: &Monitor, want: &[(&str, &str)]) -> u64 {
    common::count_exactly(m, "http_client_request_duration_seconds", want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_calls_get_the_client_layers_labels() {
    let addr = common::outbound_target().await;
    let m = Monitor::new();
    let layer = HttpClientMetricsLayer::new(&m)
        .url_template(|_, uri| (uri.path() != "/").then_some("/{page}"));
    let client = reqwest_middleware::ClientBuilder::new(
        reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .with(ReqwestMetrics::from_layer(&layer))
    .build();
    let port = addr.port().to_string();
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut l = vec![
            ("http_request_method", "GET"),
            ("server_address", "127.0.0.1"),
            ("server_port", port.as_str()),
            ("url_template", "/{page}"),
        ];
        l.extend_from_slice(extra);
        l
    };

    for (path, status) in [("/ok", 200), ("/missing", 404), ("/unavailable", 503)] {
        let res = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status);
    }
    assert_eq!(count(&m, &with(&[("http_response_status_code", "200")])), 1);
    assert_eq!(
        count(
            &m,
            &with(&[("http_response_status_code", "404"), ("error_type", "404")])
        ),
        1
    );
    assert_eq!(
        count(
            &m,
            &with(&[("http_response_status_code", "503"), ("error_type", "503")])
        ),
        1
    );
    // reqwest's own timeout.
    let err = client
        .get(format!("http://{addr}/slow"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(count(&m, &with(&[("error_type", "timeout")])), 1);
    // The caller drops the call.
    let call = client.get(format!("http://{addr}/slow")).send();
    assert!(
        tokio::time::timeout(Duration::from_millis(50), call)
            .await
            .is_err()
    );
    assert_eq!(count(&m, &with(&[("error_type", "cancelled")])), 1);
    // Nobody listening.
    let closed = common::closed_port();
    client
        .get(format!("http://{closed}/"))
        .send()
        .await
        .unwrap_err();
    let closed_port = closed.port().to_string();
    assert_eq!(
        count(
            &m,
            &[
                ("http_request_method", "GET"),
                ("server_address", "127.0.0.1"),
                ("server_port", &closed_port),
                ("error_type", "connection_refused"),
            ]
        ),
        1
    );
    assert_eq!(common::gauge_total(&m, "http_client_active_requests"), 0);
}

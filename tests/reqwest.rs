//! `ReqwestMetrics` in a reqwest-middleware client against a local axum
//! server: 200, 404, 503, connection refused, reqwest's timeout and a
//! dropped call get the labels the tower client layer gives them.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tailwatch::{HttpClientMetricsLayer, Monitor, ReqwestMetrics};

/// The count of `http_client_request_duration_seconds` with exactly `want`.
fn count(m: &Monitor, want: &[(&str, &str)]) -> u64 {
    let mut want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    want.sort();
    m.registry()
        .series()
        .into_iter()
        .filter(|(id, _)| id.name() == "http_client_request_duration_seconds")
        .find(|(id, _)| {
            let mut l: Vec<(String, String)> = id
                .labels()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            l.sort();
            l == want
        })
        .map_or(0, |(_, h)| h.stats().total_count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_calls_get_the_client_layers_labels() {
    let app = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route(
            "/unavailable",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

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
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
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
    let active: i64 = m
        .registry()
        .gauges()
        .into_iter()
        .filter(|(id, _)| id.name() == "http_client_active_requests")
        .map(|(_, g)| g.value())
        .sum();
    assert_eq!(active, 0);
}

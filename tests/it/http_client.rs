//! The outbound HTTP client layer around hyper-util's client, against a
//! local axum server on loopback: 200, 404, 503, connection refused, a
//! timeout and a dropped call get their labels; in-flight goes back to 0;
//! 10,000 host names keep bounded series.

use crate::common;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tailwatch::{HttpClientMetricsLayer, Monitor};
use tower::{Service, ServiceBuilder, ServiceExt};

const DURATION: &str = "http_client_request_duration_seconds";

fn calls(m: &Monitor) -> Vec<(Vec<(String, String)>, u64)> {
    common::histogram_counts(m, DURATION)
}

fn count(m: &Monitor, want: &[(&str, &str)]) -> u64 {
    common::count_exactly(m, DURATION, want)
}

fn get_req(url: String) -> http::Request<Full<Bytes>> {
    http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_connection_errors_timeouts_and_drops_get_their_labels() {
    let addr = common::outbound_target().await;
    let port = addr.port().to_string();
    let m = Monitor::new();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut svc = ServiceBuilder::new()
        .layer(
            HttpClientMetricsLayer::new(&m).url_template(|_, uri| match uri.path() {
                "/ok" | "/missing" | "/unavailable" | "/slow" => Some("/{page}"),
                _ => None,
            }),
        )
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(
            300,
        )))
        .service(client.clone());
    let base = |path: &str| format!("http://{addr}{path}");
    let server_labels = [
        ("http_request_method", "GET"),
        ("server_address", "127.0.0.1"),
        ("server_port", port.as_str()),
        ("url_template", "/{page}"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut l = server_labels.to_vec();
        l.extend_from_slice(extra);
        l
    };

    for (path, status) in [("/ok", 200), ("/missing", 404), ("/unavailable", 503)] {
        let res = svc
            .ready()
            .await
            .unwrap()
            .call(get_req(base(path)))
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status);
    }
    assert_eq!(
        count(&m, &with(&[("http_response_status_code", "200")])),
        1,
        "{:#?}",
        calls(&m)
    );
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

    // A timeout (tower's, inside the layer): no response, error_type timeout.
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(get_req(base("/slow")))
        .await
        .unwrap_err();
    assert!(err.is::<tower::timeout::error::Elapsed>(), "{err}");
    assert_eq!(
        count(&m, &with(&[("error_type", "timeout")])),
        1,
        "{:#?}",
        calls(&m)
    );

    // The caller drops the call before the response: cancelled.
    let call = svc.ready().await.unwrap().call(get_req(base("/slow")));
    assert!(
        tokio::time::timeout(Duration::from_millis(50), call)
            .await
            .is_err()
    );
    assert_eq!(
        count(&m, &with(&[("error_type", "cancelled")])),
        1,
        "{:#?}",
        calls(&m)
    );

    // Nobody listening: connection refused.
    let closed = common::closed_port();
    let mut bare = ServiceBuilder::new()
        .layer(HttpClientMetricsLayer::new(&m))
        .service(client);
    let err = bare
        .ready()
        .await
        .unwrap()
        .call(get_req(format!("http://{closed}/ok")))
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
        1,
        "{err:?}: {:#?}",
        calls(&m)
    );

    // Everything ended: nothing in flight.
    assert_eq!(common::gauge_total(&m, "http_client_active_requests"), 0);
}

#[tokio::test]
async fn ten_thousand_host_names_keep_bounded_series() {
    let m = Monitor::new();
    let ok = tower::service_fn(|_: http::Request<String>| async {
        Ok::<_, std::io::Error>(http::Response::new(String::new()))
    });
    let mut svc = ServiceBuilder::new()
        .layer(HttpClientMetricsLayer::new(&m).max_hosts(50))
        .service(ok);
    for i in 0..10_000 {
        let req = http::Request::get(format!("https://tenant-{i}.example.com/x"))
            .body(String::new())
            .unwrap();
        svc.ready().await.unwrap().call(req).await.unwrap();
    }
    let all = calls(&m);
    assert_eq!(all.len(), 51, "50 hosts and the overflow");
    let total: u64 = all.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 10_000, "no call lost");
    let overflow = count(
        &m,
        &[
            ("http_request_method", "GET"),
            ("server_address", "__overflow__"),
            ("server_port", "0"),
            ("http_response_status_code", "200"),
        ],
    );
    assert_eq!(overflow, 9_950);
    // The named ones carry the scheme's default port.
    assert!(
        all.iter()
            .any(|(l, _)| l.contains(&("server_port".into(), "443".into())))
    );
    let gauges = m
        .registry()
        .gauges()
        .into_iter()
        .filter(|(id, _)| id.name() == "http_client_active_requests")
        .count();
    assert_eq!(gauges, 51);
}

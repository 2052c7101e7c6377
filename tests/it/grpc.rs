//! The gRPC server layer in a real tonic server, called by a real tonic
//! client on loopback: unary OK; an error before any message (status in
//! the headers, a trailers-only answer); an error in the trailers after
//! streamed messages; server and client streaming; a client that cancels
//! mid-stream; a deadline exceeded → the right `rpc_grpc_status_code` and
//! `error_type`, and nothing left in flight.

use crate::common;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::PathAndQuery;
use tailwatch::{GrpcMetricsLayer, Monitor};
use tokio_stream::StreamExt;
use tonic::body::Body;
use tonic::server::{Grpc, NamedService};
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

/// The one message of the test service.
#[derive(Clone, PartialEq, prost::Message)]
struct Msg {
    #[prost(string, tag = "1")]
    text: String,
    #[prost(uint32, tag = "2")]
    n: u32,
}

fn msg(text: &str, n: u32) -> Msg {
    Msg {
        text: text.into(),
        n,
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type MsgStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<Msg, Status>> + Send>>;

/// `tailwatch.test.Echo`, written as tonic's generated code is:
/// * `Unary`: echoes; `text == "missing"` → NOT_FOUND, `"broken"` →
///   INTERNAL, `"slow"` → answers after 2 s.
/// * `Count`: streams `n` messages 20 ms apart; `text == "fail"` → INTERNAL
///   after them (in the trailers).
/// * `Sum`: adds the `n` of every message the client streams.
#[derive(Clone)]
struct Echo;

impl NamedService for Echo {
    const NAME: &'static str = "tailwatch.test.Echo";
}

impl tower::Service<http::Request<Body>> for Echo {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let mut grpc = Grpc::new(ProstCodec::<Msg, Msg>::default());
        match req.uri().path() {
            "/tailwatch.test.Echo/Unary" => Box::pin(async move {
                let svc = tower::service_fn(|r: Request<Msg>| async move {
                    let m = r.into_inner();
                    match m.text.as_str() {
                        "missing" => Err(Status::not_found("no such thing")),
                        "broken" => Err(Status::internal("broke")),
                        "slow" => {
                            tokio::time::sleep(Duration::from_secs(2)).await;
                            Ok(Response::new(m))
                        }
                        _ => Ok(Response::new(m)),
                    }
                });
                Ok(grpc.unary(svc, req).await)
            }),
            "/tailwatch.test.Echo/Count" => Box::pin(async move {
                let svc = tower::service_fn(|r: Request<Msg>| async move {
                    let m = r.into_inner();
                    let fail = m.text == "fail";
                    let items = tokio_stream::iter(0..m.n)
                        .map(|i| Ok(msg("item", i)))
                        .chain(tokio_stream::iter(
                            fail.then(|| Err(Status::internal("failed after the messages"))),
                        ))
                        .throttle(Duration::from_millis(20));
                    Ok::<_, Status>(Response::new(Box::pin(items) as MsgStream))
                });
                Ok(grpc.server_streaming(svc, req).await)
            }),
            "/tailwatch.test.Echo/Sum" => Box::pin(async move {
                let svc = tower::service_fn(|r: Request<Streaming<Msg>>| async move {
                    let mut stream = r.into_inner();
                    let mut total = 0;
                    while let Some(m) = stream.next().await {
                        total += m?.n;
                    }
                    Ok::<_, Status>(Response::new(msg("sum", total)))
                });
                Ok(grpc.client_streaming(svc, req).await)
            }),
            _ => Box::pin(async move { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// One unary call of `Echo/Unary` over a bare HTTP/2 connection with the
/// header `grpc-timeout: timeout`; the `grpc-status` it got (in the head
/// or the trailers).
async fn unary_with_timeout(addr: SocketAddr, m: &Msg, timeout: &str) -> Option<String> {
    use http_body_util::BodyExt;
    use prost::Message;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let payload = m.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&payload);
    let request = http::Request::post(format!("http://{addr}/tailwatch.test.Echo/Unary"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .body(http_body_util::Full::new(bytes::Bytes::from(frame)))
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    let head = response.headers().get("grpc-status").cloned();
    let body = response.into_body().collect().await.unwrap();
    head.or_else(|| body.trailers()?.get("grpc-status").cloned())
        .map(|v| v.to_str().unwrap().to_owned())
}

/// A tonic client connected to `addr`.
async fn client(addr: SocketAddr) -> tonic::client::Grpc<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    tonic::client::Grpc::new(channel)
}

async fn serve(monitor: &Monitor) -> SocketAddr {
    serve_with(GrpcMetricsLayer::new(monitor)).await
}

async fn serve_with(layer: GrpcMetricsLayer) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = tonic::transport::Server::builder()
        .layer(layer)
        .add_service(Echo);
    tokio::spawn(
        router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    addr
}

/// (status labels, count) of the calls of `method`.
fn calls(m: &Monitor, method: &str) -> Calls {
    let mut out: Calls = common::histogram_counts(m, "rpc_server_duration_seconds")
        .into_iter()
        .filter(|(labels, _)| labels.contains(&("rpc_method".into(), method.into())))
        .map(|(labels, n)| {
            let status = labels
                .into_iter()
                .filter(|(k, _)| matches!(k.as_str(), "rpc_grpc_status_code" | "error_type"))
                .collect();
            (status, n)
        })
        .collect();
    out.sort();
    out
}

fn code(c: &str) -> Vec<(String, String)> {
    vec![("rpc_grpc_status_code".into(), c.into())]
}

fn code_error(c: &str, e: &str) -> Vec<(String, String)> {
    vec![
        ("error_type".into(), e.into()),
        ("rpc_grpc_status_code".into(), c.into()),
    ]
}

type Calls = Vec<(Vec<(String, String)>, u64)>;

fn sorted(mut v: Calls) -> Calls {
    v.sort();
    v
}

fn active(m: &Monitor) -> i64 {
    common::gauge_total(m, "rpc_server_active_requests")
}

/// Waits until `check` holds (the server records when its stream ends,
/// a moment after the client has its answer).
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_from_headers_and_trailers_streams_cancels_and_deadlines() {
    let m = Monitor::new();
    let addr = serve(&m).await;
    let mut client = client(addr).await;
    let path = |p: &'static str| PathAndQuery::from_static(p);
    let codec = || ProstCodec::<Msg, Msg>::default();

    // Unary: OK, NOT_FOUND (a caller's mistake), INTERNAL (a server error),
    // both errors answered before any message (trailers-only).
    for (text, want) in [
        ("hi", Code::Ok),
        ("missing", Code::NotFound),
        ("broken", Code::Internal),
    ] {
        client.ready().await.unwrap();
        let got = client
            .unary(
                Request::new(msg(text, 1)),
                path("/tailwatch.test.Echo/Unary"),
                codec(),
            )
            .await;
        assert_eq!(got.map(|_| Code::Ok).unwrap_or_else(|s| s.code()), want);
    }
    eventually("unary calls recorded", || calls(&m, "Unary").len() == 3).await;
    assert_eq!(
        calls(&m, "Unary"),
        sorted(vec![
            (code("0"), 1),
            (code("5"), 1),
            (code_error("13", "INTERNAL"), 1)
        ]),
    );
    // Its labels: the service and method from the path.
    assert!(m.registry().series().iter().any(|(id, _)| {
        id.name() == "rpc_server_duration_seconds"
            && id
                .labels()
                .any(|(k, v)| k == "rpc_service" && v == "tailwatch.test.Echo")
            && id.labels().any(|(k, v)| k == "rpc_system" && v == "grpc")
    }));

    // Server streaming: 3 messages then OK; 2 messages then INTERNAL in
    // the trailers. Timed to the end of the stream (≥ 3 × 20 ms).
    client.ready().await.unwrap();
    let mut ok = client
        .server_streaming(
            Request::new(msg("ok", 3)),
            path("/tailwatch.test.Echo/Count"),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(item) = ok.message().await.unwrap() {
        assert_eq!(item.n, n);
        n += 1;
    }
    assert_eq!(n, 3);
    client.ready().await.unwrap();
    let mut failing = client
        .server_streaming(
            Request::new(msg("fail", 2)),
            path("/tailwatch.test.Echo/Count"),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    assert!(failing.message().await.unwrap().is_some());
    assert!(failing.message().await.unwrap().is_some());
    assert_eq!(failing.message().await.unwrap_err().code(), Code::Internal);
    eventually("streams recorded", || calls(&m, "Count").len() == 2).await;
    assert_eq!(
        calls(&m, "Count"),
        sorted(vec![(code("0"), 1), (code_error("13", "INTERNAL"), 1)])
    );
    let count_min = m
        .all_stats()
        .into_iter()
        .find(|s| s.labels.get("rpc_method").map(String::as_str) == Some("Count"))
        .and_then(|s| s.min)
        .unwrap();
    assert!(
        count_min >= 0.04,
        "timed to the end of the stream: {count_min}"
    );

    // Client streaming: the sum of what the client sent.
    client.ready().await.unwrap();
    let sent = tokio_stream::iter([msg("a", 1), msg("b", 2), msg("c", 4)]);
    let sum = client
        .client_streaming(
            Request::new(sent),
            path("/tailwatch.test.Echo/Sum"),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sum.n, 7);
    eventually("client stream recorded", || {
        calls(&m, "Sum") == vec![(code("0"), 1)]
    })
    .await;

    // The client cancels a stream after its first message.
    client.ready().await.unwrap();
    let mut long = client
        .server_streaming(
            Request::new(msg("long", 1_000)),
            path("/tailwatch.test.Echo/Count"),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    assert!(long.message().await.unwrap().is_some());
    drop(long);
    eventually("cancel recorded", || {
        calls(&m, "Count").contains(&(code_error("1", "cancelled"), 1))
    })
    .await;

    // A deadline the server cannot meet: the caller's `grpc-timeout`
    // (100 ms), which tonic's server enforces. Sent by a bare HTTP/2
    // client: tonic's client enforces the header too, and its reset would
    // race the server's timer (either way is a deadline, but only the
    // server's timer gives a result that does not hang on the scheduler).
    let status = unary_with_timeout(addr, &msg("slow", 1), "100m").await;
    assert_eq!(
        status.as_deref(),
        Some("1"),
        "tonic: CANCELLED, Timeout expired"
    );
    eventually("deadline recorded", || calls(&m, "Unary").len() == 4).await;
    let unary = calls(&m, "Unary");
    assert!(
        unary.contains(&(code_error("4", "DEADLINE_EXCEEDED"), 1)),
        "{unary:?}"
    );

    // Nothing left in flight.
    eventually("in flight back to 0", || active(&m) == 0).await;

    // `/stats` and the window gauges: one entry per method, its codes
    // merged; errors are the server errors (INTERNAL, DEADLINE_EXCEEDED),
    // not NOT_FOUND.
    let unary: Vec<_> = m
        .all_stats()
        .into_iter()
        .filter(|s| s.labels.get("rpc_method").map(String::as_str) == Some("Unary"))
        .collect();
    assert_eq!(unary.len(), 1, "{unary:#?}");
    assert_eq!((unary[0].count, unary[0].errors), (4, 2), "{:#?}", unary[0]);
}

/// Methods a client makes up (the service answers UNIMPLEMENTED) are
/// recorded as `_OTHER` and never admitted to the method cap: after 1,200
/// of them, the real methods still get their own names. Past the cap,
/// every folded call is counted, not only the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_cannot_use_up_the_cap_and_every_folded_call_counts() {
    let m = Monitor::new();
    let addr = serve_with(GrpcMetricsLayer::new(&m).max_methods(2)).await;
    let mut client = client(addr).await;
    let codec = || ProstCodec::<Msg, Msg>::default();
    for i in 0..1_200 {
        client.ready().await.unwrap();
        let path = PathAndQuery::try_from(format!("/s{i}.S/M{i}")).unwrap();
        let got = client
            .unary(Request::new(msg("hi", 1)), path, codec())
            .await;
        assert_eq!(got.unwrap_err().code(), Code::Unimplemented);
    }
    eventually("made-up calls recorded", || {
        calls(&m, "_OTHER") == vec![(code_error("12", "UNIMPLEMENTED"), 1_200)]
    })
    .await;
    // The real methods: their own names (the cap is 2).
    client.ready().await.unwrap();
    let path = PathAndQuery::from_static("/tailwatch.test.Echo/Unary");
    client
        .unary(Request::new(msg("hi", 1)), path, codec())
        .await
        .unwrap();
    client.ready().await.unwrap();
    let sent = tokio_stream::iter([msg("a", 1)]);
    let path = PathAndQuery::from_static("/tailwatch.test.Echo/Sum");
    client
        .client_streaming(Request::new(sent), path, codec())
        .await
        .unwrap();
    eventually("real calls recorded", || {
        calls(&m, "Unary") == vec![(code("0"), 1)] && calls(&m, "Sum") == vec![(code("0"), 1)]
    })
    .await;
    // A third real method is past the cap: folded, and each call counted.
    for _ in 0..3 {
        client.ready().await.unwrap();
        let path = PathAndQuery::from_static("/tailwatch.test.Echo/Count");
        let mut stream = client
            .server_streaming(Request::new(msg("ok", 1)), path, codec())
            .await
            .unwrap()
            .into_inner();
        while stream.message().await.unwrap().is_some() {}
    }
    eventually("folded calls recorded", || {
        calls(&m, "__overflow__") == vec![(code("0"), 3)]
    })
    .await;
    assert_eq!(
        m.registry().overflow_total("rpc_server_duration_seconds"),
        3
    );
    // Bounded: _OTHER, Unary, Sum and the overflow, nothing per made-up path.
    let methods: std::collections::BTreeSet<String> = m
        .registry()
        .series()
        .iter()
        .filter(|(id, _)| id.name() == "rpc_server_duration_seconds")
        .filter_map(|(id, _)| {
            id.labels()
                .find(|(k, _)| *k == "rpc_method")
                .map(|(_, v)| v.to_owned())
        })
        .collect();
    assert_eq!(
        methods.into_iter().collect::<Vec<_>>(),
        ["Sum", "Unary", "_OTHER", "__overflow__"]
    );
    assert_eq!(active(&m), 0);
}

//! The demo's gRPC service, `tailwatch.demo.Inventory` on its own loopback
//! port, measured by `GrpcMetricsLayer`, and the traffic that calls it:
//! * `Reserve` (unary): ~1 ms; 3 % UNAVAILABLE (a server error), 5 %
//!   NOT_FOUND (the caller's mistake, not a server error);
//! * `Stock` (server streaming): three messages 2 ms apart, the last call
//!   in ten failing with INTERNAL in the trailers.
//!
//! Written as tonic's generated code is (the messages with prost's derive),
//! so the demo needs no protoc.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tailwatch::{GrpcMetricsLayer, Monitor};
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tonic::body::Body;
use tonic::server::{Grpc, NamedService};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

use super::random;

/// The one message: an item and a quantity.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Item {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(uint32, tag = "2")]
    quantity: u32,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type ItemStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<Item, Status>> + Send>>;

#[derive(Clone)]
struct Inventory;

impl NamedService for Inventory {
    const NAME: &'static str = "tailwatch.demo.Inventory";
}

async fn reserve(request: Request<Item>) -> Result<Response<Item>, Status> {
    let item = request.into_inner();
    tokio::time::sleep(Duration::from_secs_f64(random::lognormal(1.0, 0.3) / 1e3)).await;
    let roll = random::unit();
    if roll < 0.03 {
        return Err(Status::unavailable("the warehouse is not answering"));
    }
    if roll < 0.08 {
        return Err(Status::not_found("no such item"));
    }
    Ok(Response::new(item))
}

async fn stock(request: Request<Item>) -> Result<Response<ItemStream>, Status> {
    let item = request.into_inner();
    let fail = random::unit() < 0.1;
    let items = tokio_stream::iter(0..3)
        .map(move |i| {
            Ok(Item {
                id: item.id,
                quantity: i,
            })
        })
        .chain(tokio_stream::iter(
            fail.then(|| Err(Status::internal("stock count failed"))),
        ))
        .throttle(Duration::from_millis(2));
    Ok(Response::new(Box::pin(items) as ItemStream))
}

impl tower::Service<http::Request<Body>> for Inventory {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let mut grpc = Grpc::new(ProstCodec::<Item, Item>::default());
        match req.uri().path() {
            "/tailwatch.demo.Inventory/Reserve" => {
                Box::pin(async move { Ok(grpc.unary(tower::service_fn(reserve), req).await) })
            }
            "/tailwatch.demo.Inventory/Stock" => {
                Box::pin(
                    async move { Ok(grpc.server_streaming(tower::service_fn(stock), req).await) },
                )
            }
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// Serves the inventory on a loopback port, measured into `monitor`.
pub(super) async fn serve(monitor: &Monitor) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tonic::transport::Server::builder()
        .layer(GrpcMetricsLayer::new(monitor))
        .add_service(Inventory);
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(server.serve_with_incoming(incoming));
    Ok(addr)
}

/// A request carrying a sampled W3C `traceparent`, as a caller inside a
/// trace sends it: the server's layer keeps it as the call's exemplar.
fn traced(item: Item, k: u64) -> Request<Item> {
    let mut request = Request::new(item);
    let (hi, lo, span) = (random::mix(k), random::mix(!k), random::mix(k ^ 0x5bd1) | 1);
    let header = format!("00-{hi:016x}{lo:016x}-{span:016x}-01");
    if let Ok(value) = header.parse() {
        request.metadata_mut().insert("traceparent", value);
    }
    request
}

/// Calls the inventory `per_second` times a second (one `Stock` in five)
/// until `stopped`.
pub(super) async fn traffic(addr: SocketAddr, per_second: u64, mut stopped: watch::Receiver<bool>) {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://{addr}")) else {
        return;
    };
    let channel = endpoint.connect_lazy();
    let mut client = tonic::client::Grpc::new(channel);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second.max(1) as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let codec = || ProstCodec::<Item, Item>::default();
    for k in 0_u64.. {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        if client.ready().await.is_err() {
            continue;
        }
        let item = Item {
            id: k % 100,
            quantity: 1,
        };
        if k % 5 == 4 {
            let path = http::uri::PathAndQuery::from_static("/tailwatch.demo.Inventory/Stock");
            if let Ok(response) = client
                .server_streaming(Request::new(item), path, codec())
                .await
            {
                let mut stream = response.into_inner();
                while let Ok(Some(_)) = stream.message().await {}
            }
        } else {
            let path = http::uri::PathAndQuery::from_static("/tailwatch.demo.Inventory/Reserve");
            let _ = client.unary(traced(item, k), path, codec()).await;
        }
    }
}

//! `mesh-toolkit report --serve`: the report directory over HTTP on 127.0.0.1, for a
//! browser that will not open `file://` pages, or another machine through an SSH
//! forward. The page needs nothing but itself; this only hands it out.

use std::net::SocketAddr;
use std::path::PathBuf;

use warp::Filter;

/// The report directory served on `127.0.0.1:port` (0: any free port) until
/// `shutdown` resolves. Calls `started` with the address once it listens.
pub async fn serve(
    dir: PathBuf,
    port: u16,
    started: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    started(listener.local_addr()?);
    let routes = warp::get().and(warp::fs::dir(dir));
    warp::serve(routes)
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
    Ok(())
}

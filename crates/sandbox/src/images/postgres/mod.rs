//! The official `postgres` image, run by the PostgreSQL emulation
//! ([`pgemu`]): the sandbox hands it the container's environment, `PGDATA`
//! resolved through the container's mounts (so the data dies with the
//! writable layer and survives on a persistent volume), the log sink and
//! the pod's port 5432.

mod programs;
#[cfg(test)]
mod tests;

pub(crate) use programs::programs;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::{AppContext, EmulatedApp, Stop};
use crate::node::netns::{BindError, NetNamespaces};
use crate::node::podnet::PodNetwork;

/// The emulated postgres server image.
pub(crate) struct Postgres;

impl EmulatedApp for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn run(self: Box<Self>, ctx: AppContext, stop: Stop) -> BoxFuture<'static, i32> {
        Box::pin(run(ctx, stop))
    }
}

async fn run(ctx: AppContext, mut stop: Stop) -> i32 {
    let fs = ctx.fs.clone();
    let cwd = ctx.cwd();
    let resolve = move |path: &str| match fs.resolve(&cwd, path) {
        Ok(r) if r.read_only => Err("Read-only file system".to_string()),
        Ok(r) => Ok(r.host),
        Err(e) => Err(e.to_string()),
    };
    let container = pgemu::Container {
        env: ctx.env.clone(),
        log: ctx.log.clone(),
        resolve: Box::new(resolve),
        listen: Box::new(PodPorts {
            netns: ctx.netns.clone(),
            pod_uid: ctx.pod_uid.clone(),
            container: ctx.container.clone(),
        }),
    };
    // SIGTERM (the container being stopped) is the server's fast shutdown.
    let cancel = CancellationToken::new();
    let server = tokio::spawn(pgemu::run(container, cancel.clone()));
    tokio::pin!(server);
    tokio::select! {
        code = &mut server => return code.unwrap_or(1),
        () = stop.wait() => cancel.cancel(),
    }
    server.await.unwrap_or(1)
}

/// The pod's ports, as the server binds them.
struct PodPorts {
    netns: NetNamespaces,
    pod_uid: String,
    container: String,
}

impl pgemu::Listen for PodPorts {
    fn listen(
        &self,
        port: u16,
    ) -> BoxFuture<'static, Result<pgemu::Listening, pgemu::ListenError>> {
        let (netns, pod, container) = (
            self.netns.clone(),
            self.pod_uid.clone(),
            self.container.clone(),
        );
        Box::pin(async move {
            let mut bound = match netns.bind(&pod, &container, port).await {
                Ok(b) => b,
                Err(BindError::AddrInUse { .. }) => return Err(pgemu::ListenError::AddrInUse),
                Err(e) => return Err(pgemu::ListenError::Other(e.to_string())),
            };
            let listener = bound
                .take_listener()
                .ok_or_else(|| pgemu::ListenError::Other("the port is already taken".into()))?;
            Ok(pgemu::Listening {
                listener,
                guard: Box::new(bound),
            })
        })
    }
}

/// A pod's network, as `psql` and PostgREST dial through it.
impl pgemu::Network for PodNetwork {
    fn local(&self, port: u16) -> pgemu::Dial {
        PodNetwork::local(self, port)
    }

    fn dial(&self, host: &str, port: u16) -> pgemu::Dial {
        PodNetwork::dial(self, host, port)
    }
}

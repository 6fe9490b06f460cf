//! [`RelayServer::serve`]: a relay on a listener of its own, classifying each connection's
//! first message as the gateway's accept loop does (tests and benchmarks; the gateway runs
//! [`RelayServer::handle`] from its accept loop).

use std::sync::Arc;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{RelayServer, SWEEP_EVERY};
use crate::peer::padding::DEFAULT_FRAME_PADDING;
use crate::peer::transport::{self, DEFAULT_PAD_MAX, FirstMessage, Purpose};
use crate::policy::inbound::MSG1_WAIT;
use crate::relay::io::{Control, RelayIoError};
use crate::relay::wire::RelayMessage;

impl RelayServer {
    /// Serves relay connections on `listener` until `shutdown`, as the accept loop of a
    /// gateway does (sealed control under [`ProberKey::relay`] and, for an open relay,
    /// [`ProberKey::open`], answered with `identity`; plain records while plain control is
    /// allowed; anything else is closed unanswered), sweeping expired entries every second.
    /// For tests and benchmarks: the gateway runs [`RelayServer::handle`] from its own
    /// accept loop.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        identity: SigningKey,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        let identity = Arc::new(identity);
        loop {
            let (mut stream, from) = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    self.sweep(Instant::now());
                    continue;
                }
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a relay connection failed");
                        continue;
                    }
                },
            };
            let relay = self.clone();
            let stop = shutdown.clone();
            let identity = identity.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let keys = relay.purpose_keys(&identity.verifying_key());
                let first = tokio::time::timeout(
                    MSG1_WAIT,
                    transport::read_first_message(&mut stream, &keys, false, |_| true),
                )
                .await;
                let control = match first {
                    Ok(Ok(FirstMessage::Relay(body))) if relay.plain_control() => {
                        match RelayMessage::decode(&body) {
                            Ok(first) => Some((Control::plain(stream), first, false)),
                            Err(_) => None,
                        }
                    }
                    Ok(Ok(FirstMessage::V2 {
                        msg1,
                        hour,
                        purpose,
                        key,
                    })) => {
                        let open = purpose == Purpose::OpenRelay;
                        let sealed = async {
                            let keys = transport::respond_v2(
                                &mut stream,
                                &identity,
                                key,
                                &msg1,
                                hour,
                                DEFAULT_PAD_MAX,
                            )
                            .await
                            .map_err(|e| RelayIoError::Handshake(e.to_string()))?;
                            let mut control = Control::sealed(stream, keys, DEFAULT_FRAME_PADDING)?;
                            let first = control.read().await?;
                            Ok::<_, RelayIoError>((control, first, open))
                        };
                        tokio::time::timeout(MSG1_WAIT * 4, sealed)
                            .await
                            .ok()
                            .and_then(Result::ok)
                    }
                    _ => None,
                };
                if let Some((control, first, open)) = control {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = relay.handle(control, from, first, open) => {}
                    }
                }
            });
        }
    }
}

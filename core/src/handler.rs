//! The embedding seam: how an application (or a binding) receives sessions and decides on requests.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::config::SessionConfig;
use crate::deflate::DeflateConfig;
use crate::handshake::HttpResponse;
use crate::request::Request;
pub use crate::session::EventHandler;
use crate::session::Session;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a pull-style handler may fail with: the session closes with 1011 and this message.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

type TaskFn = dyn Fn(Session) -> BoxFuture<Result<(), HandlerError>> + Send + Sync;

/// What runs a session: an async task that pulls messages, or push callbacks.
#[derive(Clone)]
pub enum Handler {
    /// Pull style: the future runs for the session's life; returning closes with 1000,
    /// an error closes with 1011.
    Task(Arc<TaskFn>),
    /// Push style: callbacks receive every event.
    Events(Arc<dyn EventHandler>),
}

impl Handler {
    /// A pull-style handler from an async function of the session.
    pub fn task<F, Fut>(f: F) -> Self
    where
        F: Fn(Session) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        Handler::Task(Arc::new(move |s| Box::pin(f(s))))
    }

    /// A push-style handler.
    pub fn events(h: impl EventHandler) -> Self {
        Handler::Events(Arc::new(h))
    }
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Task(_) => "Handler::Task",
            Handler::Events(_) => "Handler::Events",
        })
    }
}

/// How to open an accepted session; every field defaults to the server's choice.
#[derive(Default)]
pub struct Accept {
    /// The subprotocol to answer with; `None` applies the server's `subprotocols` preference.
    pub subprotocol: Option<String>,
    /// Session settings for this session only.
    pub config: Option<SessionConfig>,
    /// permessage-deflate settings for this session only.
    pub deflate: Option<DeflateConfig>,
    /// The handler for this session, overriding the route's.
    pub handler: Option<Handler>,
    /// Extra headers on the 101 response.
    pub headers: Vec<(String, String)>,
    /// A value stored on the session (`Session::attachment`).
    pub attachment: Option<Arc<dyn Any + Send + Sync>>,
}

impl Accept {
    /// Checks what the hook chose: session and deflate settings in range, 101 headers well formed,
    /// the subprotocol an HTTP token.
    pub fn validate(&self) -> crate::Result<()> {
        if let Some(p) = self.subprotocol.as_deref().filter(|p| !crate::handshake::is_token(p)) {
            return Err(crate::Error::invalid(format!("subprotocol {p:?} is not an HTTP token")));
        }
        if let Some(c) = &self.config {
            c.validate()?;
        }
        if let Some(d) = &self.deflate {
            d.validate()?;
        }
        crate::handshake::check_headers(&self.headers)
    }
}

impl Decision {
    /// Checks the decision (see [`Accept::validate`] and [`HttpResponse::validate`]).
    pub fn validate(&self) -> crate::Result<()> {
        match self {
            Decision::Accept(a) => a.validate(),
            Decision::Respond(r) => r.validate(),
        }
    }
}

/// The accept hook's answer for one request.
pub enum Decision {
    /// Upgrade (if the request is a valid upgrade) with these choices.
    Accept(Accept),
    /// Answer with this HTTP response instead (reject, or serve content such as a page).
    Respond(HttpResponse),
}

/// Sees every request before the upgrade (valid or not) and decides; may be async.
pub type AcceptHook = Arc<dyn Fn(Request) -> BoxFuture<Decision> + Send + Sync>;

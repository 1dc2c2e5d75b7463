//! The log bridge: hands the engine's `tracing` events to the bindings' sinks (a C callback, a Python
//! `logging.Logger`, a Node listener), one per server or one for the process.
//!
//! Rust embedders use `tracing` as usual and never call [`install`]. A binding installs the bridge as
//! the process's subscriber; events at levels no sink wants are disabled at their call site (tracing's
//! cached interest), so they cost a load and a branch and never reach a sink.

use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber, span};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

pub use tracing::Level;

/// One event, with the fields of its spans (server `addr`; session `id`, `peer`, `path`) before its own.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Severity.
    pub level: Level,
    /// The event's message ("handshake refused", "session closed", ...).
    pub message: String,
    /// Field names and values, span fields first.
    pub fields: Vec<(&'static str, String)>,
}

impl LogRecord {
    /// The value of field `name`, if present.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// Receives the records at or above its level; called on runtime threads, must not block for long.
pub type LogSink = Arc<dyn Fn(&LogRecord) + Send + Sync>;

/// A sink and the most verbose level it takes.
#[derive(Clone)]
pub(crate) struct Route {
    level: LevelFilter,
    sink: LogSink,
}

impl Route {
    /// Records at `level` and more severe go to `sink`.
    pub(crate) fn new(level: Level, sink: LogSink) -> Self {
        Self { level: LevelFilter::from_level(level), sink }
    }

    /// The most verbose level it takes.
    pub(crate) fn level(&self) -> LevelFilter {
        self.level
    }
}

/// Whether [`install`] ran: then the process's subscriber is the bridge.
static INSTALLED: OnceLock<bool> = OnceLock::new();
/// The process-wide sink (C's `wss_set_log_callback`): records of servers without their own.
static GLOBAL: Mutex<Option<Route>> = Mutex::new(None);
/// The most verbose level any sink registered so far takes (never lowered: sinks of ended servers
/// may still be attached to live spans).
static MAX: Mutex<LevelFilter> = Mutex::new(LevelFilter::OFF);

/// Installs the bridge as the process's `tracing` subscriber; false when another subscriber was set
/// first (a Rust host's own), which then receives the events instead.
pub fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        let subscriber = Registry::default().with(Bridge);
        tracing::subscriber::set_global_default(subscriber).is_ok()
    })
}

/// Sends the records of every server without its own sink to `sink`, at `level` and more severe;
/// `None` removes it. Installs the bridge; false when another subscriber owns the process.
pub fn set_global_sink(route: Option<(Level, LogSink)>) -> bool {
    let installed = install();
    let route = route.map(|(level, sink)| Route::new(level, sink));
    if let Some(r) = &route {
        raise(r.level);
    }
    *GLOBAL.lock().unwrap() = route;
    installed
}

/// Makes events at `level` reachable (rebuilds the call sites' cached interest when it grows).
pub(crate) fn raise(level: LevelFilter) {
    let mut max = MAX.lock().unwrap();
    if level > *max {
        *max = level;
        drop(max);
        tracing::callsite::rebuild_interest_cache();
    }
}

fn max_level() -> LevelFilter {
    *MAX.lock().unwrap()
}

/// Attaches `route` to `span` (a server's), so the events inside it go to its sink.
pub(crate) fn attach(span: &span::Span, route: Route) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(registry) = dispatch.downcast_ref::<Registry>()
            && let Some(data) = registry.span(id)
        {
            data.extensions_mut().insert(route);
        }
    });
}

/// Span fields, kept in the span's extensions.
#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), value.to_owned()));
    }
}

/// The layer: keeps span fields and routes each event to the sink of its nearest routed span.
struct Bridge;

impl Bridge {
    fn wanted(meta: &Metadata<'_>) -> bool {
        let max = max_level();
        max != LevelFilter::OFF && (meta.is_span() || *meta.level() <= max)
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Bridge {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if Self::wanted(meta) { Interest::always() } else { Interest::never() }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        Self::wanted(meta)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        let mut fields = Fields::default();
        let mut route = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(f) = ext.get::<Fields>() {
                    fields.0.extend(f.0.iter().cloned());
                }
                if let Some(r) = ext.get::<Route>() {
                    route = Some(r.clone());
                }
            }
        }
        let Some(route) = route.or_else(|| GLOBAL.lock().unwrap().clone()) else { return };
        if LevelFilter::from_level(level) > route.level {
            return;
        }
        let mut own = Fields::default();
        event.record(&mut own);
        let mut message = String::new();
        for (name, value) in own.0 {
            if name == "message" {
                message = value;
            } else {
                fields.0.push((name, value));
            }
        }
        (route.sink)(&LogRecord { level, message, fields: fields.0 });
    }
}

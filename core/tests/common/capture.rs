//! A `tracing-subscriber` layer that records every event with the fields of its spans, installed once
//! as the global subscriber (the engine's events come from runtime threads), and waits for records.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use tokio::sync::watch;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber, span};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

/// One event: its level, message, and fields (its own over those of its spans).
#[derive(Debug, Clone)]
pub struct Record {
    pub level: Level,
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

impl Record {
    /// The field `name`, or "" when absent.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

#[derive(Default, Clone)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

struct Capture(watch::Sender<Vec<Record>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        ctx.span(id).expect("a new span exists").extensions_mut().insert(fields);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<Fields>() {
                    fields.0.extend(f.0.clone());
                }
            }
        }
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        let record = Record { level: *event.metadata().level(), message, fields: fields.0 };
        self.0.send_modify(|v| v.push(record));
    }
}

static RECORDS: OnceLock<watch::Sender<Vec<Record>>> = OnceLock::new();

/// Installs the capturing subscriber (at every level) once for this test binary.
pub fn records() -> &'static watch::Sender<Vec<Record>> {
    RECORDS.get_or_init(|| {
        let tx = watch::channel(vec![]).0;
        let subscriber = Registry::default().with(Capture(tx.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        tx
    })
}

/// Waits (bounded) for a record matching `pred` and returns it.
pub async fn wait_record(pred: impl Fn(&Record) -> bool) -> Record {
    let mut rx = records().subscribe();
    let seen = crate::common::within(rx.wait_for(|v| v.iter().any(&pred))).await.expect("the sender lives");
    seen.iter().find(|r| pred(r)).cloned().expect("matched above")
}

/// Every record so far matching `pred`.
pub fn all_records(pred: impl Fn(&Record) -> bool) -> Vec<Record> {
    records().borrow().iter().filter(|r| pred(r)).cloned().collect()
}

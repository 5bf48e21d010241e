//! The request id is a field of the request's tracing span. In its own test binary: tracing's
//! callsite interest is process-wide, and tests running beside it without a subscriber could
//! register the span's callsite as uninteresting first.

mod support;

use axum::body::Body;
use axum::http::Request;
use std::sync::{Arc, Mutex};
use support::env;
use xt_mobile_api::REQUEST_ID_HEADER;

/// Records the `request_id` field of every `http` span.
#[derive(Clone, Default)]
struct SpanIds(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanIds {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Visit<'a>(&'a Mutex<Vec<String>>);
        impl tracing::field::Visit for Visit<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "request_id" {
                    self.0.lock().unwrap().push(format!("{value:?}"));
                }
            }
        }
        if attrs.metadata().name() == "http" {
            attrs.record(&mut Visit(&self.0));
        }
    }
}

#[tokio::test]
async fn the_request_id_is_in_the_request_span() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let env = env();
    let ids = SpanIds::default();
    let subscriber = tracing_subscriber::registry().with(ids.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let r = env
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    let made = r.headers[REQUEST_ID_HEADER].to_str().unwrap().to_owned();
    env.send(
        Request::get("/healthz")
            .header(REQUEST_ID_HEADER, "given-1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(*ids.0.lock().unwrap(), vec![made, "given-1".to_owned()]);
}

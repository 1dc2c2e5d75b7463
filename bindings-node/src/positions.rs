//! Positions and recovery for JS (a Redis history): the promise-returning `publishPositioned` of
//! servers and sessions, and `subscribeFrom`.

use napi::Env;
use napi::bindgen_prelude::{Either, Object, ToNapiValue, Uint8Array};
use napi_derive::napi;

use crate::error::{invalid, to_js};

/// A message's place in its topic's history (lib/position.js wraps it in the `Position` class).
#[napi(object)]
pub struct NativePosition {
    /// 1 for the first message of the epoch, one more for each publish after it.
    pub offset: f64,
    /// Names the history the offset counts in; changes when the history is lost.
    pub epoch: String,
}

impl From<wssession_core::Position> for NativePosition {
    fn from(p: wssession_core::Position) -> Self {
        // Offsets count publishes: far below 2^53.
        NativePosition { offset: p.offset as f64, epoch: p.epoch }
    }
}

/// The promise of `publishPositioned` on a server or a session: `publish` gets the payload, copied
/// once for the task that waits for the broker, and the type and compression of `flags` (as
/// `publish`'s); the promise resolves with the message's position.
pub(crate) fn publish_positioned<'env, F, Fut>(
    env: &'env Env,
    data: Either<String, Uint8Array>,
    flags: u32,
    publish: F,
) -> napi::Result<Object<'env>>
where
    F: FnOnce(Vec<u8>, bool, Option<bool>) -> Fut,
    Fut: std::future::Future<Output = wssession_core::Result<wssession_core::Position>> + Send + 'static,
{
    let data = match data {
        Either::A(s) => s.into_bytes(),
        Either::B(b) => b.to_vec(),
    };
    let placed = publish(data, !crate::hub::is_binary(flags), crate::hub::compress_of(flags));
    promise(env, async move { placed.await.map(NativePosition::from) })
}

/// A promise settled by `fut`: its value, or the core error as a coded JS error.
pub(crate) fn promise<'env, T, F>(env: &'env Env, fut: F) -> napi::Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    F: std::future::Future<Output = wssession_core::Result<T>> + Send + 'static,
{
    let (deferred, promise) =
        env.create_deferred::<T, _>().map_err(|e| invalid(format!("cannot create a promise: {e}")))?;
    wssession_core::runtime::spawn(async move {
        match fut.await {
            Ok(v) => deferred.resolve(move |_| Ok(v)),
            Err(e) => deferred.reject(to_js(e)),
        }
    });
    Ok(promise)
}

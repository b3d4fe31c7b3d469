//! `squall-sdk`: write Squall packs in Rust as plain functions.
//!
//! An action is a function from serde-typed parameters and a [`Context`] to a
//! serialisable output; a sensor is a function from its config and the last
//! cursor to a [`Poll`]. One [`export_pack!`] names them all:
//!
//! ```no_run
//! use serde::Deserialize;
//! use squall_sdk::{Context, Result};
//!
//! #[derive(Deserialize)]
//! struct Greet { name: String }
//!
//! fn greet(params: Greet, _ctx: &Context) -> Result<String> {
//!     squall_sdk::log::info(&format!("greeting {}", params.name));
//!     Ok(format!("hello, {}", params.name))
//! }
//!
//! squall_sdk::export_pack! {
//!     actions: { "greet" => greet },
//! }
//! ```
//!
//! The WIT bindings the macro builds on are generated inside this crate and
//! are not part of its API.
#![deny(missing_docs)]

mod error;
mod host;
pub mod http;
mod sensor;

#[doc(hidden)]
pub mod __private;

pub use error::{Error, Result};
pub use host::{config, exec, kv, log, secrets};
pub use sensor::{Event, Poll, WebhookRequest, WebhookResponse, WebhookResult};

/// Re-exported so that packs use the same serde the SDK does.
pub use serde;
/// Re-exported so that packs use the same serde_json the SDK does.
pub use serde_json;

/// Who is running an action and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Stable id of this execution. An action may run more than once after a
    /// host crash; use the id as an idempotency key for side effects.
    pub execution_id: String,
    /// Name of the pack the action belongs to.
    pub pack: String,
    /// Which attempt this is, starting at 1.
    pub attempt: u32,
}

#[doc(hidden)]
#[allow(missing_docs, missing_debug_implementations, unsafe_code, clippy::all)]
pub mod __bindings {
    wit_bindgen::generate!({
        world: "pack",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_pack_world",
        default_bindings_module: "squall_sdk::__bindings",
        generate_all,
    });
}

/// Exports the named actions, sensors and webhook handlers of a pack.
///
/// Every section is optional but they come in this order. Names are the ones
/// the pack manifest declares; a call naming anything else is answered with
/// [`Error::InvalidInput`].
///
/// - `actions`: `fn(P, &Context) -> Result<O>` with `P: Deserialize` (the
///   parameters object) and `O: Serialize` (the output).
/// - `sensors`: `fn(C, Option<String>) -> Result<Poll>` with `C: Deserialize`
///   (the sensor's config) and the last committed cursor.
/// - `webhooks`: `fn(WebhookRequest) -> Result<WebhookResult>`.
#[macro_export]
macro_rules! export_pack {
    (
        $(actions: { $($action:literal => $action_fn:expr),* $(,)? } $(,)?)?
        $(sensors: { $($sensor:literal => $sensor_fn:expr),* $(,)? } $(,)?)?
        $(webhooks: { $($hook:literal => $hook_fn:expr),* $(,)? } $(,)?)?
    ) => {
        #[doc(hidden)]
        struct __SquallPack;

        impl $crate::__private::ActionGuest for __SquallPack {
            fn run(
                name: ::std::string::String,
                params: ::std::string::String,
                context: $crate::__private::WitContext,
            ) -> ::std::result::Result<::std::string::String, $crate::__private::WitError> {
                let context = $crate::__private::context(context);
                let outcome = match name.as_str() {
                    $($($action => $crate::__private::run_action($action_fn, &params, &context),)*)?
                    _ => ::std::result::Result::Err($crate::__private::unknown("action", &name)),
                };
                outcome.map_err(::std::convert::Into::into)
            }
        }

        impl $crate::__private::SensorGuest for __SquallPack {
            fn poll(
                name: ::std::string::String,
                config: ::std::string::String,
                cursor: ::std::option::Option<::std::string::String>,
            ) -> ::std::result::Result<$crate::__private::WitPollResult, $crate::__private::WitError> {
                let outcome = match name.as_str() {
                    $($($sensor => $crate::__private::run_poll($sensor_fn, &config, cursor),)*)?
                    _ => ::std::result::Result::Err($crate::__private::unknown("sensor", &name)),
                };
                outcome.map_err(::std::convert::Into::into)
            }

            fn on_webhook(
                name: ::std::string::String,
                request: $crate::__private::WitWebhookRequest,
            ) -> ::std::result::Result<$crate::__private::WitWebhookResult, $crate::__private::WitError> {
                let outcome = match name.as_str() {
                    $($($hook => $crate::__private::run_webhook($hook_fn, request),)*)?
                    _ => ::std::result::Result::Err($crate::__private::unknown("webhook sensor", &name)),
                };
                outcome.map_err(::std::convert::Into::into)
            }
        }

        $crate::__bindings::__export_pack_world!(__SquallPack with_types_in $crate::__bindings);
    };
}
